"""Next-step on numbers: a recurrent encoder over the window, then a direct, recursive or seq2seq head;
scored next to the naive, seasonal-naive and least-squares linear baselines on the same windows."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanAbsolutePercentageError, MeanMetric, MeanSquaredError

from seqkit.data.timeseries import Scaler
from seqkit.models.base import SeqkitModule
from seqkit.nn import RecurrentEncoder
from seqkit.nn.encoder import last_states
from seqkit.nn.forecast_baselines import LeastSquaresLinear, naive, seasonal_naive
from seqkit.nn.forecast_heads import (
    DirectHead,
    ForecastDecoder,
    ForecastOutput,
    InstanceNorm,
    average_forecasts,
    pinball,
)

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}
HEADS = ("direct", "recursive", "seq2seq")
HIGHWAYS = ("none", "linear", "least_squares", "seasonal_naive")
# metric name -> (torchmetrics class, kwargs, in original units?); scaled MSE/MAE are the ETTh1 protocol
METRICS = {
    "mse": (MeanSquaredError, {}, False),
    "mae": (MeanAbsoluteError, {}, False),
    "rmse_orig": (MeanSquaredError, {"squared": False}, True),
    "mae_orig": (MeanAbsoluteError, {}, True),
    "mape_orig": (MeanAbsolutePercentageError, {}, True),
}


class Forecaster(SeqkitModule):
    """Forecast ``horizon`` steps of ``n_targets`` series from a window of ``input_length`` steps.

    Sizes come from the data module: n_targets, n_covariates (past-observed), n_calendar (known-future),
    season (for the seasonal-naive baseline), target_scaler (the targets' Scaler.to_dict(), for metrics in original units).
    backbone: RecurrentEncoder arguments. head: "direct" (all steps from the final state), "recursive" (one
    step at a time, its own prediction fed back; teacher-forced in training; past covariates held at their
    last value; needs a unidirectional encoder) or "seq2seq" (a recurrent decoder over the known-future
    calendar, ``decoder`` = its arguments). highway: "none"; "linear" adds a trained linear map of each
    target's normalised window to the forecast (the autoregressive highway of LSTNet, Lai et al. 2018);
    "least_squares" starts the forecast from the least-squares baseline (fitted before training, then fixed)
    and the recurrent network forecasts its residual, in window-normalised units; "seasonal_naive" likewise
    starts from the last ``season`` values repeated (on logs: the network forecasts the growth over a season).
    In each the recurrent part models what the simple model misses. ensemble: how many members (encoder, head
    and linear highway each, initialised one after the other from the seed's random stream) are trained side by
    side on the same batches, each on its own loss (the mean of the members' losses is minimised), and forecast
    as one: the average of their forecasts (a seed ensemble, kept in one checkpoint).
    instance_norm: revin | last | none. loss: mse | mae | quantile
    (``quantiles``) | gaussian. Logs {val,test}/mse, /mae (scaled), /rmse_orig, /mae_orig, /mape_orig (original
    units), the same for each baseline (``{stage}/naive/mse``, ...), and ``/ratio_mse``, ``/ratio_rmse_orig``:
    the model's figure over the best baseline's (< 1: the model wins). Quantile/gaussian: ``/pinball`` and
    ``/coverage`` (share of actual values inside the 80% interval).
    """

    monitor = "val/mse"

    def __init__(
        self,
        n_targets: int = 1,
        n_covariates: int = 0,
        n_calendar: int = 0,
        input_length: int = 24,
        horizon: int = 12,
        season: Optional[int] = None,
        target_scaler: Optional[Dict[str, Any]] = None,
        backbone: Optional[Dict[str, Any]] = None,
        head: str = "direct",
        instance_norm: str = "revin",
        loss: str = "mse",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        dropout: float = 0.0,
        highway: str = "none",
        decoder: Optional[Dict[str, Any]] = None,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
        ensemble: int = 1,
    ):
        super().__init__()
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        quantiles = [float(q) for q in quantiles]
        self.save_hyperparameters()
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {list(HEADS)}, got {head!r}")
        if not (isinstance(ensemble, int) and ensemble >= 1):
            raise ValueError(f"model.ensemble must be a whole number of members >= 1, got {ensemble!r}")
        self.n_past = n_targets + n_covariates
        self.norm = InstanceNorm(instance_norm)
        self.output = ForecastOutput(loss, quantiles)
        self.encoder, head_module = self._encoder_and_head()
        setattr(self, self.HEAD_ATTRIBUTES[head], head_module)
        if highway not in HIGHWAYS:
            raise ValueError(f"model.highway must be one of {list(HIGHWAYS)}, got {highway!r}")
        if highway != "none" and head == "recursive":
            raise ValueError(
                f"model.highway={highway} changes what the network outputs, which the recursive head "
                "feeds back as its next input: use model.head=direct or seq2seq"
            )
        if highway == "seasonal_naive" and not (season and season <= input_length):
            raise ValueError(
                f"model.highway=seasonal_naive repeats the window's last season: needs data.season "
                f"<= data.input_length, got season {season} and input_length {input_length}"
            )
        self.highway = nn.Linear(input_length, horizon) if highway == "linear" else None
        self.members = nn.ModuleList()  # the ensemble's members after the first (the first is self's own parts)
        for _ in range(ensemble - 1):
            encoder, head_module = self._encoder_and_head()
            member = nn.ModuleDict({"encoder": encoder, "head": head_module})
            if highway == "linear":
                member["highway"] = nn.Linear(input_length, horizon)
            self.members.append(member)
        self.target_scaler = (
            Scaler.from_dict(target_scaler)
            if target_scaler
            else Scaler("none", False, [0.0] * n_targets, [1.0] * n_targets)
        )
        self.linear = LeastSquaresLinear(input_length, horizon)
        self.predictors = (
            ["model", "naive"] + (["seasonal_naive"] if season and season <= input_length else []) + ["linear"]
        )
        self.metrics = nn.ModuleDict(
            {
                stage: nn.ModuleDict(
                    {
                        name: nn.ModuleDict({k: cls(**kw) for k, (cls, kw, _) in METRICS.items()})
                        for name in self.predictors
                    }
                )
                for stage in ("val", "test")
            }
        )
        self.interval_metrics = nn.ModuleDict(
            {stage: nn.ModuleDict({"pinball": MeanMetric(), "coverage": MeanMetric()}) for stage in ("val", "test")}
        )
        self._windows = {"val": 0, "test": 0}

    HEAD_ATTRIBUTES = {"recursive": "step_head", "direct": "direct", "seq2seq": "decoder"}

    def _encoder_and_head(self) -> Tuple[RecurrentEncoder, nn.Module]:
        """A freshly initialised recurrent encoder and the head ``model.head`` names (one ensemble member)."""
        hp = self.hparams
        encoder = RecurrentEncoder(self.n_past + hp.n_calendar, **(hp.backbone or {}))
        summary = encoder.output_size
        if hp.head == "recursive":
            if encoder.bidirectional:
                raise ValueError("model.head=recursive steps the encoder forward: set backbone.bidirectional=false")
            return encoder, nn.Sequential(nn.Dropout(hp.dropout), nn.Linear(summary, hp.n_targets * self.output.size))
        if hp.head == "direct":
            return encoder, DirectHead(summary, hp.horizon, hp.n_targets, self.output.size, hp.dropout)
        return encoder, ForecastDecoder(
            summary,
            hp.n_calendar,
            hp.horizon,
            hp.n_targets,
            self.output.size,
            dropout=hp.dropout,
            **{"cell": encoder.cell, **(hp.decoder or {})},
        )

    def _members(self) -> List[Tuple[RecurrentEncoder, nn.Module, Optional[nn.Linear]]]:
        """(encoder, head, linear highway) of each ensemble member; the first member is self's own parts."""
        first = (self.encoder, getattr(self, self.HEAD_ATTRIBUTES[self.hparams.head]), self.highway)
        return [first] + [(m["encoder"], m["head"], m["highway"] if "highway" in m else None) for m in self.members]

    # ---- forecasting --------------------------------------------------------------------------------
    def forward(self, x: Tensor, future: Tensor, y: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """x [B, L, T + P + K] (scaled targets, past covariates, calendar), future [B, H, K] -> {"point": [B, H, T],
        + "quantiles" [B, H, T, Q] or "std" [B, H, T]} in scaled units. y [B, H, T]: teacher forcing (recursive).
        An ensemble's forecast is the average of its members' (``average_forecasts``)."""
        return average_forecasts(self.member_forecasts(x, future, y))

    def member_forecasts(self, x: Tensor, future: Tensor, y: Optional[Tensor] = None) -> List[Dict[str, Tensor]]:
        """Each ensemble member's forecast of the windows, as ``forward`` returns it (one entry without an ensemble)."""
        T = self.hparams.n_targets
        past, shift, scale = self.norm.normalize(x[..., : self.n_past])
        inputs = torch.cat([past, x[..., self.n_past :]], dim=-1)
        shift, scale = shift[:, None, :T], scale[:, None, :T]
        y_n = None if y is None else (y - shift) / scale
        raws = [self._raw(member, inputs, past, future, y_n) for member in self._members()]
        if self.hparams.highway == "least_squares":  # the residual of the baseline's forecast [B, H, T]
            shift = self.linear(x[..., :T])
        elif self.hparams.highway == "seasonal_naive":  # the residual of the last season repeated [B, H, T]
            shift = seasonal_naive(x[..., :T], self.hparams.horizon, self.hparams.season)
        return [self.output.params(raw, shift, scale) for raw in raws]

    def _raw(self, member, inputs: Tensor, past: Tensor, future: Tensor, y_n: Optional[Tensor]) -> Tensor:
        """One member's output in normalised units: inputs [B, L, F], past [B, L, T + P] -> raw [B, H, T, S]."""
        encoder, head, highway = member
        if self.hparams.head == "recursive":
            raw = self._recursive(encoder, head, inputs, future, y_n)
        else:
            lengths = torch.full((inputs.size(0),), inputs.size(1), dtype=torch.long)
            _, state = encoder(inputs, lengths)
            summary = last_states(state, encoder.num_layers, encoder.num_directions)
            raw = head(summary) if self.hparams.head == "direct" else head(summary, future)
        if highway is not None:  # [B, L, T] -> [B, H, T], onto the location parameter
            linear = highway(past[..., : self.hparams.n_targets].transpose(1, 2)).transpose(1, 2)
            raw = torch.cat([raw[..., :1] + linear[..., None], raw[..., 1:]], dim=-1)
        return raw

    def _recursive(
        self, encoder: RecurrentEncoder, step_head: nn.Module, inputs: Tensor, future: Tensor, y_n: Optional[Tensor]
    ) -> Tensor:
        """One step at a time in normalised units: inputs [B, L, F], future [B, H, K] -> raw [B, H, T, S]."""
        B, L, _ = inputs.shape
        H, T, S = future.size(1), self.hparams.n_targets, self.output.size
        held = inputs[:, -1:, T : self.n_past]  # past covariates: their last value
        if y_n is not None:  # teacher forcing: the true values are fed, all steps in one pass
            fed = torch.cat([y_n[:, :-1], held.expand(-1, H - 1, -1), future[:, :-1]], dim=-1)
            seq = torch.cat([inputs, fed], dim=1)
            outputs, _ = encoder(seq, torch.full((B,), L + H - 1, dtype=torch.long))
            return step_head(outputs[:, L - 1 :]).view(B, H, T, S)
        outputs, state = encoder(inputs, torch.full((B,), L, dtype=torch.long))
        raw = [step_head(outputs[:, -1]).view(B, T, S)]
        zeros, ones = raw[0].new_zeros(B, T), raw[0].new_ones(B, T)
        for h in range(1, H):
            point = self.output.params(raw[-1], zeros, ones)["point"]  # [B, T], normalised
            x_t = torch.cat([point[:, None], held, future[:, h - 1 : h]], dim=-1)
            out, state = encoder.rnn(x_t, state)  # one step of the fused layers
            raw.append(step_head(out[:, 0]).view(B, T, S))
        return torch.stack(raw, dim=1)

    def baselines(self, x: Tensor) -> Dict[str, Tensor]:
        """The baselines' forecasts of the same windows, scaled units: {name: [B, H, T]}."""
        H, T = self.hparams.horizon, self.hparams.n_targets
        targets = x[..., :T]
        out = {"naive": naive(targets, H)}
        if "seasonal_naive" in self.predictors:
            out["seasonal_naive"] = seasonal_naive(targets, H, self.hparams.season)
        if bool(self.linear.fitted):
            out["linear"] = self.linear(targets)
        return out

    # ---- training -----------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        """Fit the least-squares baseline on the training windows (once; it is kept in the checkpoint)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if bool(self.linear.fitted) or datamodule is None:
            return
        T = self.hparams.n_targets
        for batch in datamodule.train_dataloader():
            whole = batch.steps == self.hparams.horizon  # windows cut at the split's end are left out
            self.linear.accumulate(batch.x[whole][..., :T], batch.y[whole])
        self.linear.solve()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        teacher = batch.y if self.hparams.head == "recursive" else None
        mask = batch.mask[..., None].expand_as(batch.y)
        losses = [self.output.nll(out, batch.y, mask) for out in self.member_forecasts(batch.x, batch.future, teacher)]
        loss = torch.stack(losses).mean()  # each member learns from its own error, not the ensemble's
        self.log_train_loss(loss, len(batch))
        return loss

    # ---- evaluation ---------------------------------------------------------------------------------
    def _evaluate(self, batch, stage: str) -> None:
        out = self(batch.x, batch.future)
        mask = batch.mask[..., None].expand_as(batch.y)
        self.log(f"{stage}/loss", self.output.nll(out, batch.y, mask), batch_size=len(batch))
        y = batch.y[mask]
        y_orig = self.target_scaler.inverse(batch.y.double())[mask].float()
        forecasts = {"model": out["point"], **self.baselines(batch.x)}
        for name, pred in forecasts.items():
            pred_orig = self.target_scaler.inverse(pred.double())[mask].float()
            for key, metric in self.metrics[stage][name].items():
                metric.update(pred_orig, y_orig) if METRICS[key][2] else metric.update(pred[mask], y)
        interval = self.output.interval(out)
        if interval is not None:
            levels = self.output.quantiles
            q = (
                out["quantiles"]
                if "quantiles" in out
                else out["point"][..., None] + out["std"][..., None] * torch.special.ndtri(levels)
            )
            self.interval_metrics[stage]["pinball"].update(pinball(q, batch.y, levels).mean(-1)[mask])
            inside = (batch.y >= interval[0]) & (batch.y <= interval[1])
            self.interval_metrics[stage]["coverage"].update(inside[mask].float())
        self._windows[stage] += len(batch)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def _log_epoch(self, stage: str) -> None:
        values: Dict[str, Tensor] = {}
        for name, metrics in self.metrics[stage].items():
            for key, metric in metrics.items():
                if metric.update_called:
                    values[f"{stage}/{key}" if name == "model" else f"{stage}/{name}/{key}"] = metric.compute()
                metric.reset()
        for key, metric in self.interval_metrics[stage].items():
            if metric.update_called:
                values[f"{stage}/{key}"] = metric.compute()
            metric.reset()
        baselines = [n for n in self.predictors[1:] if f"{stage}/{n}/mse" in values]
        best = {}
        for key in ("mse", "rmse_orig"):
            if f"{stage}/{key}" in values and baselines:
                best[key] = min(baselines, key=lambda n: float(values[f"{stage}/{n}/{key}"]))
                values[f"{stage}/ratio_{key}"] = values[f"{stage}/{key}"] / values[f"{stage}/{best[key]}/{key}"]
        windows, self._windows[stage] = self._windows[stage], 0
        if not values:
            return
        self.log_dict(values, prog_bar=False)
        if self._trainer is not None and self.trainer.state.fn != "fit" and not self.trainer.sanity_checking:
            self._print_table(stage, values, best, windows)

    def _print_table(self, stage: str, values: Dict[str, Tensor], best: Dict[str, str], windows: int) -> None:
        """The model next to its baselines, on stderr (stdout keeps the JSON line)."""
        hp = self.hparams
        lines = [
            f"[seqkit] {stage}: {windows} window(s) of {hp.input_length} -> {hp.horizon}; mse, mae on scaled "
            "values; rmse, mae, mape in original units"
        ]
        lines.append(f"  {'':16}" + "".join(f"{k:>12}" for k in METRICS))
        for name in self.predictors:
            prefix = f"{stage}/" if name == "model" else f"{stage}/{name}/"
            if f"{prefix}mse" in values:
                lines.append(f"  {name:16}" + "".join(f"{float(values[prefix + k]):12.4f}" for k in METRICS))
        for key, name in best.items():
            lines.append(f"  model / best baseline by {key} ({name}): {float(values[f'{stage}/ratio_{key}']):.3f}x")
        print("\n".join(lines), file=sys.stderr, flush=True)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """-> {"index": [B], "point": [B, H, T]} (+ "lower", "upper": the 80% interval), scaled units."""
        out = self(batch.x, batch.future)
        result = {"index": batch.index, "point": out["point"]}
        interval = self.output.interval(out)
        if interval is not None:
            result["lower"], result["upper"] = interval
        return result
