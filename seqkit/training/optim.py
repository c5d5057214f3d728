"""Sparse (lazy) embedding updates: an optimiser pair that Lightning sees as one optimiser, and the gradient
norm / clipping / finiteness helpers that accept sparse gradients.

Why: a word embedding of V x D parameters gets a gradient on the few rows a batch uses, but dense Adam
reads and writes all V x D weights and both moment buffers every step (a large share of a tagger's step;
figures: docs/speed.md). With ``nn.Embedding(sparse=True)`` (``embedding.sparse=true``) the embedding's
gradient is a sparse tensor of the touched rows, and ``LazyAdam`` updates only those rows and their
moments: Adam's update for the rows a batch uses, while a row the batch does not use keeps its weight and
moments instead of moving on its momentum (so training is not identical to dense Adam's after a row's
first use).

Plain torch (no Lightning): ``seqkit.training.TaskModule.configure_optimizers`` builds the pair and clips with
``clip_grad_norm_`` below.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

# optimisers whose update the sparse embedding rows can follow with LazyAdam (same lr, betas, eps)
ADAM_LIKE = ("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.adam.Adam", "torch.optim.adamw.AdamW")


def sparse_parameters(module: nn.Module) -> List[nn.Parameter]:
    """The trainable weights whose gradients are sparse: those of ``nn.Embedding(sparse=True)`` modules."""
    return [m.weight for m in module.modules() if isinstance(m, nn.Embedding) and m.sparse and m.weight.requires_grad]


def _closure_loss(closure) -> Optional[Tensor]:
    """What an optimiser's ``step(closure)`` returns: the loss of ``closure`` (run with gradients on), else None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class LazyAdam(Optimizer):
    """Adam on the rows of a sparse gradient only ("lazy Adam"): the touched rows' weights and moments get
    exactly ``torch.optim.Adam``'s update (same formula, eps added after the bias correction), the others
    are left alone. One step counter per tensor, as Adam's, so a row first used at step k gets the same
    update as under dense Adam, whose moments of a never-used row are still zero.

    ``torch.optim.SparseAdam`` is the same idea but adds eps before the bias correction of the second
    moment (an effective eps of ``eps * sqrt(1 - beta2^t)``), so its updates differ from Adam's for small
    gradients; this one keeps ``embedding.sparse=true`` a pure change of which rows move.

    params: tensors whose gradients are sparse ``[V, D]`` (``nn.Embedding(sparse=True)``); state per tensor:
    ``step`` (float32 scalar tensor, as Adam's), ``exp_avg`` and ``exp_avg_sq`` ``[V, D]``.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, maximize: bool = False):
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"LazyAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "maximize": maximize})

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise ValueError("LazyAdam updates sparse gradients only (nn.Embedding(sparse=True))")
                grad = p.grad.coalesce()
                rows, values = grad.indices()[0], grad.values()  # [n], [n, D]: each used row once, summed
                if group["maximize"]:
                    values = -values
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = float(state["step"])
                exp_avg = state["exp_avg"][rows].lerp_(values, 1 - beta1)
                exp_avg_sq = state["exp_avg_sq"][rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
                state["exp_avg"].index_copy_(0, rows, exp_avg)
                state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
                denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
                p.index_add_(0, rows, exp_avg / denom, alpha=-group["lr"] / (1 - beta1**step))
        return loss


def lazy_adam(spec: Dict[str, Any], params: List[nn.Parameter]) -> LazyAdam:
    """LazyAdam over ``params`` with the learning rate, betas and eps of the configured (Adam/AdamW)
    optimiser ``spec`` (``{"_target_": "torch.optim.Adam", "lr": ..., ...}``). Lazy weight decay or AMSGrad
    is not offered, so asking for them is an error rather than a silent change."""
    target = spec.get("_target_", "")
    if target not in ADAM_LIKE:
        raise ValueError(
            f"embedding.sparse=true trains the word embedding with lazy Adam (seqkit.training.optim.LazyAdam), "
            f"which follows optimizer=adam or optimizer=adamw; got {target}: use one of those or embedding.sparse=false"
        )
    if spec.get("weight_decay", 0.0) or spec.get("amsgrad", False):
        raise ValueError(
            "embedding.sparse=true: lazy Adam has no weight decay or AMSGrad; set optimizer.weight_decay=0 and "
            "~optimizer.amsgrad (where added), or use embedding.sparse=false"
        )
    return LazyAdam(params, **{k: spec[k] for k in ("lr", "betas", "eps", "maximize") if k in spec})


class DenseSparseOptimizer(Optimizer):
    """One optimiser made of two: ``dense`` (any torch optimiser, over the dense-gradient parameters) and
    ``sparse`` (LazyAdam over the sparse-gradient ones). It shares their param_group dicts and one
    ``state``, so a learning-rate scheduler changes both, ``zero_grad`` clears both, and ``state_dict`` /
    ``load_state_dict`` are the ordinary optimiser format (groups: dense ones first, then sparse ones)."""

    def __init__(self, dense: Optimizer, sparse: Optimizer):
        groups = dense.param_groups + sparse.param_groups
        super().__init__([{"params": g["params"]} for g in groups], {})
        self.dense, self.sparse = dense, sparse
        self.defaults = dict(dense.defaults)  # schedulers such as OneCycleLR read lr/betas here
        self.param_groups = groups
        self._link()

    def _link(self) -> None:
        """Point both inner optimisers at this optimiser's groups and state (after a load replaced them)."""
        n = len(self.dense.param_groups)
        self.dense.param_groups, self.sparse.param_groups = self.param_groups[:n], self.param_groups[n:]
        self.dense.state = self.sparse.state = self.state

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        self.dense.step()
        self.sparse.step()
        return loss

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._link()


