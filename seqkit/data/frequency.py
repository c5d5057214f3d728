"""A series' frequency (hourly ... yearly): inferred from its timestamps or named (``data.freq``), the defaults
that follow from it (season, calendar features, window), missing timestamps (gaps) and empty cells, filled by a
chosen rule (``data.fill``) or refused with the dates named.

Plain Python / torch; a fill reads only the rows either side of a hole (``linear``) or before it (``previous``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Dict, List, Optional, Tuple

import torch

from seqkit.data.errors import DataError
from seqkit.data.timeseries import Series, format_time, future_times, infer_step


@dataclass(frozen=True)
class Frequency:
    """A named step between rows and what follows from it for a user's series: the seasonal-naive period
    (``season``, None: no seasonal baseline), the calendar features, and the window (input_length -> horizon)."""

    step: Tuple[Tuple[str, int], ...]
    season: Optional[int]
    calendar: Tuple[str, ...]
    input_length: int
    horizon: int


FREQUENCIES: Dict[str, Frequency] = {
    "hourly": Frequency((("seconds", 3600),), 24, ("hour", "weekday"), 96, 24),
    "daily": Frequency((("seconds", 86400),), 7, ("weekday",), 28, 14),
    "weekly": Frequency((("seconds", 7 * 86400),), 52, ("month",), 52, 8),
    "monthly": Frequency((("months", 1),), 12, ("month",), 36, 12),
    "quarterly": Frequency((("months", 3),), 4, ("month",), 16, 4),
    "yearly": Frequency((("months", 12),), None, (), 10, 3),
}
FILLS = ("none", "previous", "linear", "zero")
NO_TIMESTAMPS = Frequency((), None, (), 24, 12)  # rows numbered: no season, no calendar


def frequency_name(step: Dict[str, int]) -> Optional[str]:
    """The name of ``step`` (from ``infer_step``) in ``FREQUENCIES``, or None."""
    for name, freq in FREQUENCIES.items():
        if dict(freq.step) == step:
            return name
    return None


def resolve_frequency(
    times: Optional[List[datetime]], freq: Optional[str], source: str
) -> Tuple[Optional[str], Dict[str, int]]:
    """-> (frequency name or None, step): ``freq`` when given (checked against ``FREQUENCIES``), else inferred
    from the most common gap between the timestamps (a step outside the named ones is kept, without a name)."""
    if freq is not None:
        if freq not in FREQUENCIES:
            raise ValueError(f"data.freq must be one of {list(FREQUENCIES)} (or null: inferred), got {freq!r}")
        if times is None:
            raise ValueError("data.freq needs timestamps: set data.time_column")
        return freq, dict(FREQUENCIES[freq].step)
    step = infer_step(times)
    if times is not None and len(times) >= 2 and not step:
        raise DataError(source, None, f"cannot infer the frequency: set data.freq to one of {list(FREQUENCIES)}")
    return frequency_name(step), step


def _steps_between(a: datetime, b: datetime, step: Dict[str, int]) -> Optional[int]:
    """How many steps from a to b (None: b is not on a's grid)."""
    if "months" in step:
        months = (b.year - a.year) * 12 + b.month - a.month
        k, rest = divmod(months, step["months"])
        return k if not rest and k > 0 and future_times(a, step, k)[-1] == b else None
    k, rest = divmod(int((b - a).total_seconds()), step["seconds"])
    return k if not rest and k > 0 else None


def fill_gaps(series: Series, step: Dict[str, int], fill: str) -> Tuple[Series, int, int]:
    """Missing timestamps and empty cells (NaN from ``read_series(allow_empty=True)``) -> (the series on a
    regular grid with both filled by ``fill``, how many rows were inserted, how many empty cells were filled).

    fill: "none" (refuse, naming the missing dates and the first empty cell's line), "previous" (the last value before), "linear" (between the values
    either side), "zero". A timestamp off the grid, or a hole ``previous``/``linear`` cannot fill (at the
    start, or at the end for linear), stops with the file line.
    """
    if fill not in FILLS:
        raise ValueError(f"data.fill must be one of {list(FILLS)}, got {fill!r}")
    src, times = series.source, series.times
    rows: List[torch.Tensor] = []
    new_times: List[datetime] = []
    lines: List[int] = []
    gaps: List[str] = []
    inserted = 0
    for i in range(len(series)):
        if times is not None and i:
            k = _steps_between(times[i - 1], times[i], step) if step else 1
            if k is None:
                raise DataError(
                    src,
                    series.lines[i],
                    f"timestamp {format_time(times[i], series.time_format)} is not a whole number of steps "
                    f"({step}) after the previous row's: set data.freq to the series' frequency",
                )
            if k > 1:
                missing = future_times(times[i - 1], step, k - 1)
                gaps.append(
                    f"{format_time(missing[0], series.time_format)}"
                    + (f"..{format_time(missing[-1], series.time_format)}" if k > 2 else "")
                )
                rows += [torch.full((series.values.size(1),), float("nan"), dtype=series.values.dtype)] * (k - 1)
                new_times += missing
                lines += [series.lines[i]] * (k - 1)
                inserted += k - 1
        rows.append(series.values[i])
        lines.append(series.lines[i])
        if times is not None:
            new_times.append(times[i])
    holes = torch.isnan(series.values)
    empty = int(holes.sum())
    if (gaps or empty) and fill == "none":
        what = []
        if gaps:
            shown = ", ".join(gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
            what.append(f"{inserted} missing timestamp(s) ({shown})")
        line = None
        if empty:
            row, col = holes.nonzero()[0].tolist()
            line = series.lines[row]
            what.append(f"{empty} empty cell(s) (the first here, column {series.columns[col]!r})")
        raise DataError(
            src, line, f"{' and '.join(what)}: fill them with data.fill=linear (or previous, zero), or give every value"
        )
    values = torch.stack(rows)
    holes = torch.isnan(values)
    if holes.any():
        values = _fill(values, holes, fill, src, lines, series.columns)
    return replace(series, values=values, times=new_times if times is not None else None, lines=lines), inserted, empty


def _fill(
    values: torch.Tensor, holes: torch.Tensor, fill: str, source: str, lines: List[int], columns: List[str]
) -> torch.Tensor:
    if fill == "zero":
        return torch.where(holes, torch.zeros_like(values), values)
    out = values.clone()
    for c in range(values.size(1)):
        known = (~holes[:, c]).nonzero().flatten().tolist()
        for r in holes[:, c].nonzero().flatten().tolist():
            before = [k for k in known if k < r]
            after = [k for k in known if k > r]
            if not before or (fill == "linear" and not after):
                edge = "first" if not before else "last"
                raise DataError(
                    source,
                    lines[r],
                    f"column {columns[c]!r}: no value to fill from (the {edge} row is empty); data.fill={fill} "
                    f"needs a value {'before' if not before else 'after'} it: use data.fill=zero or remove the row",
                )
            a = before[-1]
            if fill == "previous":
                out[r, c] = values[a, c]
            else:
                b = after[0]
                out[r, c] = values[a, c] + (values[b, c] - values[a, c]) * (r - a) / (b - a)
    return out
