"""The many-to-many aligned data modules: thin ``CodecDataModule``s over the tagging codecs."""

from __future__ import annotations

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.tagging.codec import CopyMemoryCodec, TaggingCodec


class TaggingDataModule(CodecDataModule):
    """Tagged sentences, CoNLL or CoNLL-U (``task=ner``, ``task=pos``); settings and defaults: ``TaggingCodec``."""

    codec_class = TaggingCodec


class CopyMemoryDataModule(CodecDataModule):
    """Copy memory (``task=copy_memory``); settings and defaults: ``CopyMemoryCodec``."""

    codec_class = CopyMemoryCodec
