"""A benchmark's model and data come from the same composed config as ``scripts/train.py <overrides>``.

So a recipe has one home (``seqkit/configs/``): a benchmark only adds overrides (strings) for its sizes, e.g.
``["task=lm", "data.batch_size=8", "backbone.hidden_size=32"]``. Each section's recipe (the task or experiment it
composes, and the data it points at) is here too, so the speed and GPU benchmarks share them.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from omegaconf import DictConfig

from seqkit.app.config import CONFIGS
from seqkit.app.train import build
from seqkit.benchmark.timing import seed_all


def compose_config(config_dir: Path, overrides: Sequence[str], config_name: str = "train") -> DictConfig:
    """``seqkit/configs/<config_name>.yaml`` with ``overrides`` applied, as Hydra composes it for the script."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


@dataclass
class Recipe:
    """A composed training config with its data module built and set up for fit.

    ``model()`` builds ``cfg.model`` as ``seqkit.app.train.train`` does (sizes learnt from the data module added);
    ``optimizer(params)`` and ``clip`` are the config's optimiser and gradient clipping, so a hand-written loop
    trains exactly what the Trainer trains; ``trainer_cfg`` is the config's ``trainer`` node."""

    config_dir: Path
    overrides: List[str]
    cfg: DictConfig
    datamodule: Any
    _variants: Dict[tuple, DictConfig] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, config_dir: Path, overrides: Sequence[str], seed: Optional[int] = None) -> "Recipe":
        """The config of ``overrides`` and its data module, set up for fit after seeding (python and torch)."""
        cfg = compose_config(config_dir, overrides)
        if seed is not None:
            seed_all(seed)
        datamodule = build(cfg.data)
        datamodule.setup("fit")
        return cls(Path(config_dir), list(overrides), cfg, datamodule)

    def variant(self, extra: Sequence[str]) -> DictConfig:
        """The config with further overrides (e.g. ``backbone.impl=cell``) on the same data module."""
        key = tuple(extra)
        if key not in self._variants:
            self._variants[key] = compose_config(self.config_dir, [*self.overrides, *extra]) if extra else self.cfg
        return self._variants[key]

    def model(
        self, state: Optional[Dict[str, torch.Tensor]] = None, extra: Sequence[str] = (), seed: Optional[int] = None
    ):
        """A fresh ``cfg.model`` (seeded when ``seed`` is given), loaded with ``state`` when given."""
        if seed is not None:
            torch.manual_seed(seed)
        model = build(self.variant(extra).model, **self.datamodule.model_kwargs())
        if state is not None:
            model.load_state_dict(state)
        return model

    def initial_model(self, seed: int) -> Tuple[Any, Dict[str, torch.Tensor]]:
        """A fresh model seeded with ``seed`` and a copy of its weights, where each timed run of a section starts
        (``seqkit.benchmark.loops.reset``)."""
        model = self.model(seed=seed)
        return model, {k: v.clone() for k, v in model.state_dict().items()}

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


# ---- the sections' recipes ---------------------------------------------------------------------------------

# --quick: the sections' recipes at toy sizes (overrides, as on a train.py command line)
QUICK_OVERRIDES: Dict[str, List[str]] = {
    "lm": ["data.batch_size=8", "data.bptt=32", "backbone.hidden_size=32"],
}
# the word table is trained from scratch at embedding.dim (100), as the Flair peer's: no GloVe lookups; words read
# by the character CNN alone through one BiLSTM layer, the model docs/speed.md was measured on (since 2026-12-07
# experiment=conll2003 adds a character BiLSTM and the casing class, and task=ner has two BiLSTM layers)
TAGGER_OVERRIDES = [
    "embedding.pretrained=null",
    "model.char_encoder=cnn",
    "model.casing=false",
    "backbone.num_layers=1",
    "backbone.dropout=0.0",
]
# the recipe prints a 300-character sample at every epoch's end: not training work
LM_OVERRIDES = ["model.sample_length=0"]
# the least-squares highway is solved outside the training step (at the start of fit), so a plain loop has no
# step of it: the benchmark times the recurrent model alone
FORECAST_OVERRIDES = ["model.highway=none"]


def hydra_path(path: Path) -> str:
    """A path as a quoted Hydra override value (safe with spaces, '=' or ',')."""
    return "'" + str(Path(path).expanduser().resolve()).replace("\\", "\\\\").replace("'", "\\'") + "'"


def section_overrides(args, section: str) -> List[str]:
    """The ``--override SECTION:KEY=VALUE`` options for ``section``, as ``KEY=VALUE`` strings."""
    return [o.split(":", 1)[1] for o in getattr(args, "override", []) if o.split(":", 1)[0] == section]


