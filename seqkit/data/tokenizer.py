"""A small configurable tokeniser, stored in checkpoints as a plain dict."""

from __future__ import annotations

import re
from typing import List

_PATTERNS = {
    "whitespace": None,
    # words (letters, digits, apostrophes inside words) or single punctuation marks
    "words": re.compile(r"\w+(?:['’]\w+)*|[^\w\s]"),
}


class Tokenizer:
    """Split text into tokens: ``mode='whitespace'`` (pre-tokenised text, e.g. SST-2) or ``'words'``
    (word characters vs. punctuation); ``lowercase`` folds case first."""

    def __init__(self, mode: str = "words", lowercase: bool = True):
        if mode not in _PATTERNS:
            raise ValueError(f"unknown tokenizer mode {mode!r}; choose one of {sorted(_PATTERNS)}")
        self.mode = mode
        self.lowercase = lowercase

    def __call__(self, text: str) -> List[str]:
        if self.lowercase:
            text = text.lower()
        pattern = _PATTERNS[self.mode]
        return text.split() if pattern is None else pattern.findall(text)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, state: dict) -> "Tokenizer":
        return cls(**state)

    def __repr__(self) -> str:
        return f"Tokenizer(mode={self.mode!r}, lowercase={self.lowercase})"
