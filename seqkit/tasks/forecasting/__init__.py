"""Next-step on numbers: forecast a series' next ``horizon`` steps from a window, next to simple baselines."""

from seqkit.tasks.registry import Shape, register

_HERE = "seqkit.tasks.forecasting"

SHAPE = register(
    Shape(
        name="forecasting",
        network=f"{_HERE}.network:ForecastNetwork",
        codec=f"{_HERE}.codec:ForecastingCodec",
        metrics=f"{_HERE}.metrics:ForecastMetrics",
        datamodules=(f"{_HERE}.datamodule:ForecastingDataModule",),
        export=f"{_HERE}.export:graphs",
        legacy_models=("seqkit.models.forecaster.Forecaster",),
        legacy_datamodules=("seqkit.data.forecasting.TimeSeriesDataModule",),
    )
)
