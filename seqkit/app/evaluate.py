"""``scripts/evaluate.py`` on (network, codec): the shape's metrics over ``data.test_path`` (or a split of shipped
data), printed as one JSON line ``{"test/<name>": value}``, exactly the figures training logs; no Lightning."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from seqkit import tasks
from seqkit.app.checkpoint import checkpoint_shape, load
from seqkit.app.cli import set_threads


def metrics_of(
    network: Any, codec: Any, examples: Any, shape: Any, batch_size: Optional[int] = None, stage: str = "test"
) -> Dict[str, float]:
    """The shape's metrics (``Shape.metrics``) of encoded ``examples``, in the codec's evaluation batches, as
    training's ``stage`` ("test", or "val": the network evaluates as at validation) computes them, a carried state
    going from batch to batch as in training (truncated BPTT); metrics that have a ``report(stage)``
    (forecasting's table of baselines) print it on stderr."""
    metrics = tasks.registry.stage_metrics(shape, network, codec, stage)
    state = None
    with torch.no_grad():
        for batch in codec.batches(examples, batch_size):
            output, state = tasks.registry.call(network, "evaluate", batch, stage, state)
            metrics.update(batch, output)
    if hasattr(metrics, "report"):
        metrics.report(stage)
    return metrics.compute()


def _set(node: Any) -> Dict[str, Any]:
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})
    return {k: v for k, v in plain.items() if v is not None and v != "???"}


def evaluate(cfg: DictConfig) -> Dict[str, float]:
    """Metrics of the checkpoint on ``data.test_path`` (or the ``split`` of shipped ``data.builtin``), printed as
    one JSON line."""
    set_threads(cfg)
    tasks.registry.import_plugins(cfg.get("plugins"))
    split = str(cfg.get("split") or "test")
    if split not in ("test", "val"):
        raise ValueError(
            f"split={split}: give split=test (data.test_path, or the shipped data's test split) or split=val"
        )
    overrides = _set(OmegaConf.to_container(cfg.get("data") or {}, resolve=False))
    if overrides.get("builtin") and overrides.get("test_path"):
        raise ValueError("give data.test_path=<file> or data.builtin=<name>, not both")
    if split == "val" and not overrides.get("builtin"):
        raise ValueError(
            "split=val scores the validation split of shipped data: give data.builtin=<name> too "
            "(for your own validation file: data.test_path=<file>)"
        )
    shape = checkpoint_shape(cfg.ckpt_path)  # reads the file once: load below takes it from there
    network, codec = load(cfg.ckpt_path, **overrides)
    if not (hasattr(codec, "read_splits") or hasattr(codec, "evaluation_set")):
        raise ValueError(
            f"{cfg.ckpt_path}: trained on generated data ({type(codec).__name__}), which has no files to evaluate; "
            "its training run reported its validation and test figures"
        )
    options = _set(cfg.get("options"))
    if hasattr(network, "predict_options"):  # the network takes its own decoding settings (taggers: outside_bias)
        options = network.predict_options(options)
    if options:  # the codec's own (conditional LMs: flip_condition; forecasting: backtest, stride)
        if not hasattr(codec, "set_evaluate_options"):
            model = (shape.legacy_models or (shape.name,))[0].rsplit(".", 1)[-1]  # named as before issue #25
            raise ValueError(f"options.{next(iter(options))}: a {model} checkpoint takes no evaluate options")
        codec.set_evaluate_options(**options)
    if not (overrides.get("test_path") or overrides.get("builtin")) and not getattr(codec, "keeps_its_series", False):
        raise ValueError("give the file to evaluate: data.test_path=<file> (or data.builtin=<name> for shipped data)")
    if hasattr(codec, "evaluation_set"):  # the codec reads what it evaluates itself (forecasting: its own series)
        encoded = codec.evaluation_set(split)
    else:
        splits = codec.read_splits()
        if split not in splits:
            raise ValueError(f"no {split} split to evaluate")
        examples, source = splits[split]
        encoded = codec.encode(examples, source)
    values = metrics_of(network, codec, encoded, shape, stage=split)
    metrics = {f"{split}/{k}": round(float(v), 6) for k, v in sorted(values.items())}
    metrics = dict(sorted(metrics.items()))
    print(json.dumps(metrics), flush=True)
    return metrics
