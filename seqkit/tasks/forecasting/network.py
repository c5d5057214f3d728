"""The next-step-on-numbers network: a recurrent encoder over the window, then a direct, recursive or seq2seq
head (``seqkit.nn.forecast_heads``), optionally on top of a simple forecast (a highway), optionally an ensemble;
with the baselines it is scored against (``seqkit.nn.forecast_baselines``). Plain torch.nn."""

from __future__ import annotations

import inspect
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from seqkit.data.timeseries import Scaler
from seqkit.nn.encoder import RecurrentEncoder, last_states
from seqkit.nn.forecast_baselines import LeastSquaresLinear, naive, seasonal_naive
from seqkit.nn.forecast_heads import DirectHead, ForecastDecoder, ForecastOutput, InstanceNorm, average_forecasts

HEADS = ("direct", "recursive", "seq2seq")
HIGHWAYS = ("none", "linear", "least_squares", "seasonal_naive")
HEAD_ATTRIBUTES = {"recursive": "step_head", "direct": "direct", "seq2seq": "decoder"}  # state-dict names


class ForecastNetwork(nn.Module):
    """The next-step-on-numbers network: forecast ``horizon`` steps of ``n_targets`` series from a window of
    ``input_length`` steps.

    Instance-normalised window -> RecurrentEncoder -> a direct, recursive or seq2seq head, optionally on top of a
    simple forecast (a highway), optionally an ensemble; scored against the naive, seasonal-naive and
    least-squares baselines of the same windows.

    Args:
        n_targets: target series T, from the codec. Default: 1
        n_covariates: past-observed covariates P, from the codec. Default: 0
        n_calendar: known-future (calendar) features K, from the codec. Default: 0
        input_length: window steps L, from the codec. Default: 24
        horizon: forecast steps H, from the codec. Default: 12
        season: the seasonal-naive baseline's period, from the codec. Default: None
        target_scaler: the targets' ``Scaler.to_dict()`` (metrics in original units), from the codec. Default: None
        backbone: ``RecurrentEncoder`` keyword arguments. Default: None
        head: "direct" (all steps from the final state), "recursive" (one step at a time, its own forecast fed
            back; teacher-forced in training; past covariates held at their last value; a forward-only encoder)
            or "seq2seq" (a recurrent decoder over the known-future calendar). Default: "direct"
        instance_norm: "revin", "last" or "none" (``InstanceNorm``). Default: "revin"
        loss: "mse", "mae", "quantile" or "gaussian" (``ForecastOutput``). Default: "mse"
        quantiles: the quantile levels of loss="quantile". Default: (0.1, 0.5, 0.9)
        dropout: before the head's output layer. Default: 0.0
        highway: "none"; "linear" (a trained linear map of each target's normalised window added to the forecast,
            LSTNet's highway); "least_squares" (the network forecasts the residual of the least-squares baseline,
            fitted before training then fixed); "seasonal_naive" (the residual of the last season repeated).
            Default: "none"
        decoder: the seq2seq head's ``ForecastDecoder`` arguments. Default: None
        ensemble: members (encoder, head, linear highway) trained side by side, each on its own loss; the
            forecast is their average (a seed ensemble in one checkpoint). Default: 1

    Inputs: x, future, y
        - x: the window: scaled targets, past covariates, calendar.
        - future: the calendar of the horizon.
        - y: the horizon's targets, for teacher forcing of the recursive head. Default: None

    Outputs: ``{"point"}``, plus ``"quantiles"`` (quantile loss) or ``"std"`` (Gaussian), in scaled units.

    Shape:
        - x: ``[B, L, T + P + K]``; future: ``[B, H, K]``; y: ``[B, H, T]``
        - point, std: ``[B, H, T]``; quantiles: ``[B, H, T, Q]``

    Methods (the shape's protocol, each on a WindowBatch):
        - loss: ``{"loss"}``, the mean of the members' own losses over the scored steps
        - evaluate: ``{"loss", "forecast": forward's dict, "baselines": {name: [B, H, T]}, "mask": [B, H, T]}``
        - predict: ``{"index": [B], "point": [B, H, T]}``, plus ``"lower"``, ``"upper"`` (the 80% interval)
    """

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
        ensemble: int = 1,
    ):
        super().__init__()
        quantiles = [float(q) for q in quantiles]
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {list(HEADS)}, got {head!r}")
        if not (isinstance(ensemble, int) and ensemble >= 1):
            raise ValueError(f"model.ensemble must be a whole number of members >= 1, got {ensemble!r}")
        self.n_targets, self.n_covariates, self.n_calendar = n_targets, n_covariates, n_calendar  # sizes (export)
        self.input_length, self.horizon, self.season = input_length, horizon, season
        self.head, self.highway_kind, self.dropout = head, highway, dropout
        self.backbone, self.decoder_settings = dict(backbone or {}), dict(decoder or {})
        self.n_past = n_targets + n_covariates
        self.norm = InstanceNorm(instance_norm)
        self.output = ForecastOutput(loss, quantiles)
        self.encoder, head_module = self._encoder_and_head()
        setattr(self, HEAD_ATTRIBUTES[head], head_module)
        if highway not in HIGHWAYS:
            raise ValueError(f"model.highway must be one of {list(HIGHWAYS)}, got {highway!r}")
        if highway != "none" and head == "recursive":
            raise ValueError(
                f"model.highway={highway} changes what the network outputs, which the recursive head "
                "feeds back as its next input: use model.head=direct or model.head=seq2seq"
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

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "ForecastNetwork":
        """The network of saved hyper-parameters (keys it does not take, e.g. the optimiser, are left out)."""
        names = inspect.signature(ForecastNetwork.__init__).parameters
        return cls(**{k: v for k, v in hparams.items() if k in names and k != "self"})

    def _encoder_and_head(self) -> Tuple[RecurrentEncoder, nn.Module]:
        """A freshly initialised recurrent encoder and the head ``model.head`` names (one ensemble member)."""
        encoder = RecurrentEncoder(self.n_past + self.n_calendar, **self.backbone)
        summary, T, S = encoder.output_size, self.n_targets, self.output.size
        if self.head == "recursive":
            if encoder.bidirectional:
                raise ValueError("model.head=recursive steps the encoder forward: set backbone.bidirectional=false")
            return encoder, nn.Sequential(nn.Dropout(self.dropout), nn.Linear(summary, T * S))
        if self.head == "direct":
            return encoder, DirectHead(summary, self.horizon, T, S, self.dropout)
        return encoder, ForecastDecoder(
            summary,
            self.n_calendar,
            self.horizon,
            T,
            S,
            dropout=self.dropout,
            **{"cell": encoder.cell, **self.decoder_settings},
        )

    def _members(self) -> List[Tuple[RecurrentEncoder, nn.Module, Optional[nn.Linear]]]:
        """(encoder, head, linear highway) of each ensemble member; the first member is self's own parts."""
        first = (self.encoder, getattr(self, HEAD_ATTRIBUTES[self.head]), self.highway)
        return [first] + [(m["encoder"], m["head"], m["highway"] if "highway" in m else None) for m in self.members]

    # ---- forecasting --------------------------------------------------------------------------------
    def forward(self, x: Tensor, future: Tensor, y: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The ensemble's forecast: the average of its members' (``average_forecasts``)."""
        return average_forecasts(self.member_forecasts(x, future, y))

    def member_forecasts(self, x: Tensor, future: Tensor, y: Optional[Tensor] = None) -> List[Dict[str, Tensor]]:
        """Each ensemble member's forecast of the windows, as ``forward`` returns it (one entry without an ensemble)."""
        T = self.n_targets
        past, shift, scale = self.norm.normalize(x[..., : self.n_past])
        inputs = torch.cat([past, x[..., self.n_past :]], dim=-1)
        shift, scale = shift[:, None, :T], scale[:, None, :T]
        y_n = None if y is None else (y - shift) / scale
        raws = [self._raw(member, inputs, past, future, y_n) for member in self._members()]
        if self.highway_kind == "least_squares":  # the residual of the baseline's forecast [B, H, T]
            shift = self.linear(x[..., :T])
        elif self.highway_kind == "seasonal_naive":  # the residual of the last season repeated [B, H, T]
            shift = seasonal_naive(x[..., :T], self.horizon, self.season)
        return [self.output.params(raw, shift, scale) for raw in raws]

    def _raw(self, member, inputs: Tensor, past: Tensor, future: Tensor, y_n: Optional[Tensor]) -> Tensor:
        """One member's output in normalised units: inputs [B, L, F], past [B, L, T + P] -> raw [B, H, T, S]."""
        encoder, head, highway = member
        if self.head == "recursive":
            raw = self._recursive(encoder, head, inputs, future, y_n)
        else:
            lengths = torch.full((inputs.size(0),), inputs.size(1), dtype=torch.long)
            _, state = encoder(inputs, lengths)
            summary = last_states(state, encoder.num_layers, encoder.num_directions)
            raw = head(summary) if self.head == "direct" else head(summary, future)
        if highway is not None:  # [B, L, T] -> [B, H, T], onto the location parameter
            linear = highway(past[..., : self.n_targets].transpose(1, 2)).transpose(1, 2)
            raw = torch.cat([raw[..., :1] + linear[..., None], raw[..., 1:]], dim=-1)
        return raw

    def _recursive(
        self, encoder: RecurrentEncoder, step_head: nn.Module, inputs: Tensor, future: Tensor, y_n: Optional[Tensor]
    ) -> Tensor:
        """One step at a time in normalised units: inputs [B, L, F], future [B, H, K] -> raw [B, H, T, S]."""
        B, L, _ = inputs.shape
        H, T, S = future.size(1), self.n_targets, self.output.size
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
        targets = x[..., : self.n_targets]
        out = {"naive": naive(targets, self.horizon)}
        if "seasonal_naive" in self.predictors:
            out["seasonal_naive"] = seasonal_naive(targets, self.horizon, self.season)
        if bool(self.linear.fitted):
            out["linear"] = self.linear(targets)
        return out

    def before_training(self, batches: Iterable[Any]) -> None:
        """Fit the least-squares baseline on the training windows (once; it is kept in the checkpoint). Windows
        cut at the split's end are left out."""
        if bool(self.linear.fitted):
            return
        for batch in batches:
            whole = batch.steps == self.horizon
            self.linear.accumulate(batch.x[whole][..., : self.n_targets], batch.y[whole])
        self.linear.solve()

    # ---- the shape protocol: loss, evaluate, predict ---------------------------------------------
    def loss(self, batch) -> Dict[str, Tensor]:
        """``{"loss"}``: the mean of the ensemble members' own losses over the scored steps (each member learns
        from its own error, not the ensemble's); the recursive head is teacher-forced."""
        teacher = batch.y if self.head == "recursive" else None
        mask = batch.mask[..., None].expand_as(batch.y)
        losses = [self.output.nll(out, batch.y, mask) for out in self.member_forecasts(batch.x, batch.future, teacher)]
        return {"loss": torch.stack(losses).mean()}

    def evaluate(self, batch) -> Dict[str, Any]:
        """What the metrics need of a WindowBatch: ``{"loss", "forecast": forward's dict, "baselines": {name:
        [B, H, T]}, "mask": [B, H, T] bool}``."""
        out = self(batch.x, batch.future)
        mask = batch.mask[..., None].expand_as(batch.y)
        return {
            "loss": self.output.nll(out, batch.y, mask),
            "forecast": out,
            "baselines": self.baselines(batch.x),
            "mask": mask,
        }

    def predict(self, batch) -> Dict[str, Tensor]:
        """-> {"index": [B], "point": [B, H, T]} (+ "lower", "upper": the 80% interval), scaled units."""
        out = self(batch.x, batch.future)
        result = {"index": batch.index, "point": out["point"]}
        interval = self.output.interval(out)
        if interval is not None:
            result["lower"], result["upper"] = interval
        return result
