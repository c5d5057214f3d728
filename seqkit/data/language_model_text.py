"""A language model's text <-> ids for generation, without Lightning: prompts, streamed pieces, banned ids.

``LanguageModelingDataModule`` (training) and ``LanguageModelReader`` (generation restored from a checkpoint by
the earlier Lightning-free generation path) share these methods, so both read prompts and write
text alike.
"""

from __future__ import annotations

from typing import Any, List, Mapping

from seqkit.data.classification_input import _Settings
from seqkit.data.notice import log
from seqkit.data.vocab import UNK, Vocabulary
from seqkit.nn.padding import PAD_INDEX

EOS = "<eos>"  # word level: the end of every line


class LanguageModelText:
    """Mixin: needs ``hparams.level`` ("char" | "word") and ``vocab``."""

    @property
    def start_token(self) -> str:
        """What a text is assumed to follow when nothing else is given: a line end."""
        return "\n" if self.hparams.level == "char" else EOS

    def start_index(self) -> int:
        return self.vocab.index(self.start_token)

    def banned_indices(self) -> List[int]:
        """Ids generation never draws: padding, and at char level ``<unk>`` (not a character)."""
        return [PAD_INDEX] + ([self.vocab.stoi[UNK]] if self.hparams.level == "char" else [])

    def encode_prompt(self, prompt: str) -> List[int]:
        """A prompt -> ids, after the start token (a prompt begins a line). Char level: a character the
        training text never had is an error; word level: unknown words become ``<unk>`` (with a notice)."""
        if self.hparams.level == "char":
            missing = sorted({c for c in prompt if c not in self.vocab.stoi})
            if missing:
                raise ValueError(
                    f"prompt: character(s) {''.join(missing)!r} never occur in the training text, so the "
                    f"model cannot read them; use characters of its vocabulary: "
                    f"{''.join(sorted(t for t in self.vocab.itos if len(t) == 1))!r}"
                )
            return [self.start_index(), *self.vocab.encode(list(prompt))]
        words = prompt.split()
        unknown = [w for w in words if w not in self.vocab]  # a word spelt <eos> too
        if unknown:
            log(f"warning: prompt words not in the vocabulary, read as {UNK}: {' '.join(unknown)}")
        return [self.start_index(), *self.vocab.encode(words)]

    def prompt_text(self, prompt: str) -> str:
        """How the prompt is echoed before the generated text."""
        return prompt + " " if self.hparams.level == "word" and prompt.strip() else prompt

    def decode_ids(self, ids: List[int]) -> str:
        """Ids -> text: characters joined, or words joined by spaces with ``<eos>`` as a line end."""
        tokens = self.vocab.decode(ids)
        if self.hparams.level == "char":
            return "".join(tokens)
        return " ".join(tokens).replace(f" {EOS} ", "\n").replace(EOS, "\n")

    def stream_piece(self, index: int) -> str:
        """The text one generated id adds: a character, or a word and a space (a line end for ``<eos>``)."""
        token = self.vocab.itos[index]
        if self.hparams.level == "char":
            return token
        return "\n" if token == EOS else token + " "


class LanguageModelReader(LanguageModelText):
    """The generation half of a LanguageModelingDataModule, rebuilt from a checkpoint's
    ``datamodule_hyper_parameters`` (level) and data-module state (vocabulary) without Lightning."""

    def __init__(self, hparams: Mapping[str, Any], state: Mapping[str, Any]):
        self.hparams = _Settings(hparams)
        self.vocab = Vocabulary.from_dict(state["vocab"])

    @staticmethod
    def supports(state: Mapping[str, Any]) -> bool:
        return "vocab" in state
