"""The many-to-many aligned data modules: thin ``CodecDataModule``s over the tagging codecs."""

from __future__ import annotations

from typing import Optional, Union

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.tagging.codec import CopyMemoryCodec, TaggingCodec


class TaggingDataModule(CodecDataModule):
    """Tagged sentences from CoNLL column files (``format="conll"``) or CoNLL-U (``"conllu"``).

    builtin: "wnut17" (NER) or "ud_english_ewt" (UPOS), used while ``train_path`` is null.
    label_column: which column holds the tags (an index, negative from the end; CoNLL-U also takes
        "upos" / "xpos"). scheme: "iob2" / "iobes" (entity tags; IOB1 input is detected and converted,
        invalid I- tags are errors when ``strict``) or "none" (any tags: POS, chunks).
    lowercase / zero_digits: normalise words before the word vocabulary (characters keep the raw word).
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file: every word they cover is read through its
        vector, at training and at any later time (validation, test, prediction), while the vocabulary
        of trainable corrections comes from the training split only (seqkit.data.pretrained).
    max_word_length: characters per word given to the character encoder (longer words are cut for
        the character features only; the word itself is kept).
    """

    codec_class = TaggingCodec

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        builtin: Optional[str] = None,
        format: str = "conll",
        token_column: int = 0,
        label_column: Union[int, str] = -1,
        scheme: str = "iob2",
        strict: bool = True,
        lowercase: bool = False,
        zero_digits: bool = False,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        max_word_length: Optional[int] = 40,
        pretrained: Optional[str] = None,
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
            builtin=builtin,
            format=format,
            token_column=token_column,
            label_column=label_column,
            scheme=scheme,
            strict=strict,
            lowercase=lowercase,
            zero_digits=zero_digits,
            min_freq=min_freq,
            max_vocab_size=max_vocab_size,
            max_word_length=max_word_length,
            pretrained=pretrained,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )


class CopyMemoryDataModule(CodecDataModule):
    """``task=copy_memory``: aligned many-to-many over ``alphabet + 3`` token ids, generated from ``seed`` (train:
    seed, val: seed + 1, test: seed + 2); the tags are the symbols ``"0" .. str(alphabet - 1)``, scored on the
    answer steps only."""

    codec_class = CopyMemoryCodec

    def __init__(
        self,
        length: int = 50,
        symbols: int = 10,
        alphabet: int = 8,
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
            symbols=symbols,
            alphabet=alphabet,
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
