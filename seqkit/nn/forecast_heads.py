"""Forecasting parts (plain torch): instance normalisation of a window, the direct head, the recurrent
decoder over known-future covariates, and the output layer of each loss (point, quantiles, Gaussian)."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.encoder import RecurrentEncoder

Z80 = 1.2815515655446004  # the standard normal's 0.9 quantile: mean +- Z80 * std is the central 80% interval


class InstanceNorm(nn.Module):
    """Normalise each window by its own level so a model sees shapes, not levels (what lets simple models win
    on drifting series such as ETTh1), and put the level back on the forecast.

    mode: "revin" (subtract the window's mean, divide by its std; Kim et al. 2022, without the affine part so
    an added constant shifts the forecast by exactly that constant), "last" (subtract the last value; NLinear),
    "none". normalize(x [B, L, C]) -> (x_n [B, L, C], shift [B, C], scale [B, C]).
    """

    MODES = ("revin", "last", "none")

    def __init__(self, mode: str = "revin", eps: float = 1e-5):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"model.instance_norm must be one of {list(self.MODES)}, got {mode!r}")
        self.mode, self.eps = mode, eps

    def normalize(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        if self.mode == "revin":
            shift = x.mean(1)
            scale = (x.var(1, unbiased=False) + self.eps).sqrt()
        elif self.mode == "last":
            shift, scale = x[:, -1], torch.ones_like(x[:, -1])
        else:
            shift, scale = torch.zeros_like(x[:, 0]), torch.ones_like(x[:, 0])
        return (x - shift[:, None]) / scale[:, None], shift, scale


class ForecastOutput(nn.Module):
    """How many numbers a forecast step needs for a loss, and how they become a distribution.

    loss "mse" | "mae": 1 (the point forecast); "quantile": one per quantile (ordered by construction: the
    lowest plus cumulative softplus steps); "gaussian": mean and std (softplus). ``params(raw [..., P], shift,
    scale)`` undoes the instance normalisation (shift, scale broadcast to raw[..., 0]).
    """

    LOSSES = ("mse", "mae", "quantile", "gaussian")

    def __init__(self, loss: str = "mse", quantiles: Sequence[float] = (0.1, 0.5, 0.9)):
        super().__init__()
        if loss not in self.LOSSES:
            raise ValueError(f"model.loss must be one of {list(self.LOSSES)}, got {loss!r}")
        q = sorted(float(v) for v in quantiles)
        if loss == "quantile" and (not q or q[0] <= 0 or q[-1] >= 1):
            raise ValueError(f"model.quantiles must lie in (0, 1), got {list(quantiles)}")
        self.loss = loss
        self.register_buffer("quantiles", torch.tensor(q), persistent=False)
        self.size = {"quantile": len(q), "gaussian": 2}.get(loss, 1)

    def params(self, raw: Tensor, shift: Tensor, scale: Tensor) -> Dict[str, Tensor]:
        """raw [..., P] in normalised units -> {"point": [...]} (+ "quantiles" [..., Q] or "std" [...])."""
        if self.loss == "quantile":
            q = torch.cat([raw[..., :1], F.softplus(raw[..., 1:])], dim=-1).cumsum(-1)
            q = q * scale[..., None] + shift[..., None]
            middle = int((self.quantiles - 0.5).abs().argmin())
            return {"point": q[..., middle], "quantiles": q}
        point = raw[..., 0] * scale + shift
        if self.loss == "gaussian":
            return {"point": point, "std": (F.softplus(raw[..., 1]) + 1e-3) * scale}
        return {"point": point}

    def interval(self, out: Dict[str, Tensor]) -> Optional[Tuple[Tensor, Tensor]]:
        """The 80% interval (quantile head: its lowest and highest quantiles), or None for point forecasts."""
        if "quantiles" in out:
            return out["quantiles"][..., 0], out["quantiles"][..., -1]
        if "std" in out:
            return out["point"] - Z80 * out["std"], out["point"] + Z80 * out["std"]
        return None

    def nll(self, out: Dict[str, Tensor], y: Tensor, mask: Tensor) -> Tensor:
        """The training loss over the scored steps (mask [...] bool, same shape as y)."""
        m = mask.to(y.dtype)
        if self.loss == "mse":
            e = (out["point"] - y) ** 2
        elif self.loss == "mae":
            e = (out["point"] - y).abs()
        elif self.loss == "quantile":
            e = pinball(out["quantiles"], y, self.quantiles).mean(-1)
        else:
            e = F.gaussian_nll_loss(out["point"], y, out["std"] ** 2, full=True, reduction="none")
        return (e * m).sum() / m.sum().clamp(min=1)


def average_forecasts(outs: Sequence[Dict[str, Tensor]]) -> Dict[str, Tensor]:
    """The forecast of an ensemble: the members' point forecasts [B, H, T] and quantiles [B, H, T, Q] averaged
    (the average of ordered quantiles stays ordered); Gaussian members combine as their equal-weight mixture
    (variance = mean of the variances + variance of the means)."""
    if len(outs) == 1:
        return outs[0]
    mean = {k: torch.stack([o[k] for o in outs]).mean(0) for k in outs[0] if k != "std"}
    if "std" in outs[0]:
        second = torch.stack([o["std"] ** 2 + o["point"] ** 2 for o in outs]).mean(0)
        mean["std"] = (second - mean["point"] ** 2).clamp(min=0).sqrt()
    return mean


def pinball(q: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """Quantile (pinball) loss of predicted quantiles q [..., Q] at ``levels`` [Q] for targets y [...]: [..., Q]."""
    diff = y[..., None] - q
    return torch.maximum(levels * diff, (levels - 1) * diff)


class DirectHead(nn.Module):
    """All horizon steps at once from the encoder's summary: [B, E] -> [B, H, T, P]."""

    def __init__(self, summary_size: int, horizon: int, n_targets: int, size: int, dropout: float = 0.0):
        super().__init__()
        self.shape = (horizon, n_targets, size)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(summary_size, horizon * n_targets * size)

    def forward(self, summary: Tensor) -> Tensor:
        return self.linear(self.dropout(summary)).view(summary.size(0), *self.shape)


