"""ForecastPlot: a Lightning callback that draws the last window of the test (or validation) split,
forecast vs actual with the baselines, as a PNG in the run directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from seqkit.plotting import plot_forecast


class ForecastPlot(pl.Callback):
    """Writes ``<dirpath>/forecast_<split>.png`` after each test, and after a validation run outside fitting
    (the final validation of ``train``). Needs the forecasting shape (``seqkit.tasks.forecasting``): a
    TaskModule whose ``network`` is a ForecastNetwork, and a ForecastingDataModule."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.draw(trainer, pl_module, "test")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self.draw(trainer, pl_module, "val")

    def draw(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or not getattr(datamodule, "datasets", {}).get(split):
            return
        network = getattr(pl_module, "network", pl_module)
        batch, frame, window = datamodule.last_window(split)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            x, future = batch.x.to(pl_module.device), batch.future.to(pl_module.device)
            out = network(x, future)
            interval = network.output.interval(out)
            baselines = network.baselines(x)
        pl_module.train(was_training)
        inverse = datamodule.target_scaler.inverse
        first = lambda t: inverse(t.double().cpu())[0, :, 0]  # noqa: E731 - [1, H, T] -> first target [H]
        L, H, o = datamodule.codec.hparams.input_length, datamodule.codec.hparams.horizon, window.origin  # as resolved
        times = frame.times if frame.times is not None else list(range(len(frame.scaled)))
        values = frame.series.values
        path = plot_forecast(
            self.dirpath / f"forecast_{split}.png",
            times[o - L : o],
            values[o - L : o, 0],
            times[o : o + H],
            first(out["point"]),
            None if interval is None else (first(interval[0]), first(interval[1])),
            actual=values[o : o + window.steps, 0],
            baselines={k: first(v) for k, v in baselines.items()},
            title=f"{datamodule.targets[0]}: last {split} window ({L} -> {H})",
        )
        print(f"[seqkit] forecast plot: {path}", file=sys.stderr, flush=True)
