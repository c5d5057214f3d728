"""The forecasting figures, Lightning-free, equal to those the Lightning model logged (torchmetrics' float32
sums, reproduced in plain torch): ``loss`` (the batch-size-weighted mean of batch losses), ``mse``, ``mae``
(scaled units: the ETTh1 protocol), ``rmse_orig``, ``mae_orig`` (original units), the scale-free ``mase``,
``smape_orig`` and, only where the actual values stay away from zero, ``mape_orig`` (see ``mase``, ``smape``
and ``mape_is_defined``), the same for each baseline (``naive/mse``, ...), ``ratio_mse`` and ``ratio_rmse_orig``
(the model's figure over the best baseline's: < 1, the model wins) and, for quantile/gaussian losses,
``pinball`` and ``coverage`` (share of actual values inside the 80% interval). ``report`` prints the model next
to its baselines on stderr."""

from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import Tensor

from seqkit.nn.forecast_heads import pinball

KEYS = ("mse", "mae", "rmse_orig", "mae_orig", "mase", "smape_orig", "mape_orig")  # the table's columns, in order
MAPE_EPSILON = 1.17e-06  # torchmetrics' floor on |actual| (MAPE) and on |forecast| + |actual| (sMAPE)
MAPE_AWAY_FROM_ZERO = 0.1  # MAPE is reported only where every scored |actual| >= this share of their mean |actual|


def mase_scale(values: Tensor, season: Optional[int]) -> Tensor:
    """MASE's denominator: the in-sample mean absolute error of the seasonal-naive forecast (the naive one where
    ``season`` is unset or not shorter than the rows), per column, on the training rows ``values [N, C]``
    (original units): ``mean_t |y[t] - y[t - m]|`` for t in [m, N)."""
    m = season if season and season < values.size(0) else 1
    return (values[m:] - values[:-m]).abs().mean(0)


def mase(absolute_error: Tensor, count: int, scale: Sequence[float]) -> Tensor:
    """Mean absolute scaled error (Hyndman & Koehler 2006): each target column's mean absolute error
    (``absolute_error [C]`` summed over ``count`` scored steps, original units) over its ``mase_scale``, averaged
    over the columns. < 1: better than the seasonal naive was in-sample. Defined wherever the training rows are
    not constant (a zero scale gives inf)."""
    return (absolute_error / count / torch.tensor(scale, dtype=absolute_error.dtype)).mean()


def smape(pred: Tensor, actual: Tensor) -> Tensor:
    """Symmetric MAPE summed over the elements (torchmetrics' definition, a fraction in [0, 2] once divided by
    their count): ``2 |pred - actual| / max(|pred| + |actual|, eps)``; defined where the series crosses zero."""
    return torch.sum(2 * (pred - actual).abs() / torch.clamp(pred.abs() + actual.abs(), min=MAPE_EPSILON))


def mape_is_defined(min_abs: float, mean_abs: float) -> bool:
    """MAPE is a figure only where the actual values stay away from zero: every scored ``|actual|`` at least
    ``MAPE_AWAY_FROM_ZERO`` (10%) of their mean ``|actual|``. Near zero it divides by almost nothing (ETTh1's
    oil temperature crosses zero: MAPE 35,000-58,000%), so it is left out and MASE / sMAPE stand instead."""
    return mean_abs > 0 and min_abs >= MAPE_AWAY_FROM_ZERO * mean_abs


class _Sums:
    """One predictor's running float32 sums (as torchmetrics' states), over the scored steps."""

    def __init__(self) -> None:
        zero = torch.tensor(0.0)
        self.squared, self.absolute, self.squared_orig, self.absolute_orig, self.percent = zero, zero, zero, zero, zero
        self.symmetric, self.absolute_columns, self.sum_abs = zero, zero, zero
        self.min_abs = torch.tensor(float("inf"))
        self.count, self.steps = 0, 0

    def update(self, pred: Tensor, y: Tensor, pred_orig: Tensor, y_orig: Tensor) -> None:
        """pred, y, pred_orig, y_orig: [S, T] the scored steps' forecasts and actual values."""
        d, d_orig = pred - y, pred_orig - y_orig
        self.squared = self.squared + torch.sum(d * d, dim=0).cpu()
        self.absolute = self.absolute + torch.sum(d.abs()).cpu()
        self.squared_orig = self.squared_orig + torch.sum(d_orig * d_orig, dim=0).cpu()
        self.absolute_orig = self.absolute_orig + torch.sum(d_orig.abs()).cpu()
        self.percent = self.percent + torch.sum(d_orig.abs() / torch.clamp(y_orig.abs(), min=MAPE_EPSILON)).cpu()
        self.symmetric = self.symmetric + smape(pred_orig, y_orig).cpu()
        self.absolute_columns = self.absolute_columns + d_orig.abs().sum(0).cpu()
        if y_orig.numel():
            self.min_abs = torch.minimum(self.min_abs, y_orig.abs().min().cpu())
        self.sum_abs = self.sum_abs + y_orig.abs().sum().cpu()
        self.count += y.numel()
        self.steps += y.size(0)

    def compute(self, scale: Optional[Sequence[float]] = None) -> Dict[str, Tensor]:
        """scale: ``mase_scale`` of each target column (None: no ``mase``)."""
        n = self.count
        values = {
            "mse": self.squared / n,
            "mae": self.absolute / n,
            "rmse_orig": torch.sqrt(self.squared_orig / n),
            "mae_orig": self.absolute_orig / n,
        }
        if scale is not None:
            values["mase"] = mase(self.absolute_columns, self.steps, scale)
        values["smape_orig"] = self.symmetric / n
        if mape_is_defined(float(self.min_abs), float(self.sum_abs) / n):
            values["mape_orig"] = self.percent / n
        return values


