"""A long-running process's memory (the server's): glibc's allocator settings, a trim now and then, a frozen start-up.

Prediction allocates tensors of a new shape for every batch (its lengths differ). glibc serves a block of at least
``M_MMAP_THRESHOLD`` bytes with mmap and unmaps it when freed, but the threshold is *dynamic*: each time such a
block is freed glibc raises it to that block's size, so later large tensors come from the heap, whose pages stay
fragmented after they are freed; a thread arena of its own for each thread that allocates adds more. A tagger's
server grew from 0.62 GB to 0.90 GB over 100,000 requests without a byte in use growing. ``steady_heap`` fixes
the threshold (which turns the dynamic adjustment off) and caps the arenas (``mallopt``); ``malloc_trim(0)``, every
few dozen model calls, hands free heap pages back. Elsewhere (macOS, musl) neither exists and nothing is done.

Python's own collector is the other cost of a long run: its full collections walk every tracked object, and the
model, its vocabulary and the libraries are most of them, alive for the whole run. ``freeze_startup`` moves them out
of its sight once they are loaded (``gc.freeze``), so a collection walks what requests made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Callable, Dict, Optional

TRIM_EVERY = 50  # model calls between two trims
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)


def glibc_function(name: str) -> Optional[Callable[..., int]]:
    """glibc's function ``name`` (``malloc_trim``, ``mallopt``), or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, name, None)


def malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    return glibc_function("malloc_trim")


def steady_heap(
    mmap_threshold_kb: int, arena_max: int, mallopt: Optional[Callable[[int, int], int]] = None
) -> Dict[str, int]:
    """Set glibc's allocator for a long-running process, before it allocates much: blocks of ``mmap_threshold_kb``
    KiB and more are mmapped (and unmapped when freed) at that fixed threshold, and at most ``arena_max`` arenas
    are used; 0 leaves a setting at glibc's default. ``mallopt``: glibc's by default.
    -> the settings made (none where the C library has no ``mallopt``)."""
    mallopt = mallopt if mallopt is not None else glibc_function("mallopt")
    wanted = {
        "heap_mmap_threshold_kb": (M_MMAP_THRESHOLD, mmap_threshold_kb, 1024),
        "heap_arena_max": (M_ARENA_MAX, arena_max, 1),
    }
    done: Dict[str, int] = {}
    for name, (param, value, unit) in wanted.items():
        if mallopt is not None and value:
            if mallopt(param, value * unit) != 1:
                raise ValueError(f"{name}={value}: glibc's mallopt refused it")
            done[name] = value
    return done


class HeapTrimmer:
    """Call after each model call: every ``every``-th call trims the heap (``trim``: ``malloc_trim`` by default)."""

    def __init__(self, every: int = TRIM_EVERY, trim: Optional[Callable[[int], int]] = None):
        self.every, self.calls = int(every), 0
        self.trim = trim if trim is not None else malloc_trim()

    def __call__(self) -> None:
        self.calls += 1
        if self.trim is not None and self.calls % self.every == 0:
            self.trim(0)


def freeze_startup() -> int:
    """Collect, then freeze what is alive (``gc.freeze``): the garbage collector leaves it out of every later
    collection. Call once, after the model is loaded. -> the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
