"""Lightning callbacks seqkit's configs wire in (seqkit/configs/callbacks/)."""

from seqkit.training.callbacks.ema import EMAWeights
from seqkit.training.callbacks.epoch_seed import EpochSeed
from seqkit.training.callbacks.finite_check import FiniteCheck, NonFiniteError
from seqkit.training.callbacks.forecast_plot import ForecastPlot
from seqkit.training.callbacks.gradient_flow import GradientFlow
from seqkit.training.callbacks.progress import LineProgressBar, progress_bar
from seqkit.training.callbacks.step_checkpoint import step_checkpoint

__all__ = [
    "EMAWeights",
    "EpochSeed",
    "FiniteCheck",
    "ForecastPlot",
    "GradientFlow",
    "LineProgressBar",
    "NonFiniteError",
    "progress_bar",
    "step_checkpoint",
]
