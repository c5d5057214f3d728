"""The next-step data modules: thin ``CodecDataModule``s over the language-model codecs. Training batches of
``LanguageModelingDataModule`` are truncated-BPTT windows of contiguous streams, in order (never shuffled)."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Sequence

from torch.utils.data import DataLoader

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.language_model.codec import ConditionalLanguageModelCodec, LanguageModelCodec

# TBPTTChunks runs in the main process only (num_workers=0), so Lightning's caution about sharded workers does not apply
warnings.filterwarnings("ignore", message=".*IterableDataset.* has `__len__` defined.*")


class LanguageModelingDataModule(CodecDataModule):
    """A language model's text (``task=lm``): one UTF-8 file per split, read as one token stream.

    level: "char" | "word" (``<eos>`` at line ends, ``<unk>`` below ``min_freq`` / beyond ``max_vocab_size``).
    builtin: "tinyshakespeare" (while ``train_path`` is null): the first 90% trains, the last 10% validates;
    without ``val_path`` the last ``val_fraction`` of the training text is held out (never shuffled).
    bptt: steps a batch (gradients reach at most this far back); bptt_jitter: AWD-LSTM variable lengths.
    batch_size: parallel streams in training; eval_batch_size: in validation and test.
    """

    codec_class = LanguageModelCodec

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        builtin: Optional[str] = None,
        level: str = "char",
        bptt: int = 128,
        bptt_jitter: bool = False,
        val_fraction: float = 0.1,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        seed: int = 0,
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
            level=level,
            bptt=bptt,
            bptt_jitter=bptt_jitter,
            val_fraction=val_fraction,
            min_freq=min_freq,
            max_vocab_size=max_vocab_size,
            seed=seed,
            root=root,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            bucketing=bucketing,
            num_workers=num_workers,
        )

    def stream_loader(self, name: str, train: bool) -> DataLoader:
        streams = self.batch_size if train else self.eval_batch_size
        chunks = self.codec.chunks(
            self.datasets[name], streams, train, **(self.replicas() if train else {})
        )  # DDP: own streams
        return DataLoader(chunks, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self.stream_loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.stream_loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.stream_loader("test", train=False)


class ConditionalLanguageModelingDataModule(CodecDataModule):
    """One-to-many (``task=conditional_lm``): labelled sentences, the classification data module's files and
    splits (built-in sentiment sentences: 80/10/10 stratified, seed 13); each sentence is its own sequence and
    its label the batch's ``condition``. The network gets ``num_conditions`` and ``carry_state=False``."""

    codec_class = ConditionalLanguageModelCodec

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
