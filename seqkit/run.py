"""What the scripts do, as plain functions over a Hydra config: train, evaluate, predict.

Kept out of ``scripts/`` so tests and notebooks can call them with a composed config.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from seqkit.checkpoint import read_checkpoint, seqkit_metadata
from seqkit.data.errors import DataError
from seqkit.predict_stream import stream_predictions
from seqkit.resume import resume_point

# the paths a data module reads at training time; cleared when a checkpoint's data module is rebuilt
_TRAINING_SOURCES = {"train_path": None, "val_path": None, "test_path": None, "builtin": None, "root": None}


def build(node: Any, **extra: Any) -> Any:
    """Call ``node["_target_"]`` (a class, or a factory function) with plain-Python arguments (no DictConfig
    reaches our classes)."""
    kwargs = {**_plain(node), **extra}  # extra (sizes learnt from the data) wins over the config
    return get_object(kwargs.pop("_target_"))(**kwargs)


def _plain(node: Any) -> Dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _set(node: Any) -> Dict[str, Any]:
    """The keys of a config node that were given a value (null means: keep the default)."""
    return {k: v for k, v in _plain(node).items() if v is not None}


def _build_all(group: Optional[DictConfig]) -> List[Any]:
    built = (build(node) for node in (group or {}).values() if node is not None and "_target_" in node)
    return [obj for obj in built if obj is not None]  # a factory may decline (e.g. progress output turned off)


def _set_threads(cfg: DictConfig) -> None:
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))


def train(cfg: DictConfig) -> Dict[str, float]:
    """Fit on train, pick the best checkpoint on validation, test it; returns the final metrics."""
    _set_threads(cfg)
    resume = resume_point(cfg)  # ckpt_path=last | <run dir> | <file>: continue that run, in its own directory
    if resume is not None and resume.finished:
        print(f"[seqkit] {resume.finished}", flush=True)
        return {}
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    model.monitor = cfg.monitor.metric  # one home: the config (the checkpoint callback reads it there too)
    if resume is not None:
        resume.check_fits(model)
    out_dir = Path(cfg.paths.output_dir)
    print(f"[seqkit] run directory: {out_dir.resolve()}", flush=True)
    trainer = build(cfg.trainer, callbacks=_build_all(cfg.get("callbacks")), logger=_build_all(cfg.get("logger")) or False,
                    default_root_dir=str(out_dir))
    trainer.fit(model, datamodule=datamodule, ckpt_path=None if resume is None else str(resume.checkpoint), weights_only=True)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt = best or None
    metrics: Dict[str, float] = {}
    for result in trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False):
        metrics.update(result)
    if cfg.get("test", True) and "test" in datamodule.datasets:
        for result in trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False):
            metrics.update(result)
    metrics = {k: round(float(v), 6) for k, v in sorted(metrics.items())}
    summary = {"best_checkpoint": best, **metrics}
    print(json.dumps(summary), flush=True)
    return metrics


def load_checkpoint(ckpt_path: str, **data_overrides: Any) -> Tuple[pl.LightningModule, pl.LightningDataModule]:
    """Rebuild the model and its data module (vocabularies, labels, tokeniser, pretrained vectors) from one checkpoint file."""
    path = Path(ckpt_path)
    meta = seqkit_metadata(read_checkpoint(path), path)  # clear errors: missing, truncated, pickled objects, newer format
    overrides = {**_TRAINING_SOURCES, **data_overrides}
    datamodule = get_class(meta["datamodule_class"]).load_from_checkpoint(path, weights_only=True, **overrides)
    model = get_class(meta["model_class"]).load_from_checkpoint(path, map_location="cpu", weights_only=True,
                                                               **datamodule.embedding_kwargs())  # pretrained vectors
    model.eval()
    return model, datamodule


def _plain_trainer(cfg: DictConfig) -> pl.Trainer:
    return build(cfg.trainer, logger=False, enable_checkpointing=False, enable_model_summary=False)


def evaluate(cfg: DictConfig) -> Dict[str, float]:
    """Metrics of the checkpoint on ``data.test_path``, printed as one JSON line (the last line)."""
    _set_threads(cfg)
    overrides = {k: v for k, v in _set(cfg.data).items() if v != "???"}
    model, datamodule = load_checkpoint(cfg.ckpt_path, **overrides)
    if not overrides.get("test_path") and not getattr(datamodule, "keeps_its_series", False):
        raise ValueError("give the file to evaluate: data.test_path=<file>")
    options = _set(cfg.get("options"))
    if options:  # data-module specific (forecasters: backtest, stride)
        datamodule.set_evaluate_options(**options)
    datamodule.setup("test")
    results = _plain_trainer(cfg).test(model, datamodule=datamodule, verbose=False)
    metrics = {k: round(float(v), 6) for r in results for k, v in sorted(r.items())}
    print(json.dumps(metrics), flush=True)
    return metrics


def predict(cfg: DictConfig) -> int:
    """Predict every example of ``input`` (a file, or - for stdin), streaming: one JSON object a line, written
    chunk by chunk (seqkit.predict_stream). -> the number of examples."""
    _set_threads(cfg)
    model, datamodule = load_checkpoint(cfg.ckpt_path)
    return stream_predictions(model, datamodule, _plain_trainer(cfg), str(cfg.input), cfg.get("output"),
                              _set(cfg.get("options")))


def report_errors(fn):
    """Wrap a script's main: bad data or settings end with one line ``error: file:line: reason`` and exit 1
    (set SEQKIT_DEBUG=1 for the traceback)."""
    @functools.wraps(fn)  # Hydra finds configs/ relative to the wrapped function's module
    def wrapper(cfg: DictConfig):
        try:
            return fn(cfg)
        except MissingMandatoryValue as e:
            print(f"error: missing setting {e.full_key}=...", file=sys.stderr)
            sys.exit(1)
        except (DataError, ValueError, FileNotFoundError, ImportError) as e:
            if os.environ.get("SEQKIT_DEBUG"):
                raise
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
    return wrapper
