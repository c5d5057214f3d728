"""The many-to-one data modules: thin ``CodecDataModule``s over the classification codecs."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.classification.codec import AddingCodec, ClassificationCodec


class ClassificationDataModule(CodecDataModule):
    """Texts with one label each (``task=sentiment``).

    Either ``builtin="sentiment_labelled"`` (shipped data, split ``split`` = train/val/test fractions with
    ``split_seed``, stratified by label), or your own files: ``train_path`` (required), ``val_path`` (if
    missing, a stratified ``split[1]`` share of train is held out), ``test_path`` (optional), all in ``format``.
    The vocabulary (``min_freq``, ``max_vocab_size``) and label set come from the training split only.
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file. char_features: batches also carry characters.
    """

    codec_class = ClassificationCodec

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        format: str = "text_tab_label",
        builtin: Optional[str] = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 13,
        tokenizer: Optional[Dict[str, Any]] = None,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        pretrained: Optional[str] = None,
        char_features: bool = False,
        root: Optional[str] = None,
        batch_size: int = 32,
        eval_batch_size: Optional[int] = None,
        bucketing: bool = True,
        num_workers: int = 0,
    ):
        super().__init__(
            train_path=train_path,
            val_path=val_path,
            test_path=test_path,
            format=format,
            builtin=builtin,
            split=list(split),
            split_seed=split_seed,
            tokenizer=tokenizer,
            min_freq=min_freq,
            max_vocab_size=max_vocab_size,
            pretrained=pretrained,
            char_features=char_features,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )


class AddingDataModule(CodecDataModule):
    """``task=adding``: many-to-one regression on real-valued inputs [B, T, 2] (``Batch.features``), generated
    from ``seed`` (train: seed, val: seed + 1, test: seed + 2); the network gets ``input_size=2`` and
    ``target_mean``, the training targets' mean (its predict-the-mean baseline)."""

    codec_class = AddingCodec

    def __init__(
        self,
        length: int = 100,
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 0,
        seed: int = 0,
        root: Optional[str] = None,
        batch_size: int = 32,
        eval_batch_size: Optional[int] = None,
        bucketing: bool = True,
        num_workers: int = 0,
    ):
        super().__init__(
            length=length,
            train_size=train_size,
            val_size=val_size,
            test_size=test_size,
            seed=seed,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )
