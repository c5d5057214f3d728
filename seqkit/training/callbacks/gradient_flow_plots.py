"""Pictures of recorded ‖∂L/∂h_t‖ curves (matplotlib's object API with the Agg canvas: no display, no
global backend switch). Each function returns a ``Figure``; ``save`` writes it as PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from torch import Tensor


def _matrix(curves: Sequence[Tensor]) -> Tensor:
    """Curves of different lengths -> [n, T_max] float, NaN where a curve has no value."""
    longest = max(len(c) for c in curves)
    out = torch.full((len(curves), longest), math.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def _positive(values: Tensor) -> Tensor:
    """Zeros (no gradient at all) cannot go on a log scale: show them as missing."""
    return values.masked_fill(values <= 0, math.nan)


def heatmap(steps: List[int], panels: Dict[str, Sequence[Tensor]], title: str) -> Figure:
    """One panel a direction: time step t (x) × training step (y), colour = ‖∂L/∂h_t‖ on a log scale."""
    fig = Figure(figsize=(5.0 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, curves) in zip(axes, panels.items()):
        values = _positive(_matrix(curves)).numpy()
        finite = values[~torch.isnan(torch.from_numpy(values)).numpy()]
        norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size and finite.min() < finite.max() else None
        spacing = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 1.0  # rows centred on their step
        image = ax.imshow(
            values,
            aspect="auto",
            origin="lower",
            norm=norm,
            cmap="viridis",
            interpolation="nearest",
            extent=(-0.5, values.shape[1] - 0.5, steps[0] - spacing / 2, steps[-1] + spacing / 2),
        )
        ax.set_xlabel("time step t")
        ax.set_ylabel("training step")
        ax.set_title(f"{title} {name}")
        fig.colorbar(image, ax=ax, label="‖∂L/∂h_t‖")
    return fig


def lines(panels: Dict[str, Dict[int, Tensor]], title: str) -> Figure:
    """One panel a direction: ‖∂L/∂h_t‖ against t, one line an epoch (the epoch's records averaged), log y."""
    fig = Figure(figsize=(5.0 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, by_epoch) in zip(axes, panels.items()):
        for epoch, curve in sorted(by_epoch.items()):
            ax.plot(range(len(curve)), _positive(curve).numpy(), label=f"epoch {epoch}")
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_ylabel("‖∂L/∂h_t‖ (mean over real positions)")
        ax.set_title(f"{title} {name}")
        ax.legend(fontsize="small")
    return fig


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
