"""The forecasts a recurrent model must beat, on the same windows: naive, seasonal naive, and a linear map
of the window fitted by least squares on the training windows (NLinear-style: relative to the last value,
one map shared by every target; Zeng et al. 2023 showed it beats many deep forecasters on ETTh1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def naive(x: Tensor, horizon: int) -> Tensor:
    """The naive forecast: repeat the window's last value.

    Args:
        x: ``[B, L, T]`` windows of T series.
        horizon: steps to forecast (H).

    Returns:
        ``[B, H, T]`` (a view of ``x``).
    """
    return x[:, -1:].expand(-1, horizon, -1)


def seasonal_naive(x: Tensor, horizon: int, season: int) -> Tensor:
    """The seasonal naive forecast: repeat the last season, step h gets ``x[L - season + h mod season]``.

    Args:
        x: ``[B, L, T]`` windows of T series, ``L >= season``.
        horizon: steps to forecast (H).
        season: the period, in steps.

    Returns:
        ``[B, H, T]``.
    """
    index = x.size(1) - season + torch.arange(horizon, device=x.device) % season
    return x[:, index]


class LeastSquaresLinear(nn.Module):
    """The least-squares linear baseline: ``y - x_last = W (x - x_last) + b`` for each target of a window.

    ``W [H, L]`` and ``b [H]`` are shared by every target and solved in closed form, streaming:
    ``accumulate(x, y)`` adds a batch of training windows to the normal equations, ``solve()`` solves them
    (ridge 1e-8 of the mean diagonal, for a singular design). The fitted map is kept in buffers, so it travels
    in the checkpoint.

    Args:
        input_length: window steps L.
        horizon: forecast steps H.

    Inputs: x, the windows (after ``solve``).
    Outputs: the forecast of every target.

    Shape:
        - x: ``[B, L, T]``; y (``accumulate``): ``[B, H, T]``; output: ``[B, H, T]``
    """

    def __init__(self, input_length: int, horizon: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(input_length + 1, horizon))  # last row: the bias
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._xtx = torch.zeros(input_length + 1, input_length + 1, dtype=torch.float64)
        self._xty = torch.zeros(input_length + 1, horizon, dtype=torch.float64)

    @staticmethod
    def _design(x: Tensor) -> Tensor:
        """x [B, L, T] -> rows [B * T, L + 1] relative to the last value, with a 1 for the bias."""
        rel = (x - x[:, -1:]).transpose(1, 2).reshape(-1, x.size(1)).double()
        return torch.cat([rel, rel.new_ones(rel.size(0), 1)], dim=1)

    def accumulate(self, x: Tensor, y: Tensor) -> None:
        """Add training windows ``x [B, L, T]`` and their futures ``y [B, H, T]`` to the normal equations."""
        a = self._design(x)
        b = (y - x[:, -1:]).transpose(1, 2).reshape(-1, y.size(1)).double()
        self._xtx += (a.T @ a).cpu()
        self._xty += (a.T @ b).cpu()

    def solve(self) -> None:
        """Solve the accumulated normal equations into ``weight`` and mark the map ``fitted``."""
        ridge = 1e-8 * self._xtx.diagonal().mean().clamp(min=1e-12)
        eye = torch.eye(self._xtx.size(0), dtype=torch.float64)
        self.weight.copy_(torch.linalg.solve(self._xtx + ridge * eye, self._xty).to(self.weight))
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, L, T] -> [B, H, T]."""
        a = self._design(x).to(self.weight)
        out = (a @ self.weight).view(x.size(0), x.size(2), -1).transpose(1, 2)
        return out + x[:, -1:]
