"""Pictures written with matplotlib's Agg backend (no display needed): the forecast-vs-actual plot and the
attention heat map of an encoder-decoder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    from torch import Tensor


def plot_forecast(
    path: Union[str, Path],
    history_x: Sequence[Any],
    history: Sequence[float],
    future_x: Sequence[Any],
    forecast: Sequence[float],
    interval: Optional[Tuple[Sequence[float], Sequence[float]]] = None,
    actual: Optional[Sequence[float]] = None,
    title: str = "forecast",
    baselines: Optional[dict] = None,
) -> Path:
    """Draw the history, the forecast (with its interval band) and, when known, the actual values; save a PNG.

    x values are timestamps or row numbers; values are in original units (1-d sequences or tensors).
    baselines: optional ``{name: forecast}`` drawn as thin dashed lines.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = lambda v: [float(a) for a in v]  # noqa: E731 - tensors or lists
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
    ax.plot(list(history_x), values(history), color="0.3", lw=1.2, label="history")
    if actual is not None:
        ax.plot(list(future_x)[: len(actual)], values(actual), color="black", lw=1.2, marker=".", ms=3, label="actual")
    for name, other in (baselines or {}).items():
        ax.plot(list(future_x), values(other), lw=0.9, ls="--", label=name)
    ax.plot(list(future_x), values(forecast), color="tab:red", lw=1.6, label="forecast")
    if interval is not None:
        ax.fill_between(
            list(future_x), values(interval[0]), values(interval[1]), color="tab:red", alpha=0.2, lw=0, label="interval"
        )
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path


def save_attention_plot(
    weights: "Tensor", source: Sequence[str], output: Sequence[str], path: Union[str, Path]
) -> Path:
    """Heat map of attention ``weights [len(output), len(source)]``: one row per output token, one column per
    source token (each row sums to 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(1 + 0.35 * len(source), 1 + 0.3 * len(output)))
    ax.imshow(weights.detach().cpu().numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), list(source), rotation=90)
    ax.set_yticks(range(len(output)), list(output))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    _save(fig, path, dpi=100)
    return path


def _save(fig, path: Path, **options) -> None:
    """Save and close ``fig``: atomically, never over a file the run reads (seqkit.safe_files)."""
    import matplotlib.pyplot as plt

    from seqkit.safe_files import atomic_path, write_error

    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(path, e) from None
        with atomic_path(path) as temp:
            fig.savefig(temp, format=path.suffix[1:].lower() or "png", **options)  # a name without one: PNG
    finally:
        plt.close(fig)
