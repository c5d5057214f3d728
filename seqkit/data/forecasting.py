"""TimeSeriesDataModule: one CSV series -> chronological splits -> sliding windows for forecasting."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from seqkit.data.batch import DeviceMovable
from seqkit.data.builtin import builtin_files
from seqkit.data.datamodule import SeqkitDataModule, log
from seqkit.data.errors import DataError
from seqkit.data.sampler import ShuffleSampler
from seqkit.data.textfile import read_lines
from seqkit.data.timeseries import (
    SPLITS,
    Scaler,
    Series,
    Window,
    calendar_features,
    evaluation_windows,
    format_time,
    future_times,
    header_columns,
    infer_step,
    read_series,
    split_bounds,
    training_windows,
)


@dataclass
class WindowBatch(DeviceMovable):
    """A batch of forecast windows (all the same length: no padding).

    x:      [B, L, T + P + K] input window: scaled targets, past covariates, calendar features
    y:      [B, H, T] scaled targets of the horizon (0 where not scored)
    future: [B, H, K] calendar features of the horizon steps (known in advance)
    steps:  [B] long, how many horizon steps are scored (H except where a split ends sooner)
    index:  [B] long, the window's position in its data set
    """

    x: Tensor
    y: Tensor
    future: Tensor
    steps: Tensor
    index: Tensor

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


@dataclass
class ForecastRequest:
    """What predict needs to write its rows: the forecast timestamps (or row numbers) and the history."""

    times: List[str]
    history: Frame


class TimeSeriesDataModule(SeqkitDataModule):
    """Windows over one CSV series for ``seqkit.models.Forecaster``.

    path / builtin: the series (a CSV file with a header; builtin: ``airpassengers``). time_column: its
    timestamps (null: rows are numbered). target: one column or a list. features: "S" (the targets, plus
    any ``covariates``) or "MS" (every other column too, as past-observed covariates). calendar: known-future
    features from the timestamps (hour, weekday, day, month, dayofyear). split: [train, val, test] row counts
    or fractions, in time order. input_length -> horizon: the window; stride: between training windows;
    partial_train_windows: also train on the windows whose horizon runs past the training rows (on their
    steps inside them); eval_stride: between validation/test origins. scaler: standard | minmax | none,
    fitted on the training rows only (log=true takes logs first). season: for the seasonal-naive baseline.
    test_path: evaluate on every window of another CSV with the same columns instead of the series' test split.
    """

    def __init__(
        self,
        path: Optional[str] = None,
        builtin: Optional[str] = None,
        root: Optional[str] = None,
        test_path: Optional[str] = None,
        time_column: Optional[str] = None,
        target: Any = "value",
        covariates: Sequence[str] = (),
        features: str = "S",
        calendar: Sequence[str] = (),
        split: Sequence[float] = (0.7, 0.1, 0.2),
        input_length: int = 24,
        horizon: int = 12,
        stride: int = 1,
        partial_train_windows: bool = False,
        eval_stride: int = 1,
        scaler: str = "standard",
        log: bool = False,
        season: Optional[int] = None,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
    ):
        super().__init__(
            root=root, batch_size=batch_size, eval_batch_size=eval_batch_size, bucketing=False, num_workers=num_workers
        )
        if train_path or val_path:
            raise ValueError("a time series is one file: give data.path (the splits come from data.split)")
        if features not in ("S", "MS"):
            raise ValueError(f"data.features must be S (targets alone) or MS (all columns in), got {features!r}")
        if min(input_length, horizon, stride, eval_stride) < 1:
            raise ValueError("data.input_length, data.horizon, data.stride and data.eval_stride must be >= 1")
        self.save_hyperparameters()
        self.targets: List[str] = [target] if isinstance(target, str) else list(target)
        self.covariates: Optional[List[str]] = None  # decided when the header is read (features=MS: every column)
        self.calendar = list(calendar)
        Scaler(scaler, log)  # checks the choice now; the scaler is fitted on the training rows in setup
        self.scaler: Optional[Scaler] = None
        self.step: Dict[str, int] = {}
        self.time_format: Optional[str] = None
        self.series_source: Optional[Dict[str, str]] = None  # {"builtin": name} or {"path": absolute path}
        self.frames: Dict[str, Frame] = {}
        self.backtest_stride: Optional[int] = None  # evaluate.py options.backtest=true
        self.plot_path: Optional[str] = None  # predict.py options.plot
        self.rows: Dict[str, Tuple[int, int]] = {}

    # ---- reading ----------------------------------------------------------------------------------
    @property
    def keeps_its_series(self) -> bool:
        """evaluate.py needs no data.test_path: the checkpoint names the series and its test split."""
        return True

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

    def _read(self, lines: List[Tuple[int, str]], source: str) -> Series:
        return read_series(lines, source, self._columns(lines, source), self.hparams.time_column)

    def _frame(self, series: Series) -> Frame:
        H = self.hparams.horizon
        scaled = self.scaler.transform(series.values, series.columns, series.source)
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
        L, H = hp.input_length, hp.horizon
        if stage == "test" and hp.test_path is not None:
            if self.scaler is None:
                raise ValueError("no scaler yet: load the data module from a checkpoint to evaluate data.test_path")
            path = str(self.resolve(hp.test_path))
            frame = self._frame(self._read(read_lines(path), path))
            self.frames["test"] = frame
            self.datasets["test"] = evaluation_windows(
                0,
                len(frame.series),
                L,
                H,
                self.backtest_stride or hp.eval_stride,
                "test",
                path,
                partial=self.backtest_stride is not None,
            )
            return
        lines, source = self._source_lines()
        series = self._read(lines, source)
        bounds = split_bounds(len(series), hp.split, source)
        self.rows = bounds
        if self.scaler is None:
            begin, end = bounds["train"]
            if end - begin < L + H:
                training_windows(begin, end, L, H, hp.stride, "train", source)  # raises, naming the sizes
            self.scaler = Scaler(hp.scaler, hp.log).fit(series.values[begin:end], series.columns, source)
            self.step, self.time_format = infer_step(series.times), series.time_format
        frame = self._frame(series)
        for name in SPLITS if stage in (None, "fit") else SPLITS[1:]:  # a restored model needs no training windows
            begin, end = bounds[name]
            if name == "train":
                self.datasets[name] = training_windows(
                    begin, end, L, H, hp.stride, name, source, partial=hp.partial_train_windows
                )
            elif end > begin:
                stride = self.backtest_stride if name == "test" and self.backtest_stride else hp.eval_stride
                self.datasets[name] = evaluation_windows(
                    begin, end, L, H, stride, name, source, partial=name == "test" and self.backtest_stride is not None
                )
            elif name == "val" and stage in ("fit", "validate"):
                raise DataError(
                    source, None, "the val split has 0 rows: give data.split=[train, val, test] with val > 0"
                )
            self.frames[name] = frame
        log(
            f"{source}: {len(series)} rows; rows train/val/test {[e - b for b, e in bounds.values()]}; windows "
            f"{ {k: len(v) for k, v in self.datasets.items()} } of {L} -> {H}; scaler {hp.scaler}"
            f"{' of logs' if hp.log else ''} fitted on the training rows"
        )

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
    def collate(self, windows: List[Window], frame: Optional[Frame] = None) -> WindowBatch:
        L, H, T = self.hparams.input_length, self.hparams.horizon, len(self.targets)
        origins = torch.tensor([w.origin for w in windows])
        inputs = origins[:, None] + torch.arange(-L, 0)[None, :]  # [B, L]
        outputs = origins[:, None] + torch.arange(H)[None, :]  # [B, H]
        steps = torch.tensor([w.steps for w in windows])
        scored = torch.arange(H)[None, :] < steps[:, None]
        x = torch.cat([frame.scaled[inputs], frame.calendar[inputs]], dim=-1)
        y = frame.scaled[outputs][..., :T] * scored[..., None]
        return WindowBatch(
            x=x, y=y, future=frame.calendar[outputs], steps=steps, index=torch.tensor([w.index for w in windows])
        )

    def _loader(self, name: str, train: bool = False) -> DataLoader:
        shard = self.replicas() if train else {"num_replicas": 1}
        sampler = None  # one process: DataLoader's shuffle; DDP: each rank its share (all ranks the same steps)
        if shard["num_replicas"] > 1:
            sampler = ShuffleSampler(len(self.datasets[name]), **shard)
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            collate_fn=partial(self.collate, frame=self.frames[name]),
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def last_window(self, split: str) -> Tuple[WindowBatch, Frame, Window]:
        """The split's last window as a batch of one (for the forecast-vs-actual plot)."""
        window = self.datasets[split][-1]
        frame = self.frames[split]
        return self.collate([window], frame), frame, window

    # ---- what the model needs, what the checkpoint keeps ------------------------------------------
    @property
    def target_scaler(self) -> Scaler:
        return self.scaler.select(range(len(self.targets)))

    def model_kwargs(self) -> Dict[str, Any]:
        return {
            "n_targets": len(self.targets),
            "n_covariates": len(self.covariates or []),
            "n_calendar": len(self.calendar),
            "input_length": self.hparams.input_length,
            "horizon": self.hparams.horizon,
            "season": self.hparams.season,
            "target_scaler": self.target_scaler.to_dict(),
        }

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
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.scaler = Scaler.from_dict(state["scaler"])
        self.targets, self.covariates = list(state["targets"]), list(state["covariates"])
        self.calendar, self.step = list(state["calendar"]), dict(state["step"])
        self.time_format, self.series_source = state["time_format"], state["series_source"]

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
        L, H = self.hparams.input_length, self.hparams.horizon
        series = self._read(lines, source)
        if len(series) < L:
            raise DataError(
                source, None, f"the history has {len(series)} rows; the model reads the last input_length = {L}"
            )
        if series.times is not None and self.step:
            times = [format_time(t, self.time_format) for t in future_times(series.times[-1], self.step, H)]
        else:
            times = [str(len(series) + k) for k in range(H)]  # no timestamps: the row numbers that follow
        frame = self._frame(series)
        self.frames["predict"] = frame
        self.datasets["predict"] = [Window(0, len(series), H)]
        self.plot_path = plot
        return [ForecastRequest(times, frame)]

    def format_predictions(
        self, requests: List[ForecastRequest], outputs: List[Dict[str, Tensor]]
    ) -> List[Dict[str, Any]]:
        """The model's scaled forecast (``point [H, T]``, optional ``lower``/``upper``) -> rows in original units."""
        request, out = requests[0], outputs[0]
        inverse = self.target_scaler.inverse
        point = inverse(out["point"].double())
        bounds = (inverse(out["lower"].double()), inverse(out["upper"].double())) if "lower" in out else None
        rows = []
        for h, stamp in enumerate(request.times):
            for t, name in enumerate(self.targets):
                row: Dict[str, Any] = {"timestamp": stamp}
                if len(self.targets) > 1:
                    row["target"] = name
                row["value"] = round(point[h, t].item(), 6)
                if bounds is not None:
                    row["interval"] = [round(bounds[0][h, t].item(), 6), round(bounds[1][h, t].item(), 6)]
                rows.append(row)
        if self.plot_path:
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
                title=f"{self.targets[0]}: forecast",
            )
            log(f"forecast plot: {self.plot_path}")
        return rows

    def format_output(self, rows: List[Dict[str, Any]], output_format: str) -> List[str]:
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