class ForecastMetrics:
    """One stage's figures (``compute`` -> names without the stage prefix). ``update`` takes
    ``network.evaluate(batch)``: ``{"loss", "forecast", "baselines", "mask"}``."""

    progress = ()  # nothing on the progress bar (as before)

    def __init__(self, network: Any, codec: Any = None):
        self.network = network
        self.scaler = network.target_scaler
        self.mase_scale = getattr(codec, "mase_scale", None)  # fitted on the training rows (None: no mase)
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.batches_size = torch.tensor(0.0), 0
        self.sums: Dict[str, _Sums] = {}
        self.pinball_sum, self.coverage_sum, self.interval_count = torch.tensor(0.0), torch.tensor(0.0), 0
        self.windows = 0

    def update(self, batch: Any, output: Mapping[str, Any]) -> None:
        n = len(batch)
        self.loss_sum = self.loss_sum + output["loss"].detach().float().cpu() * n
        self.batches_size += n
        out, mask, y = output["forecast"], output["mask"], batch.y
        inverse = self.scaler.inverse
        y_masked = y[mask]
        y_orig = inverse(y.double())[mask].float()
        for name, pred in {"model": out["point"], **output["baselines"]}.items():
            pred = pred.detach()
            self.sums.setdefault(name, _Sums()).update(
                pred[mask], y_masked, inverse(pred.double())[mask].float(), y_orig
            )
        interval = self.network.output.interval(out)
        if interval is not None:
            levels = self.network.output.quantiles
            q = (
                out["quantiles"]
                if "quantiles" in out
                else out["point"][..., None] + out["std"][..., None] * torch.special.ndtri(levels)
            )
            self.pinball_sum = self.pinball_sum + pinball(q, y, levels).mean(-1)[mask].float().sum().cpu()
            inside = (y >= interval[0]) & (y <= interval[1])
            self.coverage_sum = self.coverage_sum + inside[mask].float().sum().cpu()
            self.interval_count += int(mask.sum())
        self.windows += n

    def compute(self) -> Dict[str, float]:
        return {k: float(v) for k, v in self._values().items()}

    def _values(self) -> Dict[str, Tensor]:
        if self.batches_size == 0:
            return {}
        values: Dict[str, Tensor] = {"loss": self.loss_sum / self.batches_size}
        for name in self.network.predictors:
            if name in self.sums and self.sums[name].count:
                for key, value in self.sums[name].compute(self.mase_scale).items():
                    values[key if name == "model" else f"{name}/{key}"] = value
        if self.interval_count:
            values["pinball"] = self.pinball_sum / float(self.interval_count)
            values["coverage"] = self.coverage_sum / float(self.interval_count)
        for key, best in self.best().items():
            values[f"ratio_{key}"] = values[key] / values[f"{best}/{key}"]  # float32: x / 0 is inf, as before
        return values

    def best(self) -> Dict[str, str]:
        """{"mse" | "rmse_orig": the baseline with the lowest figure}."""
        baselines = [n for n in self.network.predictors[1:] if n in self.sums and self.sums[n].count]
        if not baselines or "model" not in self.sums:
            return {}
        figures = {n: self.sums[n].compute() for n in baselines}
        return {key: min(baselines, key=lambda n: float(figures[n][key])) for key in ("mse", "rmse_orig")}

    def report(self, stage: str) -> None:
        """The model next to its baselines, on stderr (stdout keeps the JSON line)."""
        values = self.compute()
        if "mse" not in values:
            return
        net = self.network
        lines = [
            f"[seqkit] {stage}: {self.windows} window(s) of {net.input_length} -> {net.horizon}; mse, mae on "
            "scaled values; rmse, mae, smape, mape in original units; mase scaled by the training rows' "
            "seasonal-naive error (mape left out where the series comes near zero)"
        ]
        lines.append(f"  {'':16}" + "".join(f"{k:>12}" for k in KEYS))
        for name in net.predictors:
            prefix = "" if name == "model" else f"{name}/"
            if f"{prefix}mse" in values:
                lines.append(
                    f"  {name:16}"
                    + "".join(f"{values[prefix + k]:12.4f}" if prefix + k in values else f"{'-':>12}" for k in KEYS)
                )
        for key, name in self.best().items():
            lines.append(f"  model / best baseline by {key} ({name}): {values[f'ratio_{key}']:.3f}x")
        print("\n".join(lines), file=sys.stderr, flush=True)
