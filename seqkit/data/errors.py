"""The one error type every seqkit reader raises, so a user sees `file:line: reason` and no traceback."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union


class DataError(ValueError):
    """Bad input data: names the file, the 1-based line number (when there is one) and what is wrong.

    >>> str(DataError("train.tsv", 12, "no label after the tab"))
    'train.tsv:12: no label after the tab'
    """

    def __init__(self, path: Union[str, Path, None], line: Optional[int], reason: str):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = reason
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")
