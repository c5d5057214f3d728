"""The casing feature of a word (Collobert et al. 2011; Reimers & Gurevych 2017): one of eight classes, embedded.

Lower-cased pretrained vectors (GloVe 6B) lose a word's casing, which is a strong hint of a name. The class is
computed inside the network from the character ids the batch already carries, with tensor operations only (so
it traces into an exported graph): a buffer gives each character id its kind (``char_kinds``: lower, upper,
digit or other), and the counts of each kind over a word's characters give its class, in this order of
precedence (the first rule that holds):

    padding         a padded token (no characters)
    numeric         every character is a digit                          "1996"
    mainly_numeric  more than half of the characters are digits         "3-2", "F16"
    all_lower       some lower-case letter and no upper-case one         "word", "e-mail"
    all_upper       some upper-case letter and no lower-case one         "EU", "U.S."
    initial_upper   the first character is upper-case                    "Paris", "McDonald"
    contains_digit  some digit                                           "iPhone4", "-2-"
    other           anything else                                        "iPhone", "--"

These are Python's ``str.isdigit`` / ``islower`` / ``isupper`` / ``word[0].isupper()`` rules of Reimers &
Gurevych's code, taken character by character. A character the training data never had reads as ``<unk>``,
whose kind is "other"; a word's characters past ``data.max_word_length`` are not seen.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from seqkit.nn.padding import PAD_INDEX

CASING_CLASSES = (
    "padding",
    "numeric",
    "mainly_numeric",
    "all_lower",
    "all_upper",
    "initial_upper",
    "contains_digit",
    "other",
)
PADDING, NUMERIC, MAINLY_NUMERIC, ALL_LOWER, ALL_UPPER, INITIAL_UPPER, CONTAINS_DIGIT, OTHER = range(8)
NO_CHAR, LOWER, UPPER, DIGIT, OTHER_CHAR = range(5)  # the kinds of ``char_kinds``


def char_kinds(alphabet: Sequence[str]) -> Tensor:
    """The kind of every character id of a character vocabulary.

    Args:
        alphabet: the vocabulary's ``itos`` (``<pad>`` at ``PAD_INDEX``; entries longer than one character, such
            as ``<unk>``, are "other").

    Returns:
        ``[len(alphabet)]`` long: NO_CHAR (padding), LOWER, UPPER, DIGIT or OTHER_CHAR.
    """

    def kind(i: int, c: str) -> int:
        if i == PAD_INDEX:
            return NO_CHAR
        if len(c) != 1:
            return OTHER_CHAR
        if c.isdigit():
            return DIGIT
        return LOWER if c.islower() else UPPER if c.isupper() else OTHER_CHAR

    return torch.tensor([kind(i, c) for i, c in enumerate(alphabet)], dtype=torch.long)


def casing_classes(chars: Tensor, char_lengths: Tensor, kinds: Tensor) -> Tensor:
    """Each token's casing class (an index of ``CASING_CLASSES``) from its character ids.

    Args:
        chars: ``[B, T, C]`` character ids, padded with ``PAD_INDEX``.
        char_lengths: ``[B, T]`` characters of each token (0 at padded tokens).
        kinds: ``[num_chars]`` the kind of each character id (``char_kinds``).

    Returns:
        ``[B, T]`` long.
    """
    kind = kinds[chars]  # [B, T, C]
    digits = (kind == DIGIT).long().sum(-1)
    upper = (kind == UPPER).long().sum(-1)
    lower = (kind == LOWER).long().sum(-1)
    first_upper = (kind[..., :1] == UPPER).any(-1)  # [..., :1]: also a batch of no characters at all
    n = char_lengths.long()
    classes = torch.full_like(n, OTHER)  # from the last rule to the first: a later one wins
    for rule, holds in (
        (CONTAINS_DIGIT, digits > 0),
        (INITIAL_UPPER, first_upper),
        (ALL_UPPER, (upper > 0) & (lower == 0)),
        (ALL_LOWER, (lower > 0) & (upper == 0)),
        (MAINLY_NUMERIC, 2 * digits > n),
        (NUMERIC, digits == n),
        (PADDING, n == 0),
    ):
        classes = classes.masked_fill(holds, rule)
    return classes


class CasingEmbedding(nn.Module):
    """Each token's casing class (``casing_classes``), embedded by a small trainable table (the padding row
    stays zero).

    Args:
        num_chars: the character vocabulary.
        dim: the vector size D. Default: 8
        kinds: ``[num_chars]`` the kind of each character id (``char_kinds`` of the codec's characters); a
            persistent buffer, so a checkpoint keeps the kinds it was trained with. Default: None (zeros, to be
            filled by ``load_state_dict``)

    Inputs: chars, char_lengths
        - chars: character ids of every token, padded with 0.
        - char_lengths: characters of every token (0 at padded tokens).

    Outputs: one vector per token, zero at padded tokens.

    Shape:
        - chars: ``[B, T, C]`` long; char_lengths: ``[B, T]``
        - output: ``[B, T, dim]``
    """

    def __init__(self, num_chars: int, dim: int = 8, kinds: Optional[Tensor] = None):
        super().__init__()
        if kinds is None:
            kinds = torch.zeros(num_chars, dtype=torch.long)
        if tuple(kinds.shape) != (num_chars,):
            raise ValueError(f"kinds is {tuple(kinds.shape)}, expected ({num_chars},)")
        self.register_buffer("kinds", kinds.long().clone())
        self.embedding = nn.Embedding(len(CASING_CLASSES), dim, padding_idx=PADDING)
        self.output_dim = dim

    def classes(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        """``[B, T]`` casing classes."""
        return casing_classes(chars, char_lengths, self.kinds)

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        return self.embedding(self.classes(chars, char_lengths))
