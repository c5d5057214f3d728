"""Character-level word encoders: one vector per token from its characters (for OOV and morphology).

Both encoders take the batch's ``chars`` [B, T, C] (PAD_INDEX 0 padded) and ``char_lengths`` [B, T]
(0 at padded tokens) and return [B, T, output_dim]. They are padding-correct: a word's vector does not
depend on how much character or token padding surrounds it, and padded tokens get a zero vector. Only
the real words are encoded: the [B*T] words are flattened, the ones with length > 0 are run (trimmed to
the longest of them) and the results are scattered back into a zero tensor.
"""

from __future__ import annotations

import inspect
import math
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqkit.nn.dropout import Dropout
from seqkit.nn.padding import PAD_INDEX


def _check(chars: Tensor, char_lengths: Tensor) -> None:
    if chars.dim() != 3 or char_lengths.shape != chars.shape[:2]:
        raise ValueError(
            f"expected chars [B, T, C] and char_lengths [B, T], got {tuple(chars.shape)} and {tuple(char_lengths.shape)}"
        )


def _real_words(chars: Tensor, char_lengths: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Flatten to words and keep the real ones: (indices [N] into B*T, chars [N, C'], lengths [N]), C' = longest."""
    flat_chars = chars.reshape(-1, chars.size(-1))
    flat_lengths = char_lengths.reshape(-1)
    index = (flat_lengths > 0).nonzero(as_tuple=True)[0]
    lengths = flat_lengths.index_select(0, index)
    longest = int(lengths.max()) if index.numel() else 0
    return index, flat_chars.index_select(0, index)[:, :longest], lengths


def _scatter(encoded: Tensor, index: Tensor, batch: int, tokens: int) -> Tensor:
    """[N, D] vectors of the real words -> [B, T, D] with zeros at padded tokens (differentiable)."""
    out = encoded.new_zeros(batch * tokens, encoded.size(-1)).index_copy(0, index, encoded)
    return out.view(batch, tokens, -1)


def _init_embedding(embedding: nn.Embedding) -> None:
    """Uniform(-sqrt(3/dim), sqrt(3/dim)) as in Ma & Hovy (2016); the padding row stays zero."""
    bound = math.sqrt(3.0 / embedding.embedding_dim)
    with torch.no_grad():
        embedding.weight.uniform_(-bound, bound)
        embedding.weight[PAD_INDEX].zero_()


class _WordEncoder(nn.Module):
    """What both encoders share: a character embedding (uniform init, ``_init_embedding``) with dropout, and a
    forward that embeds the real words' characters, has the subclass ``encode`` them (``[N, C', E]`` and lengths
    ``[N]`` -> ``[N, output_dim]``) and puts the vectors back in place, zeros at padded tokens."""

    def __init__(self, num_chars: int, embedding_dim: int, dropout: float, output_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=PAD_INDEX)
        _init_embedding(self.embedding)
        self.dropout = Dropout(dropout)
        self.output_dim = output_dim

    def encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        """[B, T, C] char ids, [B, T] lengths -> [B, T, output_dim]."""
        _check(chars, char_lengths)
        batch, tokens = char_lengths.shape
        index, words, lengths = _real_words(chars, char_lengths)
        if index.numel() == 0:
            return self.embedding.weight.new_zeros(batch, tokens, self.output_dim)
        x = self.dropout(self.embedding(words))  # [N, C', E]
        return _scatter(self.encode(x, lengths), index, batch, tokens)


class CharCNN(_WordEncoder):
    """One vector per word from its characters, as in Ma & Hovy (2016): embed -> dropout -> Conv1d -> max.

    Padding characters embed to zeros (``padding_idx=0``), the same as the conv's own zero padding, and conv
    outputs past the word's length are -inf before the max: a word gives the same vector alone or padded in a
    batch. ``kernel_size`` is odd so the windows are centred.

    Args:
        num_chars: size of the character vocabulary (id 0: padding).
        embedding_dim: character embedding size E. Default: 30
        num_filters: convolution filters F, the output size. Default: 50
        kernel_size: characters per window, odd. Default: 3
        dropout: on the character embeddings. Default: 0.5

    Inputs: chars, char_lengths
        - chars: character ids of every token, padded with 0.
        - char_lengths: characters of every token (0 at padded tokens).

    Outputs: one vector per token, zero at padded tokens.

    Shape:
        - chars: ``[B, T, C]`` long; char_lengths: ``[B, T]``
        - output: ``[B, T, num_filters]``
    """

    def __init__(
        self,
        num_chars: int,
        embedding_dim: int = 30,
        num_filters: int = 50,
        kernel_size: int = 3,
        dropout: float = 0.5,
    ):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        super().__init__(num_chars, embedding_dim, dropout, num_filters)
        self.conv = nn.Conv1d(embedding_dim, num_filters, kernel_size, padding=kernel_size // 2)

    def encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        """[N, C', E] embedded characters, [N] lengths -> [N, num_filters]."""
        x = self.conv(x.transpose(1, 2))  # [N, F, C']
        padded = torch.arange(x.size(2), device=x.device)[None, :] >= lengths[:, None]  # [N, C']
        x = x.masked_fill(padded[:, None, :], float("-inf"))
        return x.max(dim=2).values


class CharLSTM(_WordEncoder):
    """One vector per word from its characters, as in Lample et al. (2016): embed -> dropout -> BiLSTM over the
    word -> [final forward; final backward].

    Words are packed by length, so padding characters never enter the LSTM; padded tokens (length 0) are not
    run at all and get zeros. ``dropout`` is on the character embeddings (Lample et al. put it on the full word
    representation, which the word-level model does).

    Args:
        num_chars: size of the character vocabulary (id 0: padding).
        embedding_dim: character embedding size. Default: 25
        hidden_size: hidden size H of each direction. Default: 25
        dropout: on the character embeddings. Default: 0.0

    Inputs: chars, char_lengths
        - chars: character ids of every token, padded with 0.
        - char_lengths: characters of every token (0 at padded tokens).

    Outputs: one vector per token, zero at padded tokens.

    Shape:
        - chars: ``[B, T, C]`` long; char_lengths: ``[B, T]``
        - output: ``[B, T, 2 * hidden_size]``
    """

    def __init__(self, num_chars: int, embedding_dim: int = 25, hidden_size: int = 25, dropout: float = 0.0):
        super().__init__(num_chars, embedding_dim, dropout, 2 * hidden_size)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)

    def encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        """[N, C', E] embedded characters, [N] lengths -> [N, 2 * hidden_size]."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: [2, N, H], already in the input order
        return torch.cat([h_n[0], h_n[1]], dim=-1)


class ConcatCharEncoder(nn.Module):
    """Several character encoders side by side, their vectors concatenated: ``cnn+lstm`` is the CNN of Ma & Hovy
    (2016) beside the BiLSTM of Lample et al. (2016), each with its own character embedding.

    Args:
        encoders: name -> encoder (``CharCNN``, ``CharLSTM``), in the order of their vectors.

    Inputs: chars, char_lengths
        - chars: character ids of every token, padded with 0.
        - char_lengths: characters of every token (0 at padded tokens).

    Outputs: one vector per token, each encoder's in turn, zero at padded tokens.

    Shape:
        - chars: ``[B, T, C]`` long; char_lengths: ``[B, T]``
        - output: ``[B, T, sum of the encoders' output_dim]``
    """

    def __init__(self, encoders: Dict[str, nn.Module]):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.output_dim = sum(e.output_dim for e in self.encoders.values())

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        return torch.cat([encoder(chars, char_lengths) for encoder in self.encoders.values()], dim=-1)


ENCODERS = {"cnn": CharCNN, "lstm": CharLSTM}


def build_char_encoder(kind: Optional[str], num_chars: int, **kwargs) -> Optional[nn.Module]:
    """The character encoder a config names.

    Args:
        kind: "none" (or None), "cnn" (``CharCNN``), "lstm" (``CharLSTM``) or both joined by "+" ("cnn+lstm":
            ``ConcatCharEncoder``), any case.
        num_chars: size of the character vocabulary.
        **kwargs: the encoder's other constructor arguments; for "cnn+lstm", each one's under its name
            (``cnn={"num_filters": 30}, lstm={"hidden_size": 25}``).

    Returns:
        the encoder (its ``output_dim`` is the vector size), or None for "none".
    """
    name = "none" if kind is None else str(kind).lower()
    if name == "none":
        return None
    if name in ENCODERS:
        return ENCODERS[name](num_chars, **kwargs)
    parts = name.split("+")
    if len(parts) < 2 or len(set(parts)) != len(parts) or not set(parts) <= set(ENCODERS):
        raise ValueError(f"unknown char encoder {kind!r}: expected 'none', 'cnn', 'lstm' or 'cnn+lstm'")
    stray = sorted(set(kwargs) - set(parts))
    if stray:
        key = stray[0]
        owner = next((p for p in parts if key in inspect.signature(ENCODERS[p]).parameters), parts[0])
        raise ValueError(
            f"char encoder {name} takes each encoder's options under its name: "
            f"++model.char.{owner}.{key}={kwargs[key]}, not model.char.{key}"
        )
    return ConcatCharEncoder({part: ENCODERS[part](num_chars, **dict(kwargs.get(part) or {})) for part in parts})
