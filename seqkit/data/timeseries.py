"""Time series from CSV files: the reader (errors name file:line and column), timestamps and their step,
calendar features, the scaler, chronological splits and sliding windows.

Everything here is plain Python / torch and has one rule: nothing is ever fitted or chosen on rows after the
training split, and a window's input never reads a row after its forecast origin.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from seqkit.data.errors import DataError, finite_number

# (strptime format, name) tried in order; the first row's format is the file's, and predictions use it too
TIME_FORMATS: Tuple[Tuple[str, str], ...] = (
    ("%Y-%m-%d %H:%M:%S", "datetime"),
    ("%Y-%m-%dT%H:%M:%S", "datetime_t"),
    ("%Y-%m-%d %H:%M", "minutes"),
    ("%Y-%m-%d", "date"),
    ("%Y-%m", "month"),
)
_FORMAT_OF = dict((name, fmt) for fmt, name in TIME_FORMATS)

# calendar feature -> (value of a timestamp, number of values); encoded as value / (count - 1) - 0.5
CALENDAR: Dict[str, Tuple[Any, int]] = {
    "hour": (lambda t: t.hour, 24),
    "weekday": (lambda t: t.weekday(), 7),
    "day": (lambda t: t.day - 1, 31),
    "month": (lambda t: t.month - 1, 12),
    "dayofyear": (lambda t: t.timetuple().tm_yday - 1, 366),
}


@dataclass
class Series:
    """A CSV's value columns as rows. values [N, C] float64; times: one datetime a row (None without a time
    column); lines: the file line of each row (for errors after reading)."""

    source: str
    columns: List[str]
    values: Tensor
    times: Optional[List[datetime]]
    time_format: Optional[str]
    lines: List[int]

    def __len__(self) -> int:
        return self.values.size(0)


def _parse_time(text: str) -> Tuple[Optional[datetime], Optional[str]]:
    for fmt, name in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt), name
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text), "iso"
    except ValueError:
        return None, None


def _parse_with(text: str, date_format: str) -> Tuple[Optional[datetime], Optional[str]]:
    try:
        return datetime.strptime(text, date_format), date_format
    except ValueError:
        return None, None


def format_time(t: datetime, time_format: Optional[str]) -> str:
    """A timestamp written as the input file wrote them (``time_format``: a name of ``TIME_FORMATS``, a
    ``data.date_format`` strptime format, or "iso")."""
    if time_format in _FORMAT_OF:
        return t.strftime(_FORMAT_OF[time_format])
    if time_format and "%" in time_format:
        return t.strftime(time_format)
    return t.isoformat()


def _id_columns(names: List[str], before: List[str], now: List[str], skip: Sequence[str]) -> List[str]:
    """Columns (not numbers, not ``skip``) whose value changes between two rows: a series id in a long file."""
    out = []
    for j, name in enumerate(names):
        if name in skip or before[j].strip() == now[j].strip():
            continue
        try:
            float(now[j])
        except ValueError:
            out.append(name)
    return out


def csv_fields(text: str, source: str, number: int) -> List[str]:
    """The fields of one CSV line; the csv module's complaints (a field over its size limit) as a DataError."""
    try:
        return next(csv.reader([text]))
    except csv.Error as e:
        raise DataError(source, number, f"cannot read the CSV line: {e}") from None


def header_columns(lines: List[Tuple[int, str]], source: str) -> Tuple[int, List[str]]:
    """-> (line number of the header, column names): the first non-blank line."""
    for number, text in lines:
        if text.strip():
            return number, [c.strip() for c in csv_fields(text, source, number)]
    raise DataError(source, None, "file is empty")


