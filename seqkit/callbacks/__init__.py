"""Lightning callbacks seqkit's configs wire in (configs/callbacks/)."""

from seqkit.callbacks.epoch_seed import EpochSeed
from seqkit.callbacks.finite_check import FiniteCheck, NonFiniteError
from seqkit.callbacks.forecast_plot import ForecastPlot
from seqkit.callbacks.gradient_flow import GradientFlow
from seqkit.callbacks.progress import LineProgressBar, progress_bar
from seqkit.callbacks.step_checkpoint import step_checkpoint

__all__ = [
    "EpochSeed",
    "FiniteCheck",
    "ForecastPlot",
    "GradientFlow",
    "LineProgressBar",
    "NonFiniteError",
    "progress_bar",
    "step_checkpoint",
]
