"""The encoder-decoder data module: a thin ``CodecDataModule`` over ``Seq2SeqCodec``."""

from __future__ import annotations

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.seq2seq.codec import Seq2SeqCodec


class ParallelDataModule(CodecDataModule):
    """Source/target pairs (``task=g2p``, ``experiment=multi30k``); settings and defaults: ``Seq2SeqCodec``."""

    codec_class = Seq2SeqCodec