def read_series(
    lines: List[Tuple[int, str]],
    source: str,
    columns: Sequence[str],
    time_column: Optional[str] = None,
    date_format: Optional[str] = None,
    allow_empty: bool = False,
) -> Series:
    """Numbered CSV lines (a header, then one row a line) -> the ``columns`` as floats, in that order.

    date_format: the time column's strptime format (None: ``TIME_FORMATS``, then ISO 8601). allow_empty: an
    empty cell becomes NaN (``seqkit.data.frequency.fill_gaps`` fills it) instead of an error.

    Errors (DataError ``file:line: ...``): an unknown column (names those that exist), a row with the wrong
    number of fields, an empty or non-numeric (or infinite/NaN) cell (names the column), a timestamp that
    cannot be read or is not after the previous row's (where a text column changes there, the file holds
    several series: says so, naming the column). Blank lines are skipped; there must be >= 1 row.
    """
    header_line, names = header_columns(lines, source)
    wanted = list(columns) + ([time_column] if time_column else [])
    for name in wanted:
        if name not in names:
            raise DataError(source, header_line, f"unknown column {name!r}; the file has columns {names}")
    index = [names.index(c) for c in columns]
    t_index = names.index(time_column) if time_column else None
    rows: List[List[float]] = []
    times: List[datetime] = []
    numbers: List[int] = []
    time_format: Optional[str] = date_format
    previous: List[str] = []
    for number, text in lines:
        if number <= header_line or not text.strip():
            continue
        fields = csv_fields(text, source, number)
        if len(fields) != len(names):
            raise DataError(source, number, f"expected {len(names)} fields (as the header), found {len(fields)}")
        row = []
        for j in index:
            cell = fields[j].strip()
            where = f"column {j + 1} ({names[j]!r})"
            if not cell and allow_empty:
                row.append(float("nan"))
                continue
            if not cell:
                raise DataError(source, number, f"{where}: empty cell (fill empty cells with data.fill=linear)")
            row.append(finite_number(cell, source, number, where))
        if t_index is not None:
            cell = fields[t_index].strip()
            t, fmt = _parse_time(cell) if date_format is None else _parse_with(cell, date_format)
            if t is None:
                expected = (
                    f"does not match data.date_format={date_format}"
                    if date_format
                    else "is not a timestamp (YYYY-MM, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or ISO 8601; "
                    "another format: data.date_format, e.g. data.date_format=%d/%m/%Y)"
                )
                raise DataError(source, number, f"column {t_index + 1} ({time_column!r}): {cell!r} {expected}")
            if times and t <= times[-1]:
                ids = _id_columns(names, previous, fields, wanted)
                if ids:
                    raise DataError(
                        source,
                        number,
                        f"timestamp {cell!r} goes back to line {numbers[-1]}'s ({format_time(times[-1], time_format)}) "
                        f"where column {ids[0]!r} changes from {previous[names.index(ids[0])].strip()!r} to "
                        f"{fields[names.index(ids[0])].strip()!r}: the file holds several series; one series per file",
                    )
                raise DataError(
                    source,
                    number,
                    f"timestamp {cell!r} is not after the previous row's "
                    f"({format_time(times[-1], time_format)}, line {numbers[-1]}): "
                    "rows must be in increasing time order",
                )
            time_format = time_format or fmt
            times.append(t)
        rows.append(row)
        numbers.append(number)
        previous = fields
    if not rows:
        raise DataError(source, None, "no rows after the header")
    return Series(
        str(source),
        list(columns),
        torch.tensor(rows, dtype=torch.float64),
        times if t_index is not None else None,
        time_format,
        numbers,
    )


# ---- timestamps: the step between rows, future timestamps, calendar features --------------------------------


def infer_step(times: Optional[List[datetime]]) -> Dict[str, int]:
    """The series' step: ``{"months": k}`` when rows fall on the same day of consecutive months (monthly data),
    else ``{"seconds": s}`` for the most common gap; ``{}`` without timestamps (rows are then numbered)."""
    if not times or len(times) < 2:
        return {}
    months = [(b.year - a.year) * 12 + b.month - a.month for a, b in zip(times, times[1:])]
    if all(t.day == times[0].day and t.time() == times[0].time() for t in times) and min(months) > 0:
        return {"months": max(set(months), key=months.count)}
    gaps = [int((b - a).total_seconds()) for a, b in zip(times, times[1:])]
    return {"seconds": max(set(gaps), key=gaps.count)}


