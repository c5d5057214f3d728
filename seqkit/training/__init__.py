"""The Lightning side: ``TaskModule`` (one LightningModule for every shape) and ``CodecDataModule``."""

from seqkit.data.codec_datamodule import CodecDataModule  # noqa: F401
from seqkit.training.module import TaskModule  # noqa: F401
