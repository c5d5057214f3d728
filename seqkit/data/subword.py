"""Subword units (sentencepiece BPE or unigram) learnt from a training side, kept as the model's bytes.

A checkpoint stores ``to_dict()`` (the kind and the serialized sentencepiece model: plain ``str`` and ``bytes``,
loadable with ``torch.load(weights_only=True)``), so prediction needs nothing but the checkpoint.
Training is deterministic (one thread, every sentence in file order, no sampling) and quiet (sentencepiece's
log stays below warnings). Normalisation is ``identity``: ``decode(encode(text))`` gives back the text
(whitespace runs become one space), so outputs are scored and printed as raw text.
"""

from __future__ import annotations

import io
from typing import Iterable, List, Sequence

SUBWORD_KINDS = ("bpe", "unigram")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:  # a core dependency; this only helps a hand-made environment
        raise ValueError(
            "subword tokens (bpe, unigram) need the sentencepiece package: pip install sentencepiece"
        ) from None
    return sentencepiece


class SubwordModel:
    """A trained sentencepiece model: ``encode(text) -> pieces`` ("▁" marks a word start), ``decode(pieces) -> text``."""

    def __init__(self, kind: str, model: bytes):
        if kind not in SUBWORD_KINDS:
            raise ValueError(f"subword model kind must be one of {SUBWORD_KINDS}, got {kind!r}")
        self.kind, self.model = kind, bytes(model)
        self.processor = _sentencepiece().SentencePieceProcessor(model_proto=self.model)

    @classmethod
    def train(cls, texts: Iterable[str], kind: str, vocab_size: int) -> "SubwordModel":
        """Learn about ``vocab_size`` pieces from ``texts`` (a soft limit: a small corpus gets what it has)."""
        if kind not in SUBWORD_KINDS:
            raise ValueError(f"subword model kind must be one of {SUBWORD_KINDS}, got {kind!r}")
        if vocab_size < 2:
            raise ValueError(f"the subword vocabulary size must be at least 2, got {vocab_size}")
        sentences = [t for t in texts if t.strip()]
        if not sentences:
            raise ValueError("no training text to learn subword units from")
        writer = io.BytesIO()
        _sentencepiece().SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=writer,
            model_type=kind,
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            character_coverage=1.0,
            normalization_rule_name="identity",
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
            bos_id=-1,
            eos_id=-1,
        )  # seqkit's target vocabulary adds its own <bos>/<eos>
        return cls(kind, writer.getvalue())

    def encode(self, text: str) -> List[str]:
        return self.processor.encode(text, out_type=str)

    def decode(self, pieces: Sequence[str]) -> str:
        return self.processor.decode_pieces(list(pieces))

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model": self.model}

    @classmethod
    def from_dict(cls, state: dict) -> "SubwordModel":
        return cls(state["kind"], state["model"])

    def __repr__(self) -> str:
        return f"SubwordModel({self.kind}, {len(self)} pieces)"
