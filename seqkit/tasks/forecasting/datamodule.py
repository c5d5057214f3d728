"""The forecasting data module: a thin ``CodecDataModule`` over ``ForecastingCodec`` (windows over one series)."""

from __future__ import annotations

from functools import partial
from typing import List, Optional

from torch.utils.data import DataLoader

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.data.sampler import ShuffleSampler
from seqkit.data.timeseries import Window
from seqkit.tasks.forecasting.codec import ForecastingCodec, Frame, WindowBatch


class ForecastingDataModule(CodecDataModule):
    """Windows over one CSV series (``task=forecast``); settings and defaults: ``ForecastingCodec``. Training
    windows are shuffled (DDP: each rank its share), evaluation ones kept in time order."""

    codec_class = ForecastingCodec
    loader_settings = ("root", "batch_size", "eval_batch_size", "num_workers")  # no bucketing: one window length

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the series, fit the scaler on the training rows (unless restored), cut the windows; the settings
        the preset or the file decided replace the nulls among the saved hyper-parameters."""
        self.codec.setup(stage)
        self.save_hyperparameters({**self.hparams, **self.codec.resolved_settings()})  # the checkpoint's, the logs'

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
