"""The toy shape's data module: a thin CodecDataModule over CountCodec."""

from __future__ import annotations

from seqkit.data.codec_datamodule import CodecDataModule
from toyshape.codec import CountCodec


class CountDataModule(CodecDataModule):
    """Settings and defaults: ``CountCodec``."""

    codec_class = CountCodec
