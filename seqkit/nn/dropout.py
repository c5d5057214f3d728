"""Dropout with a cheaper mask on CPU: each unit kept with probability 1 - p and scaled by 1 / (1 - p), as in
``nn.Dropout``, but the mask is ``torch.rand(...) >= p``.

torch's CPU dropout draws its mask with ``bernoulli_``, which is much slower than ``rand_like`` at a tagger's
activation sizes ([16, 25, 400]); a tagger step runs three dropouts, so the cheaper mask shows in the step time
(figures: docs/speed.md, "Cheaper steps"). On CUDA torch's fused kernel is kept. The masks are drawn from the same generator,
so ``seed`` still fixes a run, but they differ from ``nn.Dropout``'s: a model switched to this trains like one
with another seed. Used by the tagger and the character encoders; the other shapes keep ``nn.Dropout`` so
their documented figures stay reproducible as measured.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)`` with the mask drawn by ``torch.rand`` on CPU.

    Args:
        x: any shape.
        p: probability of zeroing a unit.
        training: False: ``x`` unchanged. Default: True

    Returns:
        ``x``'s shape: kept units scaled by ``1 / (1 - p)``, the others zero.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training=True)
    keep = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))  # 0 or 1 / (1 - p)
    return x * keep


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask comes from ``torch.rand`` (cheaper than torch's ``bernoulli_``; see the module).

    Args:
        p: probability of zeroing a unit. Default: 0.5
        inplace: accepted for ``nn.Dropout``'s signature; the result is always a new tensor. Default: False

    Inputs: x, any shape (unchanged in eval mode).
    Outputs: ``x`` with units zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``.

    Shape:
        - x: ``[*]``; output: ``[*]``, the same shape
    """

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
