"""Hand freed heap memory back to the operating system now and then, for a long-running process (the server).

Prediction allocates tensors of a new shape for every batch (its lengths differ), and glibc's allocator keeps
what they freed in fragmented heap pages: a tagger's server grew from 0.62 GB to 0.90 GB over 100,000 requests
without a byte in use growing. ``malloc_trim(0)`` returns those free pages; once every few dozen batches it
costs nothing measurable. Elsewhere (macOS, musl) there is no ``malloc_trim`` and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable, Optional

TRIM_EVERY = 50  # model calls between two trims


def malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


class HeapTrimmer:
    """Call after each model call: every ``every``-th call trims the heap (``trim``: ``malloc_trim`` by default)."""

    def __init__(self, every: int = TRIM_EVERY, trim: Optional[Callable[[int], int]] = None):
        self.every, self.calls = int(every), 0
        self.trim = trim if trim is not None else malloc_trim()

    def __call__(self) -> None:
        self.calls += 1
        if self.trim is not None and self.calls % self.every == 0:
            self.trim(0)