def _dense_view(grad: Tensor) -> Tensor:
    """A tensor with the same norm and the same non-finite entries as ``grad``: the summed values of a
    sparse gradient (duplicate indices added, as the dense gradient would have them), else ``grad``."""
    return grad.coalesce().values() if grad.is_sparse else grad


def grad_norm(grads: Iterable[Tensor], norm_type: float = 2.0) -> Tensor:
    """``torch.nn.utils.get_total_norm`` that also takes sparse gradients."""
    return torch.nn.utils.get_total_norm([_dense_view(g) for g in grads], norm_type=norm_type)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_`` that also takes sparse gradients: the total norm counts every
    gradient (a sparse one by its summed values, so the norm equals the dense gradient's), and every
    gradient, sparse ones included, is scaled by the same factor. -> the total norm before clipping."""
    params = [p for p in params if p.grad is not None]
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # once, so the norm and the update see the summed rows
    total = grad_norm([p.grad for p in params], norm_type)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad * coef  # sparse tensors take no in-place scaling of their values view
        else:
            p.grad.mul_(coef.to(p.grad.device))
    return total


def clip_grad_value_(params: Iterable[Tensor], clip_value: float) -> None:
    """``torch.nn.utils.clip_grad_value_`` that also takes sparse gradients (clamps the summed rows)."""
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            g = p.grad.coalesce()
            p.grad = torch.sparse_coo_tensor(
                g.indices(),
                g.values().clamp(-clip_value, clip_value),
                g.shape,
                check_invariants=False,
                is_coalesced=True,
            )
        else:
            p.grad.clamp_(-clip_value, clip_value)


def has_sparse_grad(params: Iterable[Tensor]) -> bool:
    return any(p.grad is not None and p.grad.is_sparse for p in params)


def is_finite(grad: Optional[Tensor]) -> bool:
    return grad is None or bool(torch.isfinite(_dense_view(grad)).all())


__all__ = [
    "DenseSparseOptimizer",
    "clip_grad_norm_",
    "clip_grad_value_",
    "grad_norm",
    "has_sparse_grad",
    "is_finite",
    "LazyAdam",
    "lazy_adam",
    "sparse_parameters",
]
