"""Tasks built on the library: each is one module, easy to copy into a new one."""
