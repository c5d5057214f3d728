"""The many-to-one data modules: thin ``CodecDataModule``s over the classification codecs."""

from __future__ import annotations

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.classification.codec import AddingCodec, ClassificationCodec


class ClassificationDataModule(CodecDataModule):
    """Texts with one label each (``task=sentiment``); settings and defaults: ``ClassificationCodec``."""

    codec_class = ClassificationCodec


class AddingDataModule(CodecDataModule):
    """The adding problem (``task=adding``); settings and defaults: ``AddingCodec``."""

    codec_class = AddingCodec
