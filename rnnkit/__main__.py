"""``python -m rnnkit``: the ``rnnkit`` command (what ``--nproc`` runs under torchrun)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
