"""A benchmark's model and data come from the same composed config as ``scripts/train.py <overrides>``.

So a recipe has one home (``configs/``): a benchmark only adds overrides (strings) for its sizes, e.g.
``["task=lm", "data.batch_size=8", "backbone.hidden_size=32"]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from omegaconf import DictConfig

from seqkit.run import build


def compose_config(config_dir: Path, overrides: Sequence[str], config_name: str = "train") -> DictConfig:
    """``configs/<config_name>.yaml`` with ``overrides`` applied, as Hydra composes it for the script."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


@dataclass
class Recipe:
    """A composed training config with its data module built and set up for fit.

    ``model()`` builds ``cfg.model`` as ``seqkit.run.train`` does (sizes learnt from the data module added);
    ``optimizer(params)`` and ``clip`` are the config's optimiser and gradient clipping, so a hand-written loop
    trains exactly what the Trainer trains; ``trainer_cfg`` is the config's ``trainer`` node."""

    config_dir: Path
    overrides: List[str]
    cfg: DictConfig
    datamodule: Any
    _variants: Dict[tuple, DictConfig] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, config_dir: Path, overrides: Sequence[str], seed: Optional[int] = None) -> "Recipe":
        cfg = compose_config(config_dir, overrides)
        if seed is not None:
            torch.manual_seed(seed)
        datamodule = build(cfg.data)
        datamodule.setup("fit")
        return cls(Path(config_dir), list(overrides), cfg, datamodule)

    def variant(self, extra: Sequence[str]) -> DictConfig:
        """The config with further overrides (e.g. ``backbone.impl=cell``) on the same data module."""
        key = tuple(extra)
        if key not in self._variants:
            self._variants[key] = compose_config(self.config_dir, [*self.overrides, *extra]) if extra else self.cfg
        return self._variants[key]

    def model(self, state: Optional[Dict[str, torch.Tensor]] = None, extra: Sequence[str] = (),
              seed: Optional[int] = None):
        """A fresh ``cfg.model`` (seeded when ``seed`` is given), loaded with ``state`` when given."""
        if seed is not None:
            torch.manual_seed(seed)
        model = build(self.variant(extra).model, **self.datamodule.model_kwargs())
        if state is not None:
            model.load_state_dict(state)
        return model

    def optimizer(self, params) -> torch.optim.Optimizer:
        return build(self.cfg.optimizer, params=params)

    @property
    def lr(self) -> float:
        return float(self.cfg.optimizer.lr)

    @property
    def clip(self) -> Optional[float]:
        value = self.cfg.trainer.get("gradient_clip_val")
        return None if value is None else float(value)

    @property
    def trainer_cfg(self) -> DictConfig:
        return self.cfg.trainer

    def describe(self) -> str:
        """The overrides as a train.py command line would carry them."""
        return " ".join(self.overrides)