def section_recipe(args, section: str, overrides: Sequence[str]) -> Recipe:
    """The section's recipe composed from seqkit/configs/ as ``train.py <overrides>`` would compose it, then the
    benchmark's own overrides (``--quick`` sizes, ``--override SECTION:KEY=VALUE``); data set up for fit after
    seeding python and torch with ``args.seed``."""
    recipe = Recipe.load(
        CONFIGS,
        [*overrides, *(QUICK_OVERRIDES.get(section, []) if args.quick else []), *section_overrides(args, section)],
        seed=args.seed,
    )
    print(f"recipe: train.py {recipe.describe()}")
    return recipe


def describe_model(recipe: Recipe) -> str:
    """One line: the composed model's network, backbone, optimiser and clipping."""
    cfg = recipe.cfg
    b = cfg.backbone
    return (
        f"{cfg.model._target_.rsplit('.', 1)[-1]}, {'bidirectional ' if b.get('bidirectional') else ''}"
        f"{b.cell.upper()} {b.num_layers} x {b.hidden_size} ({b.impl}); {cfg.optimizer._target_.rsplit('.', 1)[-1]} "
        f"lr {recipe.lr:g}, clip {recipe.clip}"
    )


def classifier_recipe(args) -> Tuple[Recipe, str]:
    """task=sentiment as configured (the built-in data), or its model on all of SST-2 train (``args.sst2``: nothing
    held out, nothing is evaluated here). -> (recipe, a one-line description of the data)."""
    if getattr(args, "sst2", None):
        path = Path(args.sst2).expanduser() / "stsa.binary.train"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--sst2 takes the directory holding stsa.binary.train)")
        overrides = [
            "task=sentiment",
            "data.builtin=null",
            f"data.root={hydra_path(path.parent)}",
            "data.train_path=stsa.binary.train",
            "data.format=label_space_text",
            "data.tokenizer.mode=whitespace",
            "data.split=[1.0,0.0,0.0]",
        ]
        what = f"SST-2 train ({path}), whitespace tokenizer, lowercase"
    else:
        overrides, what = (
            ["task=sentiment"],
            "built-in sentiment_labelled, train split (80%), words tokenizer, lowercase",
        )
    return section_recipe(args, "classifier", overrides), what


def tagger_recipe(args, section: str = "tagger") -> Tuple[Recipe, str]:
    """experiment=conll2003 (``args.conll2003``) or task=ner (built-in WNUT-17), with TAGGER_OVERRIDES."""
    return section_recipe(args, section, tagger_overrides(args)), (
        f"CoNLL-2003 train/valid ({Path(args.conll2003).expanduser()}), zero_digits"
        if getattr(args, "conll2003", None)
        else "built-in WNUT-17 train/dev (no --conll2003 given; task=ner's default data)"
    )


def tagger_overrides(args) -> List[str]:
    """The tagger recipe's overrides; exits with a one-line error when ``args.conll2003`` lacks its files."""
    if not getattr(args, "conll2003", None):
        return ["task=ner", *TAGGER_OVERRIDES]
    root = Path(args.conll2003).expanduser()
    for name in ("train.txt", "valid.txt"):
        if not (root / name).is_file():
            sys.exit(f"error: {root / name} not found (--conll2003 takes the directory holding train.txt, valid.txt)")
    return ["experiment=conll2003", f"data.root={hydra_path(root)}", *TAGGER_OVERRIDES]


def forecast_recipe(args, extra: Sequence[str] = ()) -> Tuple[Recipe, str]:
    """experiment=etth1 (OT, input 96 -> 24, batch 64) on ``args.ett``, or on a generated 3,000-hour series of the
    same shape (a daily cycle plus noise, split 2000/500/500) when no folder is given."""
    if getattr(args, "ett", None):
        path = Path(args.ett).expanduser() / "ETTh1.csv"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--ett takes the directory holding ETTh1.csv)")
        overrides, what = ["experiment=etth1", f"data.root={hydra_path(path.parent)}"], f"ETTh1 OT ({path})"
    else:
        rng = random.Random(args.seed)
        start = datetime(2020, 1, 1)
        rows = ["date,OT"] + [
            f"{start + timedelta(hours=i):%Y-%m-%d %H:%M:%S},"
            f"{10 + 3 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.3):.4f}"
            for i in range(3000)
        ]
        folder = Path(tempfile.mkdtemp(prefix="seqkit-bench-forecast-"))
        (folder / "ETTh1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        overrides = ["experiment=etth1", f"data.root={hydra_path(folder)}", "data.split=[2000,500,500]"]
        what = "generated hourly series"
    return section_recipe(args, "forecast", [*overrides, *FORECAST_OVERRIDES, *extra]), what
