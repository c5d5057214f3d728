"""``python -m seqkit <command> ...``: the ``seqkit`` command (seqkit.app.command)."""

import sys

from seqkit.app.command import main

if __name__ == "__main__":
    sys.exit(main())
