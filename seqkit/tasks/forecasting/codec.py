"""One CSV series, or the several series of a long file (``data.series_column``: one global model), without
Lightning: reading (``error: file:line: reason``), the scaler fitted on the training rows (a long file: each
series' own, on its own training rows), chronological splits cut into sliding windows, batching, prediction input
(a CSV history) and output (rows in original units, JSON or CSV, an optional plot).

The training data module (``ForecastingDataModule``) and the application (``seqkit.app``: predict, evaluate) run
this one codec. Its ``state_dict`` (the scaler, the columns, the timestamps' step and format, where the series
came from) has the layout of the old ``TimeSeriesDataModule``'s, so old checkpoints load unchanged.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from seqkit.data.batch import DeviceMovable
from seqkit.data.builtin import builtin_files
from seqkit.data.codec import Codec
from seqkit.data.errors import DataError
from seqkit.data.frequency import FILLS, FREQUENCIES, NO_TIMESTAMPS, fill_gaps, frequency_name, resolve_frequency
from seqkit.data.notice import log
from seqkit.data.panel import split_long
from seqkit.data.textfile import read_lines
from seqkit.data.timeseries import (
    SPLITS,
    Scaler,
    Series,
    Window,
    calendar_features,
    csv_fields,
    evaluation_windows,
    format_time,
    future_times,
    header_columns,
    read_series,
    split_bounds,
    training_windows,
)
from seqkit.tasks.forecasting.metrics import mase_scale


@dataclass
class WindowBatch(DeviceMovable):
    """A batch of forecast windows (all the same length: no padding).

    x:      [B, L, T + P + K] input window: scaled targets, past covariates, calendar features
    y:      [B, H, T] scaled targets of the horizon (0 where not scored)
    future: [B, H, K] calendar features of the horizon steps (known in advance)
    steps:  [B] long, how many horizon steps are scored (H except where a split ends sooner)
    index:  [B] long, the window's position in its data set
    series: [B] long, each window's series (a long file's, ``data.series_column``; None: one series)
    """

    x: Tensor
    y: Tensor
    future: Tensor
    steps: Tensor
    index: Tensor
    series: Optional[Tensor] = None

    @property
    def mask(self) -> Tensor:
        """[B, H] bool, True at the scored horizon steps."""
        return torch.arange(self.y.size(1), device=self.steps.device)[None, :] < self.steps[:, None]

    def __len__(self) -> int:
        return self.x.size(0)


@dataclass
class Frame:
    """A series ready for windowing: scaled values [N + H, C] and calendar [N + H, K] (H rows past the end
    so that a window cut at the series' end can still be batched), and the original rows for plots."""

    series: Series
    scaled: Tensor
    calendar: Tensor
    times: Optional[List[datetime]]


class Windows(list):
    """A split's windows (``Window``), with the frame they are cut from (``frame``)."""

    def __init__(self, windows: List[Window], frame: Frame):
        super().__init__(windows)
        self.frame = frame


@dataclass
class ForecastRequest:
    """What predict needs to write its rows: the forecast timestamps (or row numbers) and the history; of a
    long file's series also its id and its targets' scaler."""

    times: List[str]
    history: Frame
    series: Optional[str] = None
    scaler: Optional[Scaler] = None


DEFAULTS = {
    "path": None,
    "builtin": None,
    "root": None,
    "test_path": None,
    "time_column": None,
    "series_column": None,
    "target": None,
    "covariates": [],
    "features": "S",
    "freq": None,
    "date_format": None,
    "fill": "none",
    "calendar": None,
    "split": None,
    "input_length": None,
    "horizon": None,
    "stride": 1,
    "partial_train_windows": False,
    "eval_stride": 1,
    "scaler": "standard",
    "log": None,
    "season": None,
    "batch_size": 32,
    "eval_batch_size": 256,
    "num_workers": 0,
    "train_path": None,
    "val_path": None,
}

# The settings that follow from the data where left null: a built-in series' preset (below), or for a user's
# file (data.path) the time column (the first, where it holds timestamps), the target (the only other numeric
# column), fractions in time order, no logs, and the frequency's season, calendar and window (FREQUENCIES).
# The data module saves what they became (``resolved_settings``), so a checkpoint holds them all.
FROM_DATA = ("time_column", "target", "split", "input_length", "horizon", "calendar", "log", "season")
USER_SPLIT = [0.7, 0.1, 0.2]  # [train, val, test] fractions of a user's rows, in time order
PRESETS: Dict[str, Dict[str, Any]] = {
    # AirPassengers (Box & Jenkins 1976): 144 months; the last 24 are the test, the 12 before them validation
    "airpassengers": {
        "time_column": "Month",
        "target": "Passengers",
        "split": [108, 12, 24],
        "input_length": 36,
        "horizon": 24,
        "calendar": ["month"],
        "log": True,
        "season": 12,
    },
}


def _stack(frames: List[Frame]) -> Frame:
    """The frames of a long file's series one after another (each keeps its H rows past the end, so a window never
    reads another series); values past a series' end are NaN (the plot's actual values stop there)."""
    first = frames[0].series

    def padded(f: Frame) -> Tensor:
        values = f.series.values
        return torch.cat([values, values.new_full((f.scaled.size(0) - len(f.series), values.size(1)), float("nan"))])

    times = None if any(f.times is None for f in frames) else [t for f in frames for t in f.times]
    lines = [n for f in frames for n in f.series.lines]
    series = Series(
        first.source, first.columns, torch.cat([padded(f) for f in frames]), times, first.time_format, lines
    )
    return Frame(series, torch.cat([f.scaled for f in frames]), torch.cat([f.calendar for f in frames]), times)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


class ForecastingCodec(Codec):
    """Windows over one CSV series (``task=forecast``).

    Settings (``DEFAULTS``; ``seqkit/configs/task/forecast.yaml`` ``data.*``):

    path / builtin: the series (a CSV file with a header; builtin: ``airpassengers``); root: the directory a
        relative path is read from. train_path / val_path: refused (a series is one file, split by ``split``).
    time_column: its timestamps (null: rows are numbered). target: one column or a list.
    series_column: a long file's series id (null: one series): each series is read, checked, filled and split in
        time order on its own, scaled by its own training rows, and one global model trains on the windows of all
        (no series embedding); metrics per series (``series/<id>/...``) and their mean.
    features: "S" (the targets, plus any ``covariates``) or "MS" (every other column too, as past-observed
        covariates). calendar: known-future features from the timestamps (hour, weekday, day, month, dayofyear).
    freq: hourly | daily | weekly | monthly | quarterly | yearly (null: inferred from the timestamps).
    date_format: the time column's strptime format (null: ``YYYY-MM[-DD][ HH:MM[:SS]]`` or ISO 8601).
    fill: none | previous | linear | zero: how missing timestamps and empty cells are filled (none: refused).
    split: [train, val, test] row counts or fractions, in time order.
    input_length -> horizon: the window; stride: between training windows; partial_train_windows: also train on
        the windows whose horizon runs past the training rows (on their steps inside them); eval_stride: between
        validation/test origins.
    scaler: standard | minmax | none, fitted on the training rows only (log=true takes logs first).
    season: for the seasonal-naive baseline and MASE (0: none).
    ``FROM_DATA`` settings left null come from the built-in series' preset (``PRESETS``) or, for a user's file,
        from the file and its frequency (``resolved_settings``: what they became, saved in the checkpoint).
    test_path: evaluate on every window of another CSV with the same columns instead of the series' test split.
    batch_size / eval_batch_size / num_workers: the loaders (training windows are shuffled, not bucketed: they all
        have one length, so the data module takes no ``bucketing``).
    """

    defaults = DEFAULTS
    predict_unit = "file"  # predict.py's whole input is one CSV history (a long file's: every series'), read whole
    keeps_its_series = True  # evaluate.py needs no data.test_path: the checkpoint names the series and its test split

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        hp = self.hparams
        if hp.train_path or hp.val_path:
            raise ValueError("a time series is one file: give data.path (the splits come from data.split)")
        if hp.features not in ("S", "MS"):
            raise ValueError(f"data.features must be S (targets alone) or MS (all columns in), got {hp.features!r}")
        if hp.fill not in FILLS:
            raise ValueError(f"data.fill must be one of {list(FILLS)}, got {hp.fill!r}")
        if hp.freq is not None and hp.freq not in FREQUENCIES:
            raise ValueError(f"data.freq must be one of {list(FREQUENCIES)} (or null: inferred), got {hp.freq!r}")
        if hp.path is None and hp.builtin in PRESETS:  # a built-in series: its preset where a setting is null
            for key, value in PRESETS[hp.builtin].items():
                if hp.get(key) is None:
                    hp[key] = value
        self.batch_size = hp.batch_size
        self.targets: List[str] = []
        self._targets_from(hp.target)
        self.covariates: Optional[List[str]] = None  # decided when the header is read (features=MS: every column)
        self.calendar = list(hp.calendar or [])
        self._check_window()
        Scaler(hp.scaler, bool(hp.log))  # checks the choice now; the scaler is fitted on the training rows in setup
        self.scaler: Optional[Scaler] = None
        self.step: Dict[str, int] = {}
        self.time_format: Optional[str] = None
        self.series_source: Optional[Dict[str, str]] = None  # {"builtin": name} or {"path": absolute path}
        self.frames: Dict[str, Frame] = {}
        self.backtest_stride: Optional[int] = None  # evaluate.py options.backtest=true
        self.plot_path: Optional[str] = None  # predict.py options.plot
        self.rows: Dict[str, Tuple[int, int]] = {}
        self.mase_scale: Optional[List[float]] = None  # MASE's per-target denominators, from the training rows
        self.series_scalers: Dict[str, Scaler] = {}  # data.series_column: each series' scaler, in the file's order
        self.series_mase: Dict[str, List[float]] = {}  # ... and its MASE denominators
        self.series_rows: Dict[str, Dict[str, Tuple[int, int]]] = {}  # ... and its split's rows

    def resolved_settings(self) -> Dict[str, Any]:
        """The ``FROM_DATA`` settings as the preset or the file decided them (after ``setup``)."""
        return {k: self.hparams[k] for k in FROM_DATA}

    def _targets_from(self, target: Any) -> None:
        if target is not None:
            self.targets = [target] if isinstance(target, str) else list(target)

    def _check_window(self) -> None:
        hp = self.hparams
        sizes = [v for v in (hp.input_length, hp.horizon) if v is not None] + [hp.stride, hp.eval_stride]
        if min(sizes) < 1:
            raise ValueError("data.input_length, data.horizon, data.stride and data.eval_stride must be >= 1")

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Plain Python: the scaler, the columns, the timestamps' step and format, where the series came from."""
        return {
            "scaler": self.scaler.to_dict(),
            "targets": list(self.targets),
            "covariates": list(self.covariates),
            "calendar": list(self.calendar),
            "step": dict(self.step),
            "time_format": self.time_format,
            "series_source": self.series_source,
            **({"mase_scale": self.mase_scale} if self.mase_scale is not None else {}),
            **(
                {
                    "series": {
                        k: {"scaler": v.to_dict(), "mase_scale": self.series_mase[k]}
                        for k, v in self.series_scalers.items()
                    }
                }
                if self.series_scalers
                else {}
            ),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scaler = Scaler.from_dict(state["scaler"])
        self.targets, self.covariates = list(state["targets"]), list(state["covariates"])
        self.calendar, self.step = list(state["calendar"]), dict(state["step"])
        self.time_format, self.series_source = state["time_format"], state["series_source"]
        self.mase_scale = state.get("mase_scale")
        series = state.get("series") or {}
        self.series_scalers = {k: Scaler.from_dict(v["scaler"]) for k, v in series.items()}
        self.series_mase = {k: list(v["mase_scale"]) for k, v in series.items()}

    @property
    def built(self) -> bool:
        return self.scaler is not None

    @property
    def target_scaler(self) -> Scaler:
        """The targets' scaler (a global model's is the identity: each series has its own, ``series_scaler``)."""
        return self.scaler.select(range(len(self.targets)))

    @property
    def series_ids(self) -> List[str]:
        """A global model's series, in the training file's order (empty: one series)."""
        return list(self.series_scalers)

    def series_scaler(self, key: str) -> Scaler:
        """A global model's targets' scaler of series ``key``."""
        return self.series_scalers[key].select(range(len(self.targets)))

    def window_series(self, window: Window) -> Tuple[Scaler, str]:
        """(the targets' scaler, a label such as " (store=north)") of the series ``window`` is cut from."""
        if not self.series_scalers:
            return self.target_scaler, ""
        key = self.series_ids[window.series]
        return self.series_scaler(key), f" ({self.hparams.series_column}={key})"

    def export_refusal(self) -> Optional[str]:
        """Why export.py refuses this model (None: it exports): a global model's inputs are scaled by each
        series' own scaler, which the sidecar's one target scaler cannot describe."""
        if not self.series_scalers:
            return None
        return (
            f"a global model across several series (data.series_column={self.hparams.series_column}) is not "
            "exported: its inputs and outputs are scaled by each series' own scaler; use seqkit predict, or export "
            "a model trained on one series"
        )

    def network_kwargs(self) -> Dict[str, Any]:
        hp = self.hparams
        return {
            "n_targets": len(self.targets),
            "n_covariates": len(self.covariates or []),
            "n_calendar": len(self.calendar),
            "input_length": hp.input_length,
            "horizon": hp.horizon,
            "season": hp.season,
            "target_scaler": self.target_scaler.to_dict(),
        }

    # ---- reading ---------------------------------------------------------------------------------
    def _source_lines(self) -> Tuple[List[Tuple[int, str]], str]:
        hp = self.hparams
        if self.series_source is not None:  # restored from a checkpoint: the series it was trained on
            pass
        elif hp.path is not None:
            self.series_source = {"path": str(Path(self.resolve(hp.path)).resolve())}
        elif hp.builtin is not None:
            self.series_source = {"builtin": hp.builtin}
        else:
            raise ValueError("no data: give data.path=<file.csv> (your own series) or data.builtin=airpassengers")
        if "path" in self.series_source:
            return read_lines(self.series_source["path"]), self.series_source["path"]
        name = self.series_source["builtin"]
        return read_lines(builtin_files(name, "all")[0]), name

    def _columns(self, lines: List[Tuple[int, str]], source: str) -> List[str]:
        if self.covariates is None:
            hp = self.hparams
            covariates = list(hp.covariates or [])
            if hp.features == "MS":
                _, names = header_columns(lines, source)
                covariates += [
                    c for c in names if c not in self.targets and c != hp.time_column and c not in covariates
                ]
            self.covariates = covariates
        return self.targets + self.covariates

    def _read_raw(self, lines: List[Tuple[int, str]], source: str) -> Series:
        """Empty cells as NaN: ``fill_gaps`` fills them or refuses them with the gaps (``data.fill``)."""
        hp = self.hparams
        several = {}
        if self.built:  # a trained model's history or test file: data.series_column is the training's to set
            several["several"] = (
                "the model was trained on one series: give one series' rows (or train with data.series_column={column})"
            )
        return read_series(
            lines, source, self._columns(lines, source), hp.time_column, hp.date_format, allow_empty=True, **several
        )

    def _read(self, lines: List[Tuple[int, str]], source: str, label: str = "") -> Series:
        """A history or test file with the trained columns and step: gaps and empty cells filled as in training
        (a model trained with data.fill=none takes none: the refusal says to fill the file)."""
        hint = (
            "the model was trained with data.fill=none, so its input needs every timestamp and value: fill them "
            "in the file (or train with data.fill=linear, previous or zero, which then fills them here)"
        )
        series, inserted, empty = fill_gaps(self._read_raw(lines, source), self.step, self.hparams.fill, hint)
        if inserted or empty:
            log(
                f"{source}{label}: filled {inserted} missing timestamp(s) and {empty} empty cell(s) by data.fill={self.hparams.fill}"
            )
        return series

    def _from_file(self, lines: List[Tuple[int, str]], source: str) -> None:
        """A user's file: the time column and the target where null, from the header and each column's first
        non-empty cell (of the first 200 lines)."""
        hp = self.hparams
        header_line, names = header_columns(lines, source)
        rows = [csv_fields(t, source, n) for n, t in lines[:200] if n > header_line and t.strip()]
        if not rows:
            raise DataError(source, None, "no rows after the header")
        fields = [next((r[j] for r in rows if j < len(r) and r[j].strip()), "") for j in range(len(names))]
        first = next((j for j, name in enumerate(names) if name != hp.series_column), None)
        if hp.time_column is None and first is not None and not _is_number(fields[first]):
            hp["time_column"] = names[first]  # a first column of text: the timestamps (read_series says if it is not)
        if hp.target is None:
            numeric = []
            skip = [hp.time_column, hp.series_column] + list(hp.covariates or [])
            for name, cell in zip(names, fields):
                if _is_number(cell) and name not in skip:
                    numeric.append(name)
            if len(numeric) != 1:
                example = f"e.g. data.target={numeric[0]} " if numeric else ""
                raise DataError(
                    source,
                    header_line,
                    f"which column to forecast? set data.target, {example}(the file has columns {names}; "
                    f"columns of numbers: {numeric})",
                )
            hp["target"] = numeric[0]
        self._targets_from(hp.target)

    def _resolve(self, series: Series, source: str) -> Series:
        """Settings left null from the file's frequency; gaps and empty cells filled (``data.fill``)."""
        hp = self.hparams
        name, step = resolve_frequency(series.times, hp.freq, source)
        if self.step and step != self.step:  # a long file's later series
            raise DataError(
                source,
                None,
                f"{name or step} rows where the series before are {frequency_name(self.step) or self.step}: the "
                "series of one file share one frequency (train this one from a file of its own)",
            )
        self.step = step
        freq = FREQUENCIES[name] if name else NO_TIMESTAMPS
        series, inserted, empty = fill_gaps(series, self.step, hp.fill)
        defaults = {
            "split": USER_SPLIT,
            "log": False,
            "season": freq.season,
            "calendar": list(freq.calendar),
            "input_length": freq.input_length,
            "horizon": freq.horizon,
        }
        chosen = [k for k in defaults if hp.get(k) is None]
        for key in chosen:
            hp[key] = defaults[key]
        self.calendar = list(hp.calendar)
        self._check_window()
        kind = name or (f"every {self.step}" if self.step else "numbered rows (no time column)")
        log(
            f"{source}: {kind} series{'' if hp.freq else ' (inferred)'} of {self.targets} by "
            f"{hp.time_column!r}; {len(series)} rows"
            + (
                f", {inserted} missing timestamp(s) and {empty} empty cell(s) filled by data.fill={hp.fill}"
                if inserted or empty
                else ""
            )
            + (f"; from the data: {', '.join(f'{k}={hp[k]}' for k in chosen)}" if chosen else "")
        )
        return series

    def _frame(self, series: Series, scaler: Optional[Scaler] = None) -> Frame:
        H = self.hparams.horizon
        scaled = (scaler or self.scaler).transform(series.values, series.columns, series.source)
        times = series.times
        if times is not None and self.step:
            times = times + future_times(times[-1], self.step, H)
        calendar = calendar_features(times, self.calendar)
        if calendar.size(0) < scaled.size(0) + H:  # no timestamps: nothing to compute past the end
            calendar = torch.cat(
                [calendar, calendar.new_zeros(scaled.size(0) + H - calendar.size(0), calendar.size(1))]
            )
        scaled = torch.cat([scaled, scaled.new_zeros(H, scaled.size(1))])
        return Frame(series, scaled, calendar, times)

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the series, fit the scaler on the training rows (unless restored), cut the windows."""
        if self.datasets:
            return
        hp = self.hparams
        if hp.series_column is not None:
            return self._setup_long(stage)
        L, H = hp.input_length, hp.horizon
        if stage == "test" and hp.test_path is not None:
            lines, path = self._test_file()
            frame = self._frame(self._read(lines, path))
            self.frames["test"] = frame
            self.datasets["test"] = Windows(self._cut("test", 0, len(frame.series), stage, path), frame)
            return
        lines, source = self._source_lines()
        if self.scaler is None:  # training: what the settings leave null comes from the file
            if "path" in self.series_source:
                self._from_file(lines, source)
            series = self._resolve(self._read_raw(lines, source), source)
            L, H = hp.input_length, hp.horizon
        else:
            series = self._read(lines, source)
        bounds = split_bounds(len(series), hp.split, source)
        self.rows = bounds
        T = len(self.targets)
        if self.scaler is None:
            begin, end = bounds["train"]
            if end - begin < L + H:
                training_windows(begin, end, L, H, hp.stride, "train", source)  # raises, naming the sizes
            self.scaler = Scaler(hp.scaler, hp.log).fit(series.values[begin:end], series.columns, source)
            self.time_format = series.time_format
        if self.mase_scale is None:
            begin, end = bounds["train"]
            self.mase_scale = mase_scale(series.values[begin:end, :T], hp.season).tolist()
        frame = self._frame(series)
        for name in self._split_names(stage):
            begin, end = bounds[name]
            windows = self._cut(name, begin, end, stage, source)
            if name == "train" or end > begin:
                self.datasets[name] = Windows(windows, frame)
            self.frames[name] = frame
        log(
            f"{source}: {len(series)} rows; split {list(hp.split)} in time order: {self._spans(series, bounds)}; "
            f"windows { {k: len(v) for k, v in self.datasets.items()} } of {L} -> {H}; scaler {hp.scaler}"
            f"{' of logs' if hp.log else ''} fitted on the training rows"
        )

    def _test_file(self) -> Tuple[List[Tuple[int, str]], str]:
        """evaluate.py's data.test_path (a restored model's scaler reads it)."""
        if self.scaler is None:
            raise ValueError("no scaler yet: load the data module from a checkpoint to evaluate data.test_path")
        path = str(self.resolve(self.hparams.test_path))
        return read_lines(path), path

    @staticmethod
    def _split_names(stage: Optional[str]) -> Tuple[str, ...]:
        return SPLITS if stage in (None, "fit") else SPLITS[1:]  # a restored model needs no training windows

    def _cut(self, name: str, begin: int, end: int, stage: Optional[str], source: str) -> List[Window]:
        """The windows of split ``name`` over rows [begin, end) of one series (none for an empty val/test)."""
        hp = self.hparams
        L, H = hp.input_length, hp.horizon
        if name == "train":
            return training_windows(begin, end, L, H, hp.stride, name, source, partial=hp.partial_train_windows)
        if end > begin:
            backtest = name == "test" and self.backtest_stride is not None
            stride = self.backtest_stride if backtest else hp.eval_stride
            return evaluation_windows(begin, end, L, H, stride, name, source, partial=backtest)
        if name == "val" and stage in ("fit", "validate"):
            raise DataError(source, None, "the val split has 0 rows: give data.split=[train, val, test] with val > 0")
        return []

    def _series_of_long(self, lines: List[Tuple[int, str]], source: str, training: bool) -> Dict[str, Series]:
        """Each series of a long file, read, checked and filled on its own; a trained model refuses a series it
        has no scaler for."""
        column = self.hparams.series_column
        out = {}
        for key, group in split_long(lines, source, column).items():
            if training:
                out[key] = self._resolve(self._read_raw(group, source), f"{source} [{column}={key}]")
            elif key not in self.series_scalers:
                raise DataError(
                    source,
                    group[1][0],
                    f"series {key!r} (column {column!r}) is not one the model was trained on: {self.series_ids}",
                )
            else:
                out[key] = self._read(group, source, f" [{column}={key}]")
        return out

    def _setup_long(self, stage: Optional[str]) -> None:
        """data.series_column: each series split in time order on its own (the same data.split), its scaler and
        MASE denominators fitted on its own training rows; every split holds the windows of every series, cut
        from the series' frames one after another."""
        hp = self.hparams
        training = self.scaler is None
        test_file = stage == "test" and hp.test_path is not None
        lines, source = self._test_file() if test_file else self._source_lines()
        if training:
            self._from_file(lines, source)
        series = self._series_of_long(lines, source, training)
        L, H, T = hp.input_length, hp.horizon, len(self.targets)
        names = ("test",) if test_file else self._split_names(stage)
        windows: Dict[str, List[Window]] = {name: [] for name in names}
        frames, offset = [], 0
        for k, (key, one) in enumerate(series.items()):
            bounds = {"test": (0, len(one))} if test_file else split_bounds(len(one), hp.split, source)
            self.series_rows[key] = bounds
            if training:
                begin, end = bounds["train"]
                if end - begin < L + H:
                    training_windows(begin, end, L, H, hp.stride, f"{hp.series_column}={key} train", source)  # raises
                self.series_scalers[key] = Scaler(hp.scaler, hp.log).fit(one.values[begin:end], one.columns, source)
                self.series_mase[key] = mase_scale(one.values[begin:end, :T], hp.season).tolist()
                self.time_format = one.time_format
            frame = self._frame(one, self.series_scalers[key])
            for name in names:
                cut = self._cut(name, *bounds[name], stage, f"{source} [{hp.series_column}={key}]")
                windows[name] += [
                    Window(len(windows[name]) + i, offset + w.origin, w.steps, k) for i, w in enumerate(cut)
                ]
            frames.append(frame)
            offset += frame.scaled.size(0)
        if training:  # the targets' scaler of the network is the identity: each series has its own
            columns = len(self.targets) + len(self.covariates)
            self.scaler = Scaler("none", False, [0.0] * columns, [1.0] * columns)
        stacked = _stack(frames)
        for name in names:
            if windows[name] or name == "train":
                self.datasets[name] = Windows(windows[name], stacked)
            self.frames[name] = stacked
        first = next(iter(series.values()))
        log(
            f"{source}: {len(series)} series by {hp.series_column!r} ({', '.join(series)}), each split "
            f"{list(hp.split)} in time order, e.g. {next(iter(series))}: "
            f"{self._spans(first, next(iter(self.series_rows.values())))}; windows "
            f"{ {k: len(v) for k, v in self.datasets.items()} } of {L} -> {H} from all series; scaler {hp.scaler}"
            f"{' of logs' if hp.log else ''} fitted on each series' own training rows"
        )

    def _spans(self, series: Series, bounds: Dict[str, Tuple[int, int]]) -> str:
        """train 2023-01-01..2023-10-03 (276 rows), ... (row numbers without timestamps)."""
        parts = []
        for name, (begin, end) in bounds.items():
            if end <= begin:
                parts.append(f"{name} 0 rows")
                continue
            if series.times is not None:
                first, last = (format_time(series.times[i], series.time_format) for i in (begin, end - 1))
            else:
                first, last = begin + 1, end
            parts.append(f"{name} {first}..{last} ({end - begin} rows)")
        unused = len(series) - max(end for _, end in bounds.values())
        return ", ".join(parts) + (f"; {unused} later rows unused" if unused else "")

    def evaluation_set(self, split: str) -> List[Window]:
        """evaluate.py's windows of ``split`` ("test": data.test_path, else the checkpoint's own series' test
        rows; "val": its validation rows)."""
        self.setup("test" if split == "test" else "validate")
        if split not in self.datasets:
            raise ValueError(f"no {split} split to evaluate")
        return self.datasets[split]

    def set_evaluate_options(self, backtest: bool = False, stride: Optional[int] = None) -> None:
        """evaluate.py's ``options.backtest=true options.stride=k``: roll the origin over the test span every k
        rows up to its last row (each forecast scored on its steps inside the span)."""
        if backtest:
            stride = stride or 1
            if stride < 1:
                raise ValueError("options.stride must be >= 1")
            self.backtest_stride = int(stride)
        elif stride is not None:
            raise ValueError("options.stride applies to options.backtest=true")

    # ---- batching ---------------------------------------------------------------------------------
    def example_length(self, window: Window) -> int:
        return self.hparams.input_length

    def collate(self, windows: List[Window], frame: Optional[Frame] = None) -> WindowBatch:
        """Windows of ``frame`` (default: the ``Windows``' own) -> a WindowBatch."""
        frame = frame if frame is not None else windows.frame
        L, H, T = self.hparams.input_length, self.hparams.horizon, len(self.targets)
        origins = torch.tensor([w.origin for w in windows])
        inputs = origins[:, None] + torch.arange(-L, 0)[None, :]  # [B, L]
        outputs = origins[:, None] + torch.arange(H)[None, :]  # [B, H]
        steps = torch.tensor([w.steps for w in windows])
        scored = torch.arange(H)[None, :] < steps[:, None]
        x = torch.cat([frame.scaled[inputs], frame.calendar[inputs]], dim=-1)
        y = frame.scaled[outputs][..., :T] * scored[..., None]
        return WindowBatch(
            x=x,
            y=y,
            future=frame.calendar[outputs],
            steps=steps,
            index=torch.tensor([w.index for w in windows]),
            series=torch.tensor([w.series for w in windows]) if self.series_scalers else None,
        )

    def batches(
        self, windows: List[Window], batch_size: Optional[int] = None, frame: Optional[Frame] = None
    ) -> Iterator[WindowBatch]:
        """Evaluation batches (``eval_batch_size``, in time order), as the data module's evaluation loaders."""
        frame = frame if frame is not None else windows.frame
        size = batch_size or self.eval_batch_size
        for start in range(0, len(windows), size):
            yield self.collate(windows[start : start + size], frame)

    def last_window(self, split: str) -> Tuple[WindowBatch, Frame, Window]:
        """The split's last window as a batch of one (for the forecast-vs-actual plot)."""
        window = self.datasets[split][-1]
        frame = self.frames[split]
        return self.collate([window], frame), frame, window

    # ---- prediction -------------------------------------------------------------------------------
    def set_predict_input(
        self,
        lines: List[Tuple[int, str]],
        source: str,
        plot: Optional[str] = None,
        output_format: Optional[str] = None,
        input_format: Optional[str] = None,
    ) -> List[ForecastRequest]:
        """A CSV history (same columns as training) -> one window forecasting the ``horizon`` steps after its
        last row. ``plot``: also draw history and forecast to this PNG file."""
        if input_format not in (None, "csv"):
            raise ValueError(f"forecasters read CSV input; options.input_format={input_format!r} is not supported")
        if output_format not in (None, "json", "csv"):
            raise ValueError(f"options.output_format must be json or csv for forecasts, got {output_format!r}")
        self.plot_path = plot
        if self.hparams.series_column is not None:
            return self._predict_long(lines, source)
        series = self._read(lines, source)
        request = self._request(series, source)
        frame = request.history
        self.frames["predict"] = frame
        self.datasets["predict"] = Windows([Window(0, len(series), self.hparams.horizon)], frame)
        return [request]

    def _request(
        self, series: Series, source: str, key: Optional[str] = None, scaler: Optional[Scaler] = None
    ) -> ForecastRequest:
        """One history's forecast timestamps and frame (a long file's series: ``key`` and its ``scaler``)."""
        L, H = self.hparams.input_length, self.hparams.horizon
        if len(series) < L:
            what = "history" if key is None else f"history of {self.hparams.series_column} {key!r}"
            raise DataError(
                source, None, f"the {what} has {len(series)} rows; the model reads the last input_length = {L}"
            )
        if series.times is not None and self.step:
            times = [format_time(t, self.time_format) for t in future_times(series.times[-1], self.step, H)]
        else:
            times = [str(len(series) + k) for k in range(H)]  # no timestamps: the row numbers that follow
        return ForecastRequest(
            times, self._frame(series, scaler), key, None if key is None else self.series_scaler(key)
        )

    def _predict_long(self, lines: List[Tuple[int, str]], source: str) -> List[ForecastRequest]:
        """A long history file: one forecast of each series in it, after its own last row."""
        requests, windows, offset = [], [], 0
        for k, (key, one) in enumerate(self._series_of_long(lines, source, training=False).items()):
            request = self._request(one, source, key, self.series_scalers[key])
            requests.append(request)
            windows.append(Window(k, offset + len(one), self.hparams.horizon, self.series_ids.index(key)))
            offset += request.history.scaled.size(0)
        frame = _stack([r.history for r in requests])
        self.frames["predict"] = frame
        self.datasets["predict"] = Windows(windows, frame)
        return requests

    def format_predictions(
        self, requests: List[ForecastRequest], outputs: List[Dict[str, Tensor]]
    ) -> List[Dict[str, Any]]:
        """The network's scaled forecast (``point [H, T]``, optional ``lower``/``upper``) -> rows in original units
        (a long file's: each series' rows in turn, each row naming its series first)."""
        rows = []
        for request, out in zip(requests, outputs):
            rows += self._forecast_rows(request, out, plot=request is requests[0])
        return rows

    def _forecast_rows(self, request: ForecastRequest, out: Dict[str, Tensor], plot: bool) -> List[Dict[str, Any]]:
        inverse = (request.scaler or self.target_scaler).inverse
        point = inverse(out["point"].double())
        bounds = (inverse(out["lower"].double()), inverse(out["upper"].double())) if "lower" in out else None
        rows = []
        head = {} if request.series is None else {self.hparams.series_column: request.series}
        for h, stamp in enumerate(request.times):
            for t, name in enumerate(self.targets):
                row: Dict[str, Any] = {**head, "timestamp": stamp}
                if len(self.targets) > 1:
                    row["target"] = name
                row["value"] = round(point[h, t].item(), 6)
                if bounds is not None:
                    row["interval"] = [round(bounds[0][h, t].item(), 6), round(bounds[1][h, t].item(), 6)]
                rows.append(row)
        if self.plot_path and plot:  # a long file's: its first series
            from seqkit.plotting import plot_forecast

            series = request.history.series
            keep = min(len(series), max(self.hparams.input_length, 3 * self.hparams.horizon))
            history_times = (
                series.times[-keep:] if series.times is not None else list(range(len(series) - keep, len(series)))
            )
            future = (
                request.history.times[len(series) :]
                if series.times is not None
                else list(range(len(series), len(series) + len(request.times)))
            )
            plot_forecast(
                self.plot_path,
                history_times,
                series.values[-keep:, 0],
                future,
                point[:, 0],
                None if bounds is None else (bounds[0][:, 0], bounds[1][:, 0]),
                title=f"{self.targets[0]}"
                + ("" if request.series is None else f" ({self.hparams.series_column}={request.series})")
                + ": forecast",
            )
            log(f"forecast plot: {self.plot_path}")
        return rows

    @staticmethod
    def format_output(rows: List[Dict[str, Any]], output_format: str) -> List[str]:
        """``options.output_format=csv``: a header, then one line a forecast step (and target)."""
        fields = list(rows[0].keys())
        fields = [f for f in fields if f != "interval"] + (["lower", "upper"] if "interval" in fields else [])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(fields)
        for row in rows:
            interval = row.get("interval") or []
            writer.writerow([row[f] for f in fields if f not in ("lower", "upper")] + list(interval))
        return buffer.getvalue().splitlines()
