"""The allocator setting: large freed buffers come from the heap and stay there, so reusing them costs
no page faults. What that saves in faults and time depends on the machine and its load, so it is
measured in ``benchmarks/allocator.py``; the tests check the switch and glibc's bookkeeping, which do not."""

import ctypes
import ctypes.util
import json
import os
import platform
import subprocess
import sys

import pytest

from rnnkit import runtime

GLIBC = platform.libc_ver()[0] == "glibc"
glibc_only = pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
mallinfo2_only = pytest.mark.skipif(
    not (GLIBC and hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")),
    reason="mallinfo2 is glibc's, 2.33 and later",
)

# In a fresh process: tune (or not), then malloc and free one 64 MiB buffer, reading glibc's counters
# (mallinfo2: arena = bytes taken from the heap by brk, hblkhd = bytes in mmap-ed chunks) around it.
_HEAP = """
import ctypes, ctypes.util, json
import rnnkit
from rnnkit import runtime

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = rnnkit.tune_allocator()
before = libc.mallinfo2()
buffer = libc.malloc(64 << 20)
during = libc.mallinfo2()
libc.free(buffer)
after = libc.mallinfo2()
print(json.dumps({
    "tuned": tuned, "again": rnnkit.tune_allocator(), "reported": runtime.allocator_tuned(),
    "mmapped": during.hblkhd - before.hblkhd, "mmapped_after_free": after.hblkhd - before.hblkhd,
    "heap": during.arena - before.arena, "heap_after_free": after.arena - before.arena,
}))
"""

MiB = 1 << 20


def _heap(*settings: str | None) -> list[dict]:
    """Run ``_HEAP`` once per setting of RNNKIT_TUNE_ALLOCATOR (None: unset), the processes side by side."""
    processes = []
    for setting in settings:
        env = {k: v for k, v in os.environ.items() if k != "RNNKIT_TUNE_ALLOCATOR"}
        if setting is not None:
            env["RNNKIT_TUNE_ALLOCATOR"] = setting
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", _HEAP],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for process in processes:
        out, err = process.communicate()
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


@mallinfo2_only
def test_tuned_process_serves_a_large_buffer_from_the_heap_and_keeps_it():
    tuned, default = _heap(None, "0")
    assert tuned["tuned"] is tuned["again"] is tuned["reported"] is True
    assert tuned["mmapped"] == 0  # below the 1 GiB mmap threshold: no mmap of its own
    assert tuned["heap"] > 32 * MiB  # the heap grew for it (less than 64 MiB if free space was on top)
    assert tuned["heap_after_free"] == tuned["heap"]  # below the 1 GiB trim threshold: not given back
    assert default["tuned"] is default["again"] is default["reported"] is False
    assert default["mmapped"] >= 64 * MiB  # glibc's dynamic mmap threshold stops at 32 MiB
    assert default["mmapped_after_free"] == 0 and default["heap"] == 0  # munmap-ed at free: faults next time


def test_the_first_call_decides(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)
    assert runtime.allocator_tuned() is False  # not tried yet
    monkeypatch.setenv("RNNKIT_TUNE_ALLOCATOR", "0")
    assert runtime.tune_allocator() is False
    assert runtime.allocator_tuned() is False
    monkeypatch.delenv("RNNKIT_TUNE_ALLOCATOR")
    assert runtime.tune_allocator() is False  # idempotent: the environment is read once


@glibc_only
def test_tune_is_idempotent(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)
    monkeypatch.delenv("RNNKIT_TUNE_ALLOCATOR", raising=False)
    assert runtime.tune_allocator() is True
    monkeypatch.setenv("RNNKIT_TUNE_ALLOCATOR", "0")  # too late to turn it off
    assert runtime.tune_allocator() is True
    assert runtime.allocator_tuned() is True


def test_elsewhere_than_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)
    monkeypatch.delenv("RNNKIT_TUNE_ALLOCATOR", raising=False)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))  # macOS, Windows, musl
    assert runtime.tune_allocator() is False
    assert runtime.allocator_tuned() is False