class ForecastDecoder(nn.Module):
    """A recurrent decoder over the horizon (seq2seq head): its initial state is a projection of the encoder's
    summary [B, E]; its input at step h is the known-future covariates future [B, H, K] with a learned
    embedding of h (so it runs without covariates too). -> [B, H, T, P].

    The decoder is a RecurrentEncoder run forward over the H steps (fused, or ``impl="cell"``).
    """

    def __init__(
        self,
        summary_size: int,
        n_future: int,
        horizon: int,
        n_targets: int,
        size: int,
        hidden_size: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
        step_dim: int = 8,
        dropout: float = 0.0,
        impl: str = "fused",
    ):
        super().__init__()
        self.rnn = RecurrentEncoder(n_future + step_dim, hidden_size, cell=cell, num_layers=num_layers, impl=impl)
        self.steps = nn.Embedding(horizon, step_dim)
        states = 2 if cell == "lstm" else 1
        self.init = nn.Linear(summary_size, hidden_size * num_layers * states)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, n_targets * size)
        self.shape = (n_targets, size)

    def forward(self, summary: Tensor, future: Tensor) -> Tensor:
        B, H = future.size(0), future.size(1)
        layers, hidden = self.rnn.num_layers, self.rnn.hidden_size
        init = torch.tanh(self.init(summary)).view(B, -1, layers, hidden).permute(1, 2, 0, 3).contiguous()
        state = (init[0], init[1]) if self.rnn.cell == "lstm" else init[0]  # each [layers, B, hidden]
        inputs = torch.cat([future, self.steps.weight[None].expand(B, H, -1)], dim=-1)
        lengths = torch.full((B,), H, dtype=torch.long)
        outputs, _ = self.rnn(inputs, lengths, state)
        return self.out(self.dropout(outputs)).view(B, H, *self.shape)
