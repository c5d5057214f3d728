"""Evaluation without Lightning, torchmetrics or Hydra's application: what ``scripts/evaluate.py`` tries first.

For a text classifier's checkpoint and a test file (``data.test_path``), this reads the file with the training
data module's reader (the same ``error: file:line`` messages), batches it as the data module's test loader does,
runs the network's ``forward`` (what ``test_step`` runs) and computes the figures ``SequenceClassifier`` logs:
``test/loss`` (cross-entropy, the mean over texts), ``test/acc`` (micro accuracy) and ``test/f1`` (macro F1 as
torchmetrics' ``MulticlassF1Score(average="macro")``: classes that neither occur nor are predicted are left out
of the mean). ``tests/test_light_evaluate.py`` holds it equal to the Lightning path.

Anything else (another shape, regression, pretrained vectors, shipped data, ``split=val``, options) returns
None, and the script goes the usual way (Hydra, Lightning, ``seqkit.run.evaluate``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from seqkit.cli import set_threads
from seqkit.light_predict import load_light

# the ``data.*`` keys of configs/evaluate.yaml that this path applies itself
_DATA_KEYS = {"test_path", "root", "format", "eval_batch_size"}


def macro_f1(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """Macro F1 over classes, as torchmetrics computes it (zero where precision + recall is zero; a class with no
    true positive, false positive or false negative is left out of the mean)."""
    tp = torch.bincount(target[predicted == target], minlength=num_classes).double()
    fp = torch.bincount(predicted, minlength=num_classes).double() - tp
    fn = torch.bincount(target, minlength=num_classes).double() - tp
    denominator = 2 * tp + fp + fn
    present = denominator > 0  # the classes in the mean; F1 of a present class with no true positive is 0
    return float((2 * tp[present] / denominator[present]).mean()) if bool(present.any()) else 0.0


def light_evaluate(cfg: DictConfig) -> Optional[Dict[str, float]]:
    """Evaluate as ``seqkit.run.evaluate`` does, without Lightning -> the metrics (printed as one JSON line);
    None when this checkpoint or command needs the Lightning path."""
    data = {k: v for k, v in OmegaConf.to_container(cfg.get("data") or {}, resolve=False).items()
            if v is not None and v != "???"}
    options = {k: v for k, v in OmegaConf.to_container(cfg.get("options") or {}, resolve=False).items() if v is not None}
    if str(cfg.get("split") or "test") != "test" or options or set(data) - _DATA_KEYS or "test_path" not in data:
        return None
    set_threads(cfg)
    loaded = load_light(str(cfg.ckpt_path))
    if loaded is None or getattr(loaded[0], "regression", True):
        return None
    network, reader = loaded
    from seqkit.data.labelled_text import read_labelled_text
    from seqkit.data.sampler import sorted_batches
    from seqkit.data.textfile import resolve_path

    path = resolve_path(str(data["test_path"]), data.get("root"))  # as the data module resolves it
    examples = reader.encode(read_labelled_text(path, data.get("format") or reader.hparams.format), str(path))
    if not examples:
        raise ValueError(f"{path}: no labelled text to evaluate")
    batch_size = int(data.get("eval_batch_size") or reader.eval_batch_size)
    loss_sum, predicted, target = 0.0, [], []
    with torch.no_grad():
        for indices in sorted_batches([reader.example_length(e) for e in examples], batch_size):
            batch = reader.collate([examples[i] for i in indices])
            logits = network(batch.tokens, batch.lengths, batch.chars, batch.char_lengths)
            loss_sum += float(F.cross_entropy(logits, batch.labels)) * len(indices)  # as Lightning's batch-size-weighted mean
            predicted.append(logits.argmax(-1))
            target.append(batch.labels)
    predicted_all, target_all = torch.cat(predicted), torch.cat(target)
    metrics = {"test/acc": float((predicted_all == target_all).double().mean()),
               "test/f1": macro_f1(predicted_all, target_all, len(reader.labels)),
               "test/loss": loss_sum / len(examples)}
    metrics = {k: round(v, 6) for k, v in sorted(metrics.items())}
    print(json.dumps(metrics), flush=True)
    return metrics


def main(config_file: Path, argv: List[str]) -> bool:
    """``scripts/evaluate.py``'s fast path: True when it ran (or reported an error), False when the command needs
    Hydra and Lightning."""
    from seqkit.light_predict import main as light_main
    return light_main(config_file, argv, run=light_evaluate)
