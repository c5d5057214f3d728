"""Vocabulary: token <-> id with specials, a minimum frequency, a size cap and unknown handling."""

from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

PAD, UNK = "<pad>", "<unk>"


class Vocabulary:
    """Maps tokens to ids. ``<pad>`` is always id 0; ``<unk>`` (if ``unk``) is id 1; other specials follow.

    Tokens not in the vocabulary map to ``<unk>``; with ``unk=False`` (label maps) they raise KeyError.
    User text is text: ``encode``, ``in`` and ``build`` read tokens of text, in which a word spelt like a control
    symbol (``<pad>``, or a special such as ``<bos>``/``<eos>``) is an ordinary word, unknown (``<unk>``), never the
    symbol; ``<unk>`` in text (Penn Treebank style) is the unknown id. Code that places a control symbol on purpose
    takes its id from ``index`` (``index(EOS)``), which knows every symbol; ``stoi`` maps them all too.
    Serialises to a plain dict (``to_dict`` / ``from_dict``) so checkpoints load with ``weights_only=True``.
    """

    def __init__(self, tokens: Sequence[str] = (), *, specials: Sequence[str] = (), unk: bool = True, pad: bool = True):
        self.unk = unk
        self.pad = pad
        self.specials = list(specials)
        head = ([PAD] if pad else []) + ([UNK] if unk else []) + [s for s in self.specials if s not in (PAD, UNK)]
        self.itos: List[str] = []
        self.stoi: Dict[str, int] = {}
        for token in [*head, *tokens]:
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)
        self._index_text()

    @property
    def controls(self) -> List[str]:
        """The symbols text never produces: ``<pad>`` and the specials other than ``<unk>``."""
        return ([PAD] if self.pad else []) + [s for s in self.specials if s not in (PAD, UNK)]

    def _index_text(self) -> None:
        """``text_stoi``: ``stoi`` without the control symbols, the lookup of text tokens."""
        controls = set(self.controls)
        self.text_stoi: Dict[str, int] = {t: i for t, i in self.stoi.items() if t not in controls}

    @classmethod
    def build(
        cls,
        sequences: Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: Optional[int] = None,
        specials: Sequence[str] = (),
        unk: bool = True,
        pad: bool = True,
    ) -> "Vocabulary":
        """Count tokens; keep those seen ``min_freq`` times, most frequent first (ties: first seen), at most
        ``max_size``. A text token spelt like one of the vocabulary's own symbols (``<pad>``, ``<unk>``, a special) is not learnt:
        it reads as ``<unk>`` (see the class docstring)."""
        counts: Counter = Counter()
        for sequence in sequences:
            counts.update(sequence)
        return cls.from_counts(counts, min_freq=min_freq, max_size=max_size, specials=specials, unk=unk, pad=pad)

    @classmethod
    def from_counts(
        cls,
        counts: Counter,
        *,
        min_freq: int = 1,
        max_size: Optional[int] = None,
        specials: Sequence[str] = (),
        unk: bool = True,
        pad: bool = True,
    ) -> "Vocabulary":
        """``build`` from token counts already made (in the order first seen): one pass over a streamed file can
        count several vocabularies at once (``seqkit.data.streaming``)."""
        owned = set(cls(specials=specials, unk=unk, pad=pad).itos)
        kept = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_freq and t not in owned]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, specials=specials, unk=unk, pad=pad)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        """Whether a text token has an id of its own (a control symbol's spelling does not)."""
        return token in self.text_stoi

    @property
    def unk_index(self) -> Optional[int]:
        return self.stoi[UNK] if self.unk else None

    def index(self, token: str) -> int:
        """The id of one symbol, control symbols included: for code that names them (``index(EOS)``), labels and
        tags; text goes through ``encode``."""
        found = self.stoi.get(token)
        if found is not None:
            return found
        if self.unk:
            return self.stoi[UNK]
        raise KeyError(token)

    def encode(self, tokens: Iterable[str]) -> List[int]:
        """Ids of text tokens: unknown ones and control symbols' spellings are ``<unk>`` (KeyError without unk)."""
        if not self.unk:
            return [self.text_stoi[t] for t in tokens]
        get, unk = self.text_stoi.get, self.stoi[UNK]  # called for every token read
        return [get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> List[str]:
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict:
        return {"itos": list(self.itos), "specials": list(self.specials), "unk": self.unk, "pad": self.pad}

    @classmethod
    def from_dict(cls, state: dict) -> "Vocabulary":
        vocab = cls(specials=state["specials"], unk=state["unk"], pad=state["pad"])
        vocab.itos = list(state["itos"])
        vocab.stoi = {t: i for i, t in enumerate(vocab.itos)}
        vocab._index_text()
        return vocab

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, unk={self.unk})"