def future_times(last: datetime, step: Dict[str, int], count: int) -> List[datetime]:
    """The ``count`` timestamps after ``last``, ``step`` (from infer_step) apart."""
    if "months" in step:
        out = []
        for k in range(1, count + 1):
            m = last.month - 1 + k * step["months"]
            out.append(last.replace(year=last.year + m // 12, month=m % 12 + 1))
        return out
    return [last + timedelta(seconds=step["seconds"] * k) for k in range(1, count + 1)]


def calendar_features(times: Optional[List[datetime]], names: Sequence[str]) -> Tensor:
    """[N, len(names)] known-future covariates in [-0.5, 0.5] (hour, weekday, day, month, dayofyear)."""
    for name in names:
        if name not in CALENDAR:
            raise ValueError(f"unknown calendar feature {name!r}; choose from {sorted(CALENDAR)}")
    if names and times is None:
        raise ValueError("data.calendar needs timestamps: set data.time_column")
    if not names:
        return torch.zeros(len(times or []), 0)
    return torch.tensor(
        [[CALENDAR[n][0](t) / (CALENDAR[n][1] - 1) - 0.5 for n in names] for t in times], dtype=torch.float32
    )


# ---- the scaler ---------------------------------------------------------------------------------------------


class Scaler:
    """Per-column ``(log(x) if log else x) - shift) / scale``, fitted on the training rows only.

    kind: "standard" (mean, std), "minmax" (min, max - min) or "none". log: take logs first (multiplicative
    series such as AirPassengers); needs positive values. Kept in checkpoints as ``to_dict()`` (plain Python).
    """

    KINDS = ("standard", "minmax", "none")

    def __init__(
        self, kind: str = "standard", log: bool = False, shift: Sequence[float] = (), scale: Sequence[float] = ()
    ):
        if kind not in self.KINDS:
            raise ValueError(f"data.scaler must be one of {list(self.KINDS)}, got {kind!r}")
        self.kind, self.log = kind, bool(log)
        self.shift, self.scale = [float(s) for s in shift], [float(s) for s in scale]

    def fit(self, values: Tensor, columns: Sequence[str], source: str = "<data>") -> "Scaler":
        """values [N, C]: the training rows."""
        x = self._log(values, columns, source)
        if self.kind == "standard":
            shift, scale = x.mean(0), x.std(0, unbiased=False)
        elif self.kind == "minmax":
            shift, scale = x.min(0).values, x.max(0).values - x.min(0).values
        else:
            shift, scale = torch.zeros(x.size(1), dtype=x.dtype), torch.ones(x.size(1), dtype=x.dtype)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant column stays as it is
        self.shift, self.scale = shift.tolist(), scale.tolist()
        return self

    def _log(self, values: Tensor, columns: Sequence[str], source: str) -> Tensor:
        if not self.log:
            return values
        bad = (values <= 0).nonzero()
        if len(bad):
            row, col = bad[0].tolist()
            raise DataError(
                source,
                None,
                f"data.log=true needs positive values; column {columns[col]!r} has "
                f"{values[row, col].item():g} in data row {row + 1}: use data.log=false",
            )
        return values.log()

    def transform(self, values: Tensor, columns: Sequence[str] = (), source: str = "<data>") -> Tensor:
        """[..., C] original units -> scaled (float32)."""
        x = self._log(values.double(), columns or [str(i) for i in range(values.size(-1))], source)
        return ((x - torch.tensor(self.shift, dtype=x.dtype)) / torch.tensor(self.scale, dtype=x.dtype)).float()

    def inverse(self, values: Tensor) -> Tensor:
        """[..., C] scaled -> original units."""
        x = values * torch.tensor(self.scale, dtype=values.dtype, device=values.device) + torch.tensor(
            self.shift, dtype=values.dtype, device=values.device
        )
        return x.exp() if self.log else x

    def select(self, columns: Sequence[int]) -> "Scaler":
        """The scaler of some columns (the targets', for the model's metrics in original units)."""
        return Scaler(self.kind, self.log, [self.shift[c] for c in columns], [self.scale[c] for c in columns])

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "log": self.log, "shift": list(self.shift), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Scaler":
        return cls(d["kind"], d["log"], d["shift"], d["scale"])


# ---- chronological splits and windows -----------------------------------------------------------------------

SPLITS = ("train", "val", "test")


def split_bounds(n_rows: int, split: Sequence[float], source: str = "<data>") -> Dict[str, Tuple[int, int]]:
    """[train, val, test] as row counts (integers) or fractions of the rows (all < 1) -> consecutive
    ``{split: (begin, end)}`` row ranges in time order; rows after the last split are unused. Fractions cut at
    the rounded cumulative shares, so fractions summing to 1 use every row."""
    if len(split) != 3 or any(s < 0 for s in split):
        raise ValueError(f"data.split must be three row counts or fractions [train, val, test], got {list(split)}")
    if all(float(s).is_integer() and s >= 1 or s == 0 for s in split):
        counts = [int(s) for s in split]
    elif all(s < 1 for s in split) and sum(split) <= 1 + 1e-9:
        cuts = [int(round(sum(split[: k + 1]) * n_rows)) for k in range(3)]
        counts = [b - a for a, b in zip([0] + cuts[:-1], cuts)]
    else:
        raise ValueError(f"data.split {list(split)}: give row counts (integers) or fractions summing to <= 1")
    if sum(counts) > n_rows:
        raise DataError(source, None, f"data.split {counts} needs {sum(counts)} rows; the file has {n_rows}")
    bounds, begin = {}, 0
    for name, count in zip(SPLITS, counts):
        bounds[name] = (begin, begin + count)
        begin += count
    return bounds


@dataclass(frozen=True)
class Window:
    """One forecast: the origin row (first forecast step; the input is rows [origin - input_length, origin))
    and how many of the horizon's steps are scored (less than the horizon only where a split ends sooner)."""

    index: int
    origin: int
    steps: int


def training_windows(
    begin: int,
    end: int,
    input_length: int,
    horizon: int,
    stride: int = 1,
    name: str = "train",
    source: str = "<data>",
    partial: bool = False,
) -> List[Window]:
    """Every window lying wholly in rows [begin, end): input and all ``horizon`` targets. partial: also the
    windows whose horizon runs past ``end``, trained on the steps before it (the latest rows then get
    forecast from their own recent history, not only as far-horizon targets)."""
    need = input_length + horizon
    if end - begin < need:
        raise DataError(
            source,
            None,
            f"the {name} split has {end - begin} rows; one window needs input_length + "
            f"horizon = {input_length} + {horizon} = {need}",
        )
    origins = range(begin + input_length, end if partial else end - horizon + 1, stride)
    return [Window(i, o, min(horizon, end - o)) for i, o in enumerate(origins)]


def evaluation_windows(
    begin: int,
    end: int,
    input_length: int,
    horizon: int,
    stride: int = 1,
    name: str = "test",
    source: str = "<data>",
    partial: bool = False,
) -> List[Window]:
    """Windows whose forecast targets lie in rows [begin, end); the input is the history just before the
    origin, which may reach back into earlier splits (it is known at forecast time), never after it.

    Origins every ``stride`` rows with a whole horizon in the split; a split shorter than the horizon is
    scored on one window cut at its end. partial (backtesting): origins run to the split's last row, each
    scored on the steps that fall in the split.
    """
    first = max(begin, input_length)
    if end - begin < 1 or first >= end:
        raise DataError(
            source,
            None,
            f"the {name} split has {end - begin} rows from row {begin}; its first window "
            f"needs {input_length} rows of history before its origin and 1 row to forecast",
        )
    if partial or end - first < horizon:
        origins = range(first, end, stride) if partial else range(first, first + 1)
    else:
        origins = range(first, end - horizon + 1, stride)
    return [Window(i, o, min(horizon, end - o)) for i, o in enumerate(origins)]
