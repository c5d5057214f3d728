"""GradientFlow: watch the gradient travel back through time, ‖∂L/∂h_t‖ for every time step t.

Per-parameter gradient norms (Lightning's ``grad_norm``, wandb's ``watch``) cannot show a gradient that
vanishes or explodes with the distance in time; this callback records it for every layer and direction
of every seqkit ``RecurrentEncoder`` in the model (classifier, tagger, and any shape built on it).

Every ``every_n_steps`` training steps it asks the encoders to keep their hidden states for one forward
pass (``seqkit.nn.state_recording``: the same parameters run as the cell loop, fused backbone or not),
reads ∂L/∂h_t after backward, and averages ‖∂L/∂h_t‖₂ over the batch's real (unpadded) positions. It also
takes the total gradient norm before clipping and after the optimiser step's clipping, so you see when
clipping acted. Other steps run untouched; without the callback nothing changes at all.

Logged at every record (to every logger, at the training step):
  gradient_flow/total_norm, gradient_flow/clipped_norm, gradient_flow/clipped (1 when clipping changed it)
  gradient_flow/<encoder>.l<layer>.<fwd|bwd>/first_last_ratio: ‖∂L/∂h‖ at the first step processed over
      the last one (forward direction: t = 0 over t = T-1); ≪ 1 = vanishing, ≫ 1 = exploding
  gradient_flow/<...>/fall10_steps: how many steps back from the last one processed the norm first falls
      below a tenth of it (NaN: never within the sequence)
Pictures in ``dirpath`` at the end of training (and every ``plot_every_n_epochs`` epochs; also to
TensorBoard with ``logger=tensorboard``):
  heatmap_<encoder>_layer<l>.png (time step × training step), lines_<encoder>_layer<l>.png (one line an
  epoch, log scale); ``records.pt`` holds every recorded curve (plain tensors and lists).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor

from seqkit.nn.encoder import RecurrentEncoder
from seqkit.training.callbacks import gradient_flow_plots as plots
from seqkit.training.optim import grad_norm

DIRECTIONS = ("fwd", "bwd")


@dataclass
class GradientRecord:
    """One recorded training step: curves[key] is ‖∂L/∂h_t‖ [T] indexed by position t."""

    step: int
    epoch: int
    curves: Dict[str, Tensor]
    total_norm: float = math.nan
    clipped_norm: float = math.nan


def curve_key(encoder: str, layer: int, direction: int) -> str:
    return f"{encoder}.l{layer}.{DIRECTIONS[direction]}"


def decay_summary(curve: Tensor, direction: int) -> Dict[str, float]:
    """first/last ratio and steps for a 10x fall of one curve, read in the order the direction processes it."""
    g = curve if direction == 0 else curve.flip(0)
    last = float(g[-1])
    ratio = float(g[0]) / last if last > 0 else math.nan
    fall = math.nan
    for distance in range(1, len(g)):
        if float(g[-1 - distance]) <= last / 10:
            fall = float(distance)
            break
    return {"first_last_ratio": ratio, "fall10_steps": fall}


def total_grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(grad_norm(grads)) if grads else 0.0  # sparse embedding gradients included


class GradientFlow(Callback):
    """every_n_steps: record every this many optimiser steps (starting at step 0). dirpath: where pictures
    go (default ``<trainer.default_root_dir>/gradient_flow``). modules: names of the RecurrentEncoder
    modules to watch (``model.named_modules()`` names, e.g. ["encoder"]); None = all of them.
    plot: write the PNGs (and TensorBoard images). plot_every_n_epochs: also redraw them every this many
    epochs (0: at the end of training only; drawing takes about half a second)."""

    def __init__(
        self,
        every_n_steps: int = 50,
        dirpath: Optional[str] = None,
        modules: Optional[Sequence[str]] = None,
        plot: bool = True,
        plot_every_n_epochs: int = 0,
    ):
        if every_n_steps < 1:
            raise ValueError(f"callbacks.gradient_flow.every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps, self.dirpath, self.modules, self.plot = every_n_steps, dirpath, modules, plot
        self.plot_every_n_epochs = plot_every_n_epochs
        self.records: List[GradientRecord] = []
        self.encoders: Dict[str, RecurrentEncoder] = {}
        self._armed_step: Optional[int] = None
        self._pending: Optional[GradientRecord] = None

    # ---- finding the encoders ------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        model = getattr(pl_module, "network", pl_module)  # seqkit.training.TaskModule: names within its network
        found = {name: m for name, m in model.named_modules() if isinstance(m, RecurrentEncoder)}
        if self.modules is not None:
            missing = sorted(set(self.modules) - set(found))
            if missing:
                raise ValueError(
                    f"callbacks.gradient_flow.modules: no RecurrentEncoder named {missing}; the model has {sorted(found)}"
                )
            found = {name: found[name] for name in self.modules}
        if not found:
            raise ValueError("callbacks.gradient_flow: the model has no seqkit RecurrentEncoder to watch")
        self.encoders = found
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "gradient_flow")

    # ---- recording -----------------------------------------------------------------------------
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or self._armed_step == step or (self.records and self.records[-1].step == step):
            return
        self._armed_step = step
        for encoder in self.encoders.values():
            encoder.recorded, encoder.record_states = [], True

    def on_after_backward(self, trainer, pl_module) -> None:
        if self._armed_step is None or self._pending is not None:
            return
        curves = {}
        for name, encoder in self.encoders.items():
            for rec in encoder.recorded:
                curves[curve_key(name, rec.layer, rec.direction)] = rec.gradient_norms()
            encoder.recorded, encoder.record_states = [], False
        self._pending = GradientRecord(self._armed_step, trainer.current_epoch, curves)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._pending is not None:  # Lightning clips after this hook
            self._pending.total_norm = total_grad_norm(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        record, self._pending, self._armed_step = self._pending, None, None
        for encoder in self.encoders.values():  # a step that never ran the encoder leaves nothing armed
            encoder.record_states = False
        if record is None:
            return
        record.clipped_norm = total_grad_norm(pl_module)  # the step's gradients after clipping
        self.records.append(record)
        metrics = {
            "gradient_flow/total_norm": record.total_norm,
            "gradient_flow/clipped_norm": record.clipped_norm,
            "gradient_flow/clipped": float(record.clipped_norm < record.total_norm * (1 - 1e-6)),
        }
        for key, curve in record.curves.items():
            for name, value in decay_summary(curve, DIRECTIONS.index(key.rsplit(".", 1)[1])).items():
                metrics[f"gradient_flow/{key}/{name}"] = value
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=record.step)

    # ---- pictures ------------------------------------------------------------------------------
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.plot_every_n_epochs and (trainer.current_epoch + 1) % self.plot_every_n_epochs == 0:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def save(self, trainer: Optional[pl.Trainer] = None) -> None:
        """Write records.pt and (with ``plot``) the PNGs; send the figures to TensorBoard loggers."""
        if not self.records or (trainer is not None and not trainer.is_global_zero):
            return
        out = Path(self.dirpath)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "steps": [r.step for r in self.records],
                "epochs": [r.epoch for r in self.records],
                "curves": [r.curves for r in self.records],
                "total_norm": [r.total_norm for r in self.records],
                "clipped_norm": [r.clipped_norm for r in self.records],
            },
            out / "records.pt",
        )
        if not self.plot:
            return
        tensorboards = [
            lg for lg in (trainer.loggers if trainer is not None else []) if isinstance(lg, TensorBoardLogger)
        ]
        for layer_name, keys in self._layers().items():
            steps = [r.step for r in self.records if keys[0] in r.curves]
            heat = plots.heatmap(
                steps,
                {k.rsplit(".", 1)[1]: [r.curves[k] for r in self.records if k in r.curves] for k in keys},
                layer_name,
            )
            line = plots.lines({k.rsplit(".", 1)[1]: self.epoch_means(k) for k in keys}, layer_name)
            file_name = layer_name.replace(".l", "_layer")
            plots.save(heat, out / f"heatmap_{file_name}.png")
            plots.save(line, out / f"lines_{file_name}.png")
            for logger in tensorboards:
                logger.experiment.add_figure(
                    f"gradient_flow/heatmap_{file_name}", heat, trainer.global_step, close=False
                )
                logger.experiment.add_figure(f"gradient_flow/lines_{file_name}", line, trainer.global_step, close=False)

    def _layers(self) -> Dict[str, List[str]]:
        """'<encoder>.l<layer>' -> its curve keys (one a direction), in recording order."""
        layers: Dict[str, List[str]] = defaultdict(list)
        for record in self.records:
            for key in record.curves:
                layer = key.rsplit(".", 1)[0]
                if key not in layers[layer]:
                    layers[layer].append(key)
        return dict(layers)

    def epoch_means(self, key: str) -> Dict[int, Tensor]:
        """epoch -> the mean curve of that epoch's records (positions some records lack: mean of the rest)."""
        by_epoch: Dict[int, List[Tensor]] = defaultdict(list)
        for record in self.records:
            if key in record.curves:
                by_epoch[record.epoch].append(record.curves[key])
        return {epoch: plots._matrix(curves).nanmean(0) for epoch, curves in by_epoch.items()}
