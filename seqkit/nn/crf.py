"""Linear-chain conditional random field (CRF) as a plain ``torch.nn.Module``.

For a sentence of length ``L`` with emission scores ``e[t, k]`` (from an encoder) and a tag path
``y_1 .. y_L`` the CRF scores the path as

    score(y) = start[y_1] + sum_{t=1..L} e[t, y_t] + sum_{t=2..L} transitions[y_{t-1}, y_t] + end[y_L]

and defines ``p(y | x) = exp(score(y)) / Z`` with the partition function ``Z = sum_y exp(score(y))``.
``log Z`` is computed with the forward algorithm (``logsumexp`` recursion), the best path with the
Viterbi algorithm (``max`` recursion plus backpointers).

Conventions used throughout:

* ``emissions``: ``[B, T, K]`` float (float32 or float64, any device),
* ``mask``: ``[B, T]`` bool, left-aligned (True for the first ``length`` positions, every length >= 1),
* ``tags``: ``[B, T]`` long; values at padded positions are ignored (they may be e.g. ``-100``).

Hard constraints (e.g. the IOB2 grammar, see :func:`iob_constraints`) are implemented by adding a
fixed penalty of ``-10000`` to the scores of disallowed moves; the penalties are registered buffers,
so they follow ``.to(device)`` and are saved in ``state_dict``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

__all__ = ["CRF", "iob_constraints", "CONSTRAINT_PENALTY"]

#: Score added to disallowed transitions / start / end tags.
CONSTRAINT_PENALTY = -10000.0


class CRF(nn.Module):
    """Linear-chain CRF over ``num_tags`` tags: a score for every tag path, trained by ``nll``, decoded by Viterbi.

    Learnable parameters: ``transitions`` ``[K, K]`` (score of moving from tag ``i`` to tag ``j``),
    ``start`` ``[K]`` and ``end`` ``[K]`` (scores of the first / last tag of a sentence). ``nll`` (the
    training loss), ``log_partition``, ``score`` and ``viterbi`` take the same emissions and mask.

    Args:
        num_tags: number of tags ``K``.
        constraints: ``(allowed [K, K] bool, allowed_start [K] bool, allowed_end [K] bool)``, e.g.
            :func:`iob_constraints`; disallowed moves get :data:`CONSTRAINT_PENALTY` added to their score.
            Stored as buffers ``transition_penalty``, ``start_penalty``, ``end_penalty`` (all zeros without
            constraints, so state dicts of constrained and unconstrained CRFs have the same keys). Default: None

    Inputs: emissions, mask
        - emissions: per-token tag scores from an encoder (float32 or float64, any device).
        - mask: bool, left-aligned: True for the first ``length`` positions, every length >= 1.

    Outputs: the best tag path of each sentence (Viterbi), 0 at padding.

    Shape:
        - emissions: ``[B, T, K]``; mask: ``[B, T]``; tags (``nll``, ``score``): ``[B, T]`` long
        - output: ``[B, T]`` long; ``log_partition``, ``score``, ``nll(reduction="none")``: ``[B]``
    """

    def __init__(self, num_tags: int, constraints: Optional[Tuple[Tensor, Tensor, Tensor]] = None):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.start = nn.Parameter(torch.empty(num_tags))
        self.end = nn.Parameter(torch.empty(num_tags))
        self.reset_parameters()

        k = num_tags
        if constraints is None:
            allowed = torch.ones(k, k, dtype=torch.bool)
            allowed_start = torch.ones(k, dtype=torch.bool)
            allowed_end = torch.ones(k, dtype=torch.bool)
        else:
            allowed, allowed_start, allowed_end = (torch.as_tensor(c, dtype=torch.bool) for c in constraints)
            if allowed.shape != (k, k) or allowed_start.shape != (k,) or allowed_end.shape != (k,):
                raise ValueError(
                    f"constraints must have shapes ({k},{k}), ({k},), ({k},); got "
                    f"{tuple(allowed.shape)}, {tuple(allowed_start.shape)}, {tuple(allowed_end.shape)}"
                )
        self.register_buffer("transition_penalty", _penalty(allowed))
        self.register_buffer("start_penalty", _penalty(allowed_start))
        self.register_buffer("end_penalty", _penalty(allowed_end))

    def reset_parameters(self) -> None:
        """Small uniform init, so the CRF starts close to independent per-token softmax."""
        nn.init.uniform_(self.transitions, -0.1, 0.1)
        nn.init.uniform_(self.start, -0.1, 0.1)
        nn.init.uniform_(self.end, -0.1, 0.1)

    def extra_repr(self) -> str:
        constrained = bool(
            (self.transition_penalty != 0).any() or (self.start_penalty != 0).any() or (self.end_penalty != 0).any()
        )
        return f"num_tags={self.num_tags}, constrained={constrained}"

    # ------------------------------------------------------------------ helpers
    def _effective(self, dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
        """Parameters plus constraint penalties, cast to the emissions' dtype: ``[K,K], [K], [K]``."""
        trans = (self.transitions + self.transition_penalty).to(dtype)
        start = (self.start + self.start_penalty).to(dtype)
        end = (self.end + self.end_penalty).to(dtype)
        return trans, start, end

    def _check(self, emissions: Tensor, mask: Tensor, tags: Optional[Tensor] = None) -> Tensor:
        """Validate shapes; return the mask as bool ``[B, T]``."""
        if emissions.dim() != 3 or emissions.size(-1) != self.num_tags:
            raise ValueError(f"emissions must be [B, T, {self.num_tags}], got {tuple(emissions.shape)}")
        if mask.shape != emissions.shape[:2]:
            raise ValueError(f"mask must be {tuple(emissions.shape[:2])}, got {tuple(mask.shape)}")
        if tags is not None and tags.shape != emissions.shape[:2]:
            raise ValueError(f"tags must be {tuple(emissions.shape[:2])}, got {tuple(tags.shape)}")
        if emissions.size(1) == 0:
            raise ValueError("sequences must have at least one time step")
        return mask.to(device=emissions.device, dtype=torch.bool)

    # ------------------------------------------------------------------ API
    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """``log Z`` per sentence by the forward algorithm.

        ``alpha[b, j]`` = log-sum of scores of all prefixes ending in tag ``j``; padded steps leave
        ``alpha`` unchanged, so each row effectively stops at its own length.

        Args: emissions ``[B, T, K]``, mask ``[B, T]`` bool.  Returns ``[B]``.
        """
        mask = self._check(emissions, mask)
        trans, start, end = self._effective(emissions.dtype)
        alpha = start + emissions[:, 0]  # [B, K]
        for t in range(1, emissions.size(1)):
            # [B, K_from, 1] + [K_from, K_to] -> logsumexp over K_from -> [B, K_to]
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Score of the given (gold) tag path per sentence; padded positions are ignored.

        Args: emissions ``[B, T, K]``, tags ``[B, T]`` long (any value at padding), mask ``[B, T]``.
        Returns ``[B]``.
        """
        mask = self._check(emissions, mask, tags)
        trans, start, end = self._effective(emissions.dtype)
        tags = torch.where(mask, tags.long(), 0)  # padding (e.g. -100) -> 0, never indexes out of range
        zero = emissions.new_zeros(())

        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [B, T]
        total = torch.where(mask, emit, zero).sum(1)
        if tags.size(1) > 1:
            tr = trans[tags[:, :-1], tags[:, 1:]]  # [B, T-1]
            total = total + torch.where(mask[:, 1:], tr, zero).sum(1)
        last = mask.long().sum(1).clamp(min=1) - 1  # index of last real position, [B]
        last_tags = tags.gather(1, last.unsqueeze(1)).squeeze(1)
        return total + start[tags[:, 0]] + end[last_tags]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
        """Negative log-likelihood ``log Z - score(gold)`` (>= 0), the training loss.

        ``reduction``: ``"mean"`` (over sentences), ``"sum"`` or ``"none"`` (``[B]``).
        """
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        out = self.log_partition(emissions, mask) - self.score(emissions, tags, mask)
        if reduction == "mean":
            return out.mean()
        if reduction == "sum":
            return out.sum()
        return out

    def viterbi(self, emissions: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Highest-scoring tag path per sentence (Viterbi), vectorised over the batch.

        At padded steps the backpointers are the identity, so backtracking from the last time step
        passes unchanged through the padding down to each row's last real position.  Scores stay
        differentiable (wrap in ``torch.no_grad()`` for plain decoding).

        Args: emissions ``[B, T, K]``, mask ``[B, T]`` bool.
        Returns: best tags ``[B, T]`` long (0 at padding) and their scores ``[B]``.
        """
        mask = self._check(emissions, mask)
        trans, start, end = self._effective(emissions.dtype)
        batch, steps, k = emissions.shape
        ident = torch.arange(k, device=emissions.device).expand(batch, k)
        delta = start + emissions[:, 0]  # [B, K]
        backpointers: List[Tensor] = []
        for t in range(1, steps):
            best, idx = (delta.unsqueeze(2) + trans).max(dim=1)  # [B, K_to]
            m = mask[:, t].unsqueeze(1)
            delta = torch.where(m, best + emissions[:, t], delta)
            backpointers.append(torch.where(m, idx, ident))
        best_score, best_last = (delta + end).max(dim=1)

        path = [best_last]
        for bp in reversed(backpointers):
            path.append(bp.gather(1, path[-1].unsqueeze(1)).squeeze(1))
        path.reverse()
        tags = torch.stack(path, dim=1)  # [B, T]
        return tags.masked_fill(~mask, 0), best_score

    def forward(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Decode: best tag path ``[B, T]`` (0 at padding)."""
        return self.viterbi(emissions, mask)[0]


def _penalty(allowed: Tensor) -> Tensor:
    """Bool "allowed" tensor -> float32 tensor with 0 where allowed and the penalty elsewhere."""
    return torch.zeros(allowed.shape).masked_fill(~allowed, CONSTRAINT_PENALTY)


def _parse(label: str, prefixes: str) -> Tuple[Optional[str], Optional[str]]:
    """``'B-PER' -> ('B', 'PER')``, ``'O' -> ('O', None)``; labels outside the scheme -> ``(None, None)``."""
    if label == "O":
        return "O", None
    if len(label) > 2 and label[1] == "-" and label[0] in prefixes:
        return label[0], label[2:]
    return None, None


def iob_constraints(labels: Sequence[str], scheme: str = "iob2") -> Tuple[Tensor, Tensor, Tensor]:
    """Allowed transitions for tag names like 'O', 'B-PER', 'I-PER' (scheme 'iob2') or also 'E-', 'S-' ('iobes').

    IOB2: I-X only after B-X or I-X; I-X cannot start. IOBES: the usual BIOES grammar (B-X -> I-X|E-X,
    I-X -> I-X|E-X, E-X/S-X/O -> O|B-*|S-*; start: O,B,S; end: O,E,S). Tag names that fit no scheme
    (e.g. '<pad>') are left unconstrained.

    Args:
        labels: the K tag names, in tag-id order.
        scheme: "iob2" or "iobes" (any case). Default: "iob2"

    Returns:
        ``(allowed [K, K], allowed_start [K], allowed_end [K])`` bool tensors, ready for ``CRF(K, constraints)``.
    """
    scheme = scheme.lower()
    if scheme not in ("iob2", "iobes"):
        raise ValueError(f"scheme must be 'iob2' or 'iobes', got {scheme!r}")
    k = len(labels)
    parsed = [_parse(lab, "BI" if scheme == "iob2" else "BIES") for lab in labels]
    allowed = torch.ones(k, k, dtype=torch.bool)
    allowed_start = torch.ones(k, dtype=torch.bool)
    allowed_end = torch.ones(k, dtype=torch.bool)

    for j, (pj, tj) in enumerate(parsed):
        if pj is None:
            continue  # unconstrained label
        if scheme == "iob2":
            allowed_start[j] = pj != "I"
        else:
            allowed_start[j] = pj in ("O", "B", "S")
            allowed_end[j] = pj in ("O", "E", "S")

    for i, (pi, ti) in enumerate(parsed):
        for j, (pj, tj) in enumerate(parsed):
            if pi is None or pj is None:
                continue
            if scheme == "iob2":
                ok = pj != "I" or (pi in ("B", "I") and ti == tj)
            elif pi in ("B", "I"):
                ok = pj in ("I", "E") and ti == tj
            else:  # from O, E-X, S-X
                ok = pj in ("O", "B", "S")
            allowed[i, j] = ok
    return allowed, allowed_start, allowed_end
