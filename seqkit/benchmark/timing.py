"""What every benchmark measures with: threads and quiet logging, clocks and rates, alternating rounds, ratios
of medians, and the printed tables. No model or data here."""

from __future__ import annotations

import logging
import os
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch


def set_threads(threads: int) -> Dict[str, Any]:
    """Pin torch's intra-op (and, if still possible, inter-op) thread count; -> what is in effect."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before any inter-op work has started
        pass
    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def threads_line(threads: Dict[str, Any]) -> str:
    """``torch threads: 1 (inter-op 1, OMP_NUM_THREADS=1)``: what each benchmark prints of ``set_threads``."""
    return (
        f"torch threads: {threads['threads']} (inter-op {threads['interop_threads']}, "
        f"OMP_NUM_THREADS={threads['OMP_NUM_THREADS'] or 'unset'})"
    )


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def quiet_lightning() -> None:
    """Keep stdout to our table: Lightning's info lines and the warnings a bare benchmark Trainer raises (call it
    after importing pytorch_lightning, which sets its logger's level to INFO)."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (
        ".*does not have many workers.*",
        ".*val_dataloader.*",
        ".*validation_step.*",
        ".*GPU available but not used.*",
        ".*smaller than the logging interval.*",
        ".*LeafSpec.*",
        ".*batch_size.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


@dataclass
class Rate:
    """Units a second by wall clock and by this process's CPU time. With one thread, CPU time leaves out the time
    the process waited for a core, so on a shared machine it is the steadier of the two."""

    wall: float
    cpu: float


class Clock:
    """``with Clock() as c: ...`` then ``c.wall``, ``c.cpu`` (seconds); ``c.rate(units)`` -> Rate."""

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

    def rate(self, units: int) -> Rate:
        return Rate(units / self.wall, units / self.cpu)

    @classmethod
    def zero(cls) -> "Clock":
        """A clock to add intervals to (``wall`` and ``cpu`` 0)."""
        clock = cls()
        clock.wall = clock.cpu = 0.0
        return clock


def alternate(runs: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, List[Any]]:
    """Call each measurement once a round, reversing the order every other round (drift hits both alike)."""
    results: Dict[str, List[Any]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(runs[name]())
    return results


def compare(a: Sequence[Rate], b: Sequence[Rate]) -> Dict[str, float]:
    """Median of a over median of b, by wall clock and by CPU time."""
    return {
        "wall": ratio(median([r.wall for r in a]), median([r.wall for r in b])),
        "cpu": ratio(median([r.cpu for r in a]), median([r.cpu for r in b])),
    }


def summary_of(rates: Sequence[Rate], unit: str = "tokens") -> Dict[str, Any]:
    """For the JSON line: median <unit>/s (wall, CPU) and every round's wall figure."""
    return {
        f"{unit}_per_s": median([r.wall for r in rates]),
        f"cpu_{unit}_per_s": median([r.cpu for r in rates]),
        f"rounds_{unit}_per_s": [round(r.wall, 1) for r in rates],
    }


def inference_figure(what: str, rates: Sequence[Rate], unit: str) -> Dict[str, Any]:
    """Every section's inference throughput under one key (``figures["inference"]``)."""
    return {
        "what": what,
        "unit": unit,
        f"{unit}_per_s": median([r.wall for r in rates]),
        f"cpu_{unit}_per_s": median([r.cpu for r in rates]),
    }


class Table:
    """Rows of (label, median units/s by wall clock, by CPU time, each round's) and ratio rows."""

    def __init__(self, title: str, unit: str = "tokens/s"):
        self.title = title
        self.lines = [f"  {'':<40} {unit:>11}         {'by CPU time':>11}   rounds (wall)"]

    def rate(self, label: str, rates: Sequence[Rate], note: str = "") -> None:
        rounds = " ".join(f"{r.wall:,.0f}" for r in rates)
        self.lines.append(
            f"  {label:<40} {median([r.wall for r in rates]):>11,.0f}         "
            f"{median([r.cpu for r in rates]):>11,.0f}   [{rounds}]{('  ' + note) if note else ''}"
        )

    def ratio(self, label: str, value: Dict[str, float], target: Optional[float] = None) -> None:
        goal = ""
        if target is not None:
            goal = f"   target >= {target:g}: {'met' if value['wall'] >= target else 'NOT met'}"
        self.lines.append(f"  {label:<40} {value['wall']:>11.3f}x        {value['cpu']:>11.3f}x{goal}")

    def text(self, line: str = "") -> None:
        self.lines.append(f"  {line}" if line else "")

    def print(self) -> None:
        print(f"-- {self.title} " + "-" * max(0, 76 - len(self.title)))
        for line in self.lines:
            print(line)
        sys.stdout.flush()
