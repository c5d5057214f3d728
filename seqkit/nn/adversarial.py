"""Adversarial perturbation of input embeddings (Goodfellow et al. 2015; Miyato et al. 2017 for text).

Training on embeddings pushed a small step in the direction that most increases the loss makes the
classifier smooth around every training sentence, a strong regulariser when sentences are few.
"""

from __future__ import annotations

import torch
from torch import Tensor


def adversarial_perturbation(loss: Tensor, features: Tensor, epsilon: float) -> Tensor:
    """The step along the loss gradient that adversarial training adds to the input features.

    Args:
        loss: a scalar computed from ``features``; its graph is kept for the caller's own backward.
        features: ``[B, T, D]`` the input features (embeddings) ``loss`` was computed from.
        epsilon: the perturbation's L2 norm, per sequence.

    Returns:
        ``[B, T, D]``, detached: ``epsilon`` times the normalised gradient of each sequence (zero at padding,
        where the gradient is zero).
    """
    (grad,) = torch.autograd.grad(loss, features, retain_graph=True)
    norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (epsilon * grad / norm[:, None, None]).detach()
