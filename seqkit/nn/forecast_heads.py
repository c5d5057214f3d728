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
    on drifting series such as ETTh1); the caller puts the level back on the forecast (``ForecastOutput.params``).

    Args:
        mode: "revin" (subtract the window's mean, divide by its std; Kim et al. 2022, without the affine part so
            an added constant shifts the forecast by exactly that constant), "last" (subtract the last value;
            NLinear) or "none". Default: "revin"
        eps: added to the variance. Default: 1e-5

    Inputs: x, the windows (``normalize(x)``; the module has no ``forward``).
    Outputs: x_n, shift, scale: ``x_n = (x - shift) / scale``, per window and channel.

    Shape:
        - x: ``[B, L, C]``; x_n: ``[B, L, C]``; shift, scale: ``[B, C]``
    """

    MODES = ("revin", "last", "none")

    def __init__(self, mode: str = "revin", eps: float = 1e-5):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"model.instance_norm must be one of {list(self.MODES)}, got {mode!r}")
        self.mode, self.eps = mode, eps

    def normalize(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """x [B, L, C] -> (x_n [B, L, C], shift [B, C], scale [B, C])."""
        if self.mode == "revin":
            shift = x.mean(1)
            scale = (x.var(1, unbiased=False) + self.eps).sqrt()
        elif self.mode == "last":
            shift, scale = x[:, -1], torch.ones_like(x[:, -1])
        else:
            shift, scale = torch.zeros_like(x[:, 0]), torch.ones_like(x[:, 0])
        return (x - shift[:, None]) / scale[:, None], shift, scale


class ForecastOutput(nn.Module):
    """The output layer of a forecasting loss: how many numbers a forecast step needs, how they become a
    distribution in original units, and the loss on it.

    "mse" | "mae": one number, the point forecast; "quantile": one per quantile, ordered by construction (the
    lowest plus cumulative softplus steps, so quantiles never cross); "gaussian": mean and std (softplus).

    Args:
        loss: "mse", "mae", "quantile" or "gaussian". Default: "mse"
        quantiles: quantile levels in (0, 1), for loss="quantile"; the one nearest 0.5 is the point forecast.
            Default: (0.1, 0.5, 0.9)

    Inputs: raw, shift, scale (``params``; the module has no ``forward``)
        - raw: P = ``size`` numbers per forecast step, in normalised units.
        - shift, scale: the instance normalisation to undo (``InstanceNorm.normalize``).

    Outputs: ``{"point"}``, plus ``"quantiles"`` (quantile loss) or ``"std"`` (Gaussian). ``nll(out, y, mask)``
    is the training loss over the scored steps; ``interval(out)`` the 80% interval (quantile loss: the lowest
    and highest quantiles).

    Shape:
        - raw: ``[..., P]``; shift, scale: broadcast to ``raw[..., 0]``
        - point, std: ``[...]``; quantiles: ``[..., Q]``; y, mask (``nll``): ``[...]``
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
    """The forecast of an ensemble: the members' point forecasts and quantiles averaged (the average of ordered
    quantiles stays ordered); Gaussian members combine as their equal-weight mixture (variance = mean of the
    variances + variance of the means).

    Args:
        outs: each member's ``ForecastOutput.params`` dict: point ``[B, H, T]`` (+ quantiles ``[B, H, T, Q]`` or
            std ``[B, H, T]``).

    Returns:
        one dict of the same keys and shapes (the only member's own with one member).
    """
    if len(outs) == 1:
        return outs[0]
    mean = {k: torch.stack([o[k] for o in outs]).mean(0) for k in outs[0] if k != "std"}
    if "std" in outs[0]:
        second = torch.stack([o["std"] ** 2 + o["point"] ** 2 for o in outs]).mean(0)
        mean["std"] = (second - mean["point"] ** 2).clamp(min=0).sqrt()
    return mean


def pinball(q: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """Quantile (pinball) loss of predicted quantiles.

    Args:
        q: ``[..., Q]`` predicted quantiles.
        y: ``[...]`` targets.
        levels: ``[Q]`` the quantile levels.

    Returns:
        ``[..., Q]`` the loss of each quantile.
    """
    diff = y[..., None] - q
    return torch.maximum(levels * diff, (levels - 1) * diff)


class DirectHead(nn.Module):
    """The direct forecasting head: every horizon step at once from the encoder's summary, one linear layer (no
    step feeds another, so errors do not compound over the horizon).

    Args:
        summary_size: features of the summary (E).
        horizon: forecast steps H.
        n_targets: target series T.
        size: numbers per step and target (P, ``ForecastOutput.size``).
        dropout: on the summary. Default: 0.0

    Inputs: summary, the encoder's final state (``last_states``).
    Outputs: raw forecast parameters, normalised units.

    Shape:
        - summary: ``[B, E]``; output: ``[B, H, T, P]``
    """

    def __init__(self, summary_size: int, horizon: int, n_targets: int, size: int, dropout: float = 0.0):
        super().__init__()
        self.shape = (horizon, n_targets, size)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(summary_size, horizon * n_targets * size)

    def forward(self, summary: Tensor) -> Tensor:
        return self.linear(self.dropout(summary)).view(summary.size(0), *self.shape)


class ForecastDecoder(nn.Module):
    """The seq2seq forecasting head: a recurrent decoder over the horizon, started from the encoder's summary.

    Its initial state is a projection of the summary; its input at step h is the known-future covariates with a
    learned embedding of h (so it runs without covariates too). The decoder is a RecurrentEncoder run forward
    over the H steps (fused, or ``impl="cell"``).

    Args:
        summary_size: features of the summary (E).
        n_future: known-future covariates K (0: none).
        horizon: forecast steps H.
        n_targets: target series T.
        size: numbers per step and target (P, ``ForecastOutput.size``).
        hidden_size: the decoder's hidden size. Default: 64
        cell: "rnn", "lstm" or "gru". Default: "lstm"
        num_layers: decoder layers. Default: 1
        step_dim: size of the step embedding. Default: 8
        dropout: before the output layer. Default: 0.0
        impl: "fused" or "cell" (``RecurrentEncoder``). Default: "fused"

    Inputs: summary, future
        - summary: the encoder's final state (``last_states``).
        - future: the covariates known for every horizon step.

    Outputs: raw forecast parameters, normalised units.

    Shape:
        - summary: ``[B, E]``; future: ``[B, H, K]``; output: ``[B, H, T, P]``
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
