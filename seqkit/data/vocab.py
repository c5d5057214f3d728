"""Vocabulary: token <-> id with specials, a minimum frequency, a size cap and unknown handling."""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

PAD, UNK = "<pad>", "<unk>"


class Vocabulary:
    """Maps tokens to ids. ``<pad>`` is always id 0; ``<unk>`` (if ``unk``) is id 1; other specials follow.

    Tokens not in the vocabulary map to ``<unk>``; with ``unk=False`` (label maps) they raise KeyError.
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
        """Count tokens; keep those seen ``min_freq`` times, most frequent first (ties: first seen), at most ``max_size``."""
        counts = Counter(token for sequence in sequences for token in sequence)
        kept = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_freq]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, specials=specials, unk=unk, pad=pad)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    @property
    def unk_index(self) -> Optional[int]:
        return self.stoi[UNK] if self.unk else None

    def index(self, token: str) -> int:
        found = self.stoi.get(token)
        if found is not None:
            return found
        if self.unk:
            return self.stoi[UNK]
        raise KeyError(token)

    def encode(self, tokens: Iterable[str]) -> List[int]:
        if not self.unk:
            return [self.index(t) for t in tokens]
        get, unk = self.stoi.get, self.stoi[UNK]  # index() inlined: called for every token read
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
        return vocab

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, unk={self.unk})"
