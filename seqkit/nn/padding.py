"""The one home of the padding convention: the padding id and the mask derived from lengths.

Every seqkit Vocabulary puts ``<pad>`` at id ``PAD_INDEX`` and ``<unk>`` at ``UNK_INDEX``; batches carry
``lengths [B]`` and every mask is derived from them here (``seqkit.data.batch`` re-exports both).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

PAD_INDEX = 0  # <pad>: the padding id of every vocabulary (embeddings keep its row at zero)
UNK_INDEX = 1  # <unk>: unknown tokens, when the vocabulary has one


def lengths_to_mask(lengths: Tensor, max_len: Optional[int] = None) -> Tensor:
    """The padding mask of a batch, derived from its lengths (the one place masks come from).

    Args:
        lengths: ``[B]`` each sequence's true length.
        max_len: T, the padded length. Default: None (the longest of ``lengths``)

    Returns:
        ``[B, T]`` bool, True at real positions.
    """
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence within its own length; padded positions stay in place. Its own inverse: it turns a
    backward-direction pass into a forward loop and back.

    Args:
        x: ``[B, T, D]`` padded sequences.
        lengths: ``[B]`` their true lengths.

    Returns:
        ``[B, T, D]``.
    """
    batch, steps = x.shape[:2]
    positions = torch.arange(steps, device=x.device)[None, :].expand(batch, steps)
    index = torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)
    return x.gather(1, index[:, :, None].expand_as(x))
