"""Pictures saved in run directories (matplotlib's Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

from torch import Tensor


def save_attention_plot(weights: Tensor, source: Sequence[str], output: Sequence[str], path: Union[str, Path]) -> Path:
    """Heat map of attention ``weights [len(output), len(source)]``: one row per output token, one column per
    source token (each row sums to 1)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1 + 0.35 * len(source), 1 + 0.3 * len(output)))
    ax.imshow(weights.detach().cpu().numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), list(source), rotation=90)
    ax.set_yticks(range(len(output)), list(output))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
