"""The next-step data modules: thin ``CodecDataModule``s over the language-model codecs. Training batches of
``LanguageModelingDataModule`` are truncated-BPTT windows of contiguous streams, in order (never shuffled)."""

from __future__ import annotations

import warnings

from torch.utils.data import DataLoader

from seqkit.data.codec_datamodule import CodecDataModule
from seqkit.tasks.language_model.codec import ConditionalLanguageModelCodec, LanguageModelCodec
from seqkit.tasks.language_model.tbptt import ChunkLoader

# TBPTTChunks shares its batches among the workers itself (ChunkLoader), so Lightning's caution about them does not apply
warnings.filterwarnings("ignore", message=".*IterableDataset.* has `__len__` defined.*")


class LanguageModelingDataModule(CodecDataModule):
    """A language model's text (``task=lm``); settings and defaults: ``LanguageModelCodec``. Its loaders are the
    codec's truncated-BPTT streams (``batch_size`` of them in training, ``eval_batch_size`` in evaluation)."""

    codec_class = LanguageModelCodec

    def prepare_data(self) -> None:
        """Prepare the id files of ``data.prepare`` (``LanguageModelCodec.prepare``) once a machine: Lightning
        calls this on one process before ``setup`` on all, which then finds them prepared."""
        if self.codec.prepared():
            self.codec.prepare()

    def stream_loader(self, name: str, train: bool) -> DataLoader:
        streams = self.batch_size if train else self.eval_batch_size
        chunks = self.codec.chunks(
            self.datasets[name], streams, train, **(self.replicas() if train else {})
        )  # DDP: own streams
        return ChunkLoader(chunks, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self.stream_loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.stream_loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.stream_loader("test", train=False)


class ConditionalLanguageModelingDataModule(CodecDataModule):
    """One-to-many (``task=conditional_lm``); settings and defaults: ``ConditionalLanguageModelCodec``."""

    codec_class = ConditionalLanguageModelCodec
