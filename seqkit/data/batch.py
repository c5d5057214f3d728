"""The batch contract: padded tensors plus lengths; the mask is derived from lengths, never stored twice."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable, List, Optional, Sequence

import torch
from torch import Tensor

from seqkit.nn.padding import PAD_INDEX, lengths_to_mask  # noqa: F401 (re-exported: the one home is seqkit.nn.padding)

IGNORE_INDEX = -100  # label value at padded positions; torch's cross_entropy skips it


class DeviceMovable:
    """``to(device)`` for the batch dataclasses. Lightning moves an object that has a ``to`` method as one piece;
    without one, it deep-copies the dataclass every training step (a seq2seq batch's reference strings included).
    Tensor fields move, the others are shared, and the batch itself comes back when every tensor is there already."""

    def to(self, device: Any, non_blocking: bool = False):
        device = torch.device(device)
        moved = {
            f.name: value.to(device, non_blocking=non_blocking)
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), Tensor) and value.device != device
        }
        return replace(self, **moved) if moved else self


@dataclass
class Batch(DeviceMovable):
    """A padded mini-batch.

    tokens:       [B, T] long token ids, padded with PAD_INDEX; None when the inputs are ``features``
    lengths:      [B] long, true length of each sequence (>= 1): the batch size and the mask come from it
    index:        [B] long, position of each example in its data set (to put predictions back in order)
    labels:       [B] (one label a sequence) or [B, T] (one label a token, IGNORE_INDEX at padding); or None
    chars:        [B, T, C] long character ids of each token, PAD_INDEX padded; or None
    char_lengths: [B, T] long number of characters of each token (0 at padded tokens); or None
    condition:    [B] long class each sequence is generated from (one-to-many); or None
    features:     [B, T, F] float real-valued inputs (tasks without a vocabulary, e.g. the adding problem); or None
    """

    tokens: Optional[Tensor]
    lengths: Tensor
    index: Tensor
    labels: Optional[Tensor] = None
    chars: Optional[Tensor] = None
    char_lengths: Optional[Tensor] = None
    condition: Optional[Tensor] = None
    features: Optional[Tensor] = None

    @property
    def mask(self) -> Tensor:
        """[B, T] bool, True at real tokens."""
        return lengths_to_mask(self.lengths, (self.tokens if self.tokens is not None else self.features).size(1))

    def __len__(self) -> int:
        return self.lengths.size(0)


def pad(sequences: Sequence[Sequence[int]], value: int = PAD_INDEX) -> Tensor:
    """Right-pad lists of ints into a [B, T] long tensor."""
    lengths = lengths_of(sequences)
    out = torch.full((len(sequences), int(lengths.max())), value, dtype=torch.long)
    out[lengths_to_mask(lengths, out.size(1))] = torch.tensor([i for s in sequences for i in s], dtype=torch.long)
    return out  # one copy of all ids (row-major order = the mask's), not one small tensor a sequence


def pad_chars(words: Sequence[Sequence[Sequence[int]]]) -> tuple:
    """Per-sentence lists of per-token char ids -> ([B, T, C] chars, [B, T] char lengths)."""
    batch, longest = len(words), max(len(s) for s in words)
    longest_word = max(len(w) for s in words for w in s)
    chars = torch.full((batch, longest, longest_word), PAD_INDEX, dtype=torch.long)
    char_lengths = torch.zeros(batch, longest, dtype=torch.long)
    for i, sentence in enumerate(words):
        for j, word in enumerate(sentence):
            chars[i, j, : len(word)] = torch.as_tensor(word, dtype=torch.long)
            char_lengths[i, j] = len(word)
    return chars, char_lengths


def lengths_of(sequences: Sequence[Sequence]) -> Tensor:
    return torch.tensor([len(s) for s in sequences], dtype=torch.long)


def collate_indices(indices: List[int]) -> Tensor:
    return torch.tensor(indices, dtype=torch.long)


def encode_records(
    encode: Callable[[List[Any], str], List[Any]], records: List[Any], real: Callable[[Any], bool], source: str
) -> List[Any]:
    """Prediction input: ``encode`` the records for which ``real(record)`` (a blank line or empty sentence
    still gets its output record, empty), each example's ``index`` set to its record's position, so outputs
    go back to input order whatever batches they were sorted into."""
    wanted = [k for k, r in enumerate(records) if real(r)]
    examples = encode([records[k] for k in wanted], source)
    for example, k in zip(examples, wanted):
        example.index = k
    return examples
