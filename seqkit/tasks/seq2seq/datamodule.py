"""The encoder-decoder data module: a thin ``CodecDataModule`` over ``Seq2SeqCodec``."""

from __future__ import annotations

from typing import Optional, Sequence

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.seq2seq.codec import Seq2SeqCodec


class ParallelDataModule(CodecDataModule):
    """Source/target pairs (``task=g2p``, ``experiment=multi30k``): see ``Seq2SeqCodec`` for every setting.

    builtin="cmudict": the CMU Pronouncing Dictionary, split by word; or your own ``train_path`` / ``val_path`` /
    ``test_path`` (a ``.tsv`` file, or with ``src_lang`` and ``tgt_lang`` a prefix of line-aligned files).
    Vocabularies and subword models come from the training split only and are kept in the checkpoint.
    """

    codec_class = Seq2SeqCodec

    def __init__(
        self,
        builtin: Optional[str] = None,
        keep_stress: bool = False,
        split: Sequence[float] = (0.9, 0.05, 0.05),
        split_seed: int = 13,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        src_lang: Optional[str] = None,
        tgt_lang: Optional[str] = None,
        source_tokens: str = "char",
        target_tokens: str = "space",
        share_vocab: bool = False,
        subword_vocab_size: int = 8000,
        subword_vocab_size_src: Optional[int] = None,
        subword_vocab_size_tgt: Optional[int] = None,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        group_references: bool = False,
        root: Optional[str] = None,
        batch_size: int = 32,
        eval_batch_size: Optional[int] = None,
        bucketing: bool = True,
        num_workers: int = 0,
    ):
        super().__init__(
            builtin=builtin,
            keep_stress=keep_stress,
            split=list(split),
            split_seed=split_seed,
            train_path=train_path,
            val_path=val_path,
            test_path=test_path,
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            source_tokens=source_tokens,
            target_tokens=target_tokens,
            share_vocab=share_vocab,
            subword_vocab_size=subword_vocab_size,
            subword_vocab_size_src=subword_vocab_size_src,
            subword_vocab_size_tgt=subword_vocab_size_tgt,
            min_freq=min_freq,
            max_vocab_size=max_vocab_size,
            group_references=group_references,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )
