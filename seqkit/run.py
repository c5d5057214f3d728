"""What the scripts do, as plain functions over a Hydra config: train, evaluate, predict.

Kept out of ``scripts/`` so tests and notebooks can call them with a composed config.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from seqkit.data.errors import DataError
from seqkit.data.textfile import decode_lines, read_lines

# the paths a data module reads at training time; cleared when a checkpoint's data module is rebuilt
_TRAINING_SOURCES = {"train_path": None, "val_path": None, "test_path": None, "builtin": None, "root": None}


def build(node: Any, **extra: Any) -> Any:
    """Instantiate ``node["_target_"]`` with plain-Python arguments (no DictConfig reaches our classes)."""
    kwargs = {**_plain(node), **extra}  # extra (sizes learnt from the data) wins over the config
    cls = get_class(kwargs.pop("_target_"))
    return cls(**kwargs)


def _plain(node: Any) -> Dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _set(node: Any) -> Dict[str, Any]:
    """The keys of a config node that were given a value (null means: keep the default)."""
    return {k: v for k, v in _plain(node).items() if v is not None}


def _build_all(group: Optional[DictConfig]) -> List[Any]:
    return [build(node) for node in (group or {}).values() if node is not None and "_target_" in node]


def _set_threads(cfg: DictConfig) -> None:
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))


def train(cfg: DictConfig) -> Dict[str, float]:
    """Fit on train, pick the best checkpoint on validation, test it; returns the final metrics."""
    _set_threads(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    model.monitor = cfg.monitor.metric  # one home: the config (the checkpoint callback reads it there too)
    out_dir = Path(cfg.paths.output_dir)
    print(f"[seqkit] run directory: {out_dir.resolve()}", flush=True)
    trainer = build(cfg.trainer, callbacks=_build_all(cfg.get("callbacks")), logger=_build_all(cfg.get("logger")) or False,
                    default_root_dir=str(out_dir))
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
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
    """Rebuild the model and its data module (vocabularies, labels, tokeniser) from one checkpoint file."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise DataError(path, None, "checkpoint not found")
    try:
        meta = torch.load(path, map_location="cpu", weights_only=True)["seqkit"]
    except Exception as e:  # not a torch file, or not a seqkit checkpoint
        raise DataError(path, None, f"not a seqkit checkpoint ({type(e).__name__}: {e})") from None
    model = get_class(meta["model_class"]).load_from_checkpoint(path, map_location="cpu", weights_only=True)
    overrides = {**_TRAINING_SOURCES, **data_overrides}
    datamodule = get_class(meta["datamodule_class"]).load_from_checkpoint(path, weights_only=True, **overrides)
    model.eval()
    return model, datamodule


def _plain_trainer(cfg: DictConfig) -> pl.Trainer:
    return build(cfg.trainer, logger=False, enable_checkpointing=False, enable_model_summary=False)


def evaluate(cfg: DictConfig) -> Dict[str, float]:
    """Metrics of the checkpoint on ``data.test_path``, printed as one JSON line (the last line)."""
    _set_threads(cfg)
    if OmegaConf.is_missing(cfg.data, "test_path") or not cfg.data.test_path:
        raise ValueError("give the file to evaluate: data.test_path=<file>")
    model, datamodule = load_checkpoint(cfg.ckpt_path, **_set(cfg.data))
    datamodule.setup("test")
    results = _plain_trainer(cfg).test(model, datamodule=datamodule, verbose=False)
    metrics = {k: round(float(v), 6) for r in results for k, v in sorted(r.items())}
    print(json.dumps(metrics), flush=True)
    return metrics


def _read_input(source: str) -> Tuple[List[Tuple[int, str]], str]:
    if source == "-":
        return decode_lines(sys.stdin.buffer.read(), "<stdin>"), "<stdin>"
    return read_lines(source), source


def predict(cfg: DictConfig) -> List[Dict[str, Any]]:
    """Predict every example of ``input`` (a file, or - for stdin); write one JSON object a line."""
    _set_threads(cfg)
    model, datamodule = load_checkpoint(cfg.ckpt_path)
    lines, source = _read_input(str(cfg.input))
    options = _set(cfg.get("options"))
    if hasattr(model, "predict_options"):  # the model keeps its own settings (seq2seq: beam_size, n_best)
        options = model.predict_options(options)
    records = datamodule.set_predict_input(lines, source, **options)
    batches = _plain_trainer(cfg).predict(model, dataloaders=datamodule.predict_dataloader())
    outputs: List[Optional[Dict[str, torch.Tensor]]] = [None] * len(records)
    for batch in batches:
        for row, index in enumerate(batch["index"].tolist()):
            outputs[index] = {k: v[row] for k, v in batch.items() if k != "index"}
    rows = datamodule.format_predictions(records, outputs)
    _write(rows, cfg.get("output"), getattr(datamodule, "format_output", None), options)
    return rows


def _write(rows: List[Dict[str, Any]], output: Optional[str], formatter, options: Dict[str, Any]) -> None:
    text_lines: Iterable[str]
    if formatter is not None and options.get("output_format", "json") != "json":
        text_lines = formatter(rows, options["output_format"])
    else:
        text_lines = (json.dumps(r, ensure_ascii=False) for r in rows)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            for line in text_lines:
                f.write(line + "\n")
    else:
        for line in text_lines:
            print(line)


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
