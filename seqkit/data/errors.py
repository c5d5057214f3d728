"""The one error type every seqkit reader raises, so a user sees `file:line: reason` and no traceback."""

from __future__ import annotations

import math
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


def finite_number(text: str, path: Union[str, Path, None], line: Optional[int], what: str) -> float:
    """``float(text)``, or a DataError at ``path:line`` naming ``what`` (a column, a value's position) when the
    text is not a number or not finite: the one number parser of every reader."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, line, f"{what}: {text[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(path, line, f"{what}: {text!r} is not a finite number")
    return value
