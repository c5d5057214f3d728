"""A class-conditional language model's classes and text <-> ids for generation, without Lightning.

``ConditionalLanguageModelingDataModule`` (training) and ``ConditionalLanguageModelReader`` (generation
restored from a checkpoint by the earlier generation path) share these methods, so both read ``condition=`` and
prompts and write text alike.
"""

from __future__ import annotations

from typing import Any, List, Mapping

from seqkit.data.classification_input import _Settings, restore_tokenizer
from seqkit.data.language_model_text import EOS
from seqkit.data.notice import log
from seqkit.data.vocab import Vocabulary
from seqkit.nn.padding import PAD_INDEX


class ConditionalText:
    """Mixin: needs ``tokenizer``, ``vocab`` (words, with ``<eos>``) and ``labels`` (the classes)."""

    def condition_names(self) -> List[str]:
        return list(self.labels.itos)

    def condition_name(self, index: int) -> str:
        return self.labels.itos[index]

    def condition_index(self, name: str) -> int:
        if name not in self.labels:
            raise ValueError(f"condition={name} is not a class of this model; choose one of {self.labels.itos}")
        return self.labels.index(name)

    def start_index(self) -> int:
        return self.vocab.index(EOS)

    def banned_indices(self) -> List[int]:
        return [PAD_INDEX]

    def encode_prompt(self, prompt: str) -> List[int]:
        """A prompt -> word ids after ``<eos>`` (a sentence start); unknown words become ``<unk>`` (with a notice)."""
        words = self.tokenizer(prompt) if prompt.strip() else []
        unknown = [w for w in words if w not in self.vocab]
        if unknown:
            log(f"warning: prompt words not in the vocabulary, read as <unk>: {' '.join(unknown)}")
        return [self.start_index(), *self.vocab.encode(words)]

    def prompt_text(self, prompt: str) -> str:
        return " ".join(self.tokenizer(prompt)) + " " if prompt.strip() else ""

    def decode_ids(self, ids: List[int]) -> str:
        return " ".join(self.vocab.decode(ids)).replace(f" {EOS} ", "\n").replace(EOS, "\n")

    def stream_piece(self, index: int) -> str:
        token = self.vocab.itos[index]
        return "\n" if token == EOS else token + " "


class ConditionalLanguageModelReader(ConditionalText):
    """The generation half of a ConditionalLanguageModelingDataModule, rebuilt from a checkpoint's
    ``datamodule_hyper_parameters`` and data-module state (vocabulary, classes, tokeniser) without Lightning."""

    def __init__(self, hparams: Mapping[str, Any], state: Mapping[str, Any]):
        self.hparams = _Settings(hparams)
        self.tokenizer = restore_tokenizer(hparams, state)
        self.vocab = Vocabulary.from_dict(state["vocab"])
        self.labels = Vocabulary.from_dict(state["labels"])

    @staticmethod
    def supports(state: Mapping[str, Any]) -> bool:
        return "pretrained" not in state and "vocab" in state and "labels" in state
