"""The forecasting data module: a thin ``CodecDataModule`` over ``ForecastingCodec`` (windows over one series)."""

from __future__ import annotations

from functools import partial
from typing import Any, List, Optional, Sequence

from torch.utils.data import DataLoader

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.data.sampler import ShuffleSampler
from seqkit.data.timeseries import Window
from seqkit.tasks.forecasting.codec import ForecastingCodec, Frame, WindowBatch


class ForecastingDataModule(CodecDataModule):
    """Windows over one CSV series (``task=forecast``).

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

    codec_class = ForecastingCodec

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
            path=path,
            builtin=builtin,
            root=root,
            test_path=test_path,
            time_column=time_column,
            target=target if isinstance(target, str) else list(target),
            covariates=list(covariates),
            features=features,
            calendar=list(calendar),
            split=list(split),
            input_length=input_length,
            horizon=horizon,
            stride=stride,
            partial_train_windows=partial_train_windows,
            eval_stride=eval_stride,
            scaler=scaler,
            log=log,
            season=season,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            train_path=train_path,
            val_path=val_path,
        )

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the series, fit the scaler on the training rows (unless restored), cut the windows."""
        self.codec.setup(stage)

    def collate(self, windows: List[Window], frame: Optional[Frame] = None) -> WindowBatch:
        return self.codec.collate(windows, frame)

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
            collate_fn=partial(self.codec.collate, frame=self.codec.frames[name]),
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
