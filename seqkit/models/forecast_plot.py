"""Moved to ``seqkit.callbacks.forecast_plot`` (issue #25); this name stays until seqkit.models goes."""

from seqkit.callbacks.forecast_plot import ForecastPlot  # noqa: F401
