"""The many-to-many aligned figures, Lightning-free: ``loss`` (the batch-size-weighted mean of batch losses, as
Lightning's ``self.log(..., batch_size=B)``), ``acc`` (token accuracy over the scored positions, as torchmetrics'
micro ``MulticlassAccuracy(ignore_index=IGNORE_INDEX)``) and, for entity tags (scheme iob2 / iobes),
``precision``, ``recall``, ``f1`` and ``f1_<TYPE>`` of whole entities (seqeval, strict mode). Figures are float32,
as the Lightning module logged them."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from torch import Tensor

from seqkit.data.batch import IGNORE_INDEX

_SCHEMES = ("iob2", "iobes")


def _f32(value: Any) -> float:
    return float(torch.tensor(float(value), dtype=torch.float32))


class EntityF1:
    """Accumulates predicted and gold tag ids of real tokens; ``compute`` scores whole entities with seqeval in
    strict mode (an entity counts only if its type and both boundaries are right).

    Returns ``{"precision", "recall", "f1"}`` (micro over entities) plus ``f1_<TYPE>`` per entity type.
    """

    def __init__(self, tags: Sequence[str], scheme: str = "iob2"):
        if scheme not in _SCHEMES:
            raise ValueError(f"entity F1 needs scheme iob2 or iobes, got {scheme!r}")
        self.tags, self.scheme = list(tags), scheme
        self.reset()

    def reset(self) -> None:
        self.preds: List[Tensor] = []
        self.target: List[Tensor] = []
        self.lengths: List[Tensor] = []

    def update(self, preds: Tensor, target: Tensor, mask: Tensor) -> None:
        """preds, target [B, T] tag ids; mask [B, T] bool."""
        self.preds.append(preds[mask].cpu())
        self.target.append(target[mask].cpu())
        self.lengths.append(mask.sum(1).cpu())

    def compute(self) -> Dict[str, float]:
        from seqeval.metrics import classification_report
        from seqeval.scheme import IOB2, IOBES

        preds, target = torch.cat(self.preds).tolist(), torch.cat(self.target).tolist()
        y_pred, y_true, start = [], [], 0
        for n in torch.cat(self.lengths).tolist():
            y_pred.append([self.tags[i] for i in preds[start : start + n]])
            y_true.append([self.tags[i] for i in target[start : start + n]])
            start += n
        report = classification_report(
            y_true,
            y_pred,
            mode="strict",
            scheme={"iob2": IOB2, "iobes": IOBES}[self.scheme],
            output_dict=True,
            zero_division=0,
        )
        micro = report["micro avg"]
        out = {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1-score"]}
        for name, row in report.items():
            if not name.endswith(" avg"):
                out[f"f1_{name}"] = row["f1-score"]
        return {k: float(v) for k, v in out.items()}


def entity_types(tags: List[str]) -> List[str]:
    return sorted({t.split("-", 1)[1] for t in tags if "-" in t})


class TaggingMetrics:
    """One stage's figures (``compute`` -> names without the stage prefix). ``update`` takes
    ``network.evaluate(batch)``: ``{"loss", "predicted", "targets", "mask"}``."""

    def __init__(self, network: Any, codec: Any = None):
        self.entities = bool(network.entities)
        self.tags, self.scheme = list(network.tags), network.scheme
        self.progress = ("f1",) if self.entities else ("acc",)
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.count = torch.zeros((), dtype=torch.float32), 0
        self.correct, self.scored = 0, 0
        self.entity_f1 = EntityF1(self.tags, self.scheme) if self.entities else None

    def update(self, batch: Any, output: Dict[str, Tensor]) -> None:
        n = len(batch)
        self.loss_sum = self.loss_sum + output["loss"].detach().float().cpu() * n
        self.count += n
        predicted, targets, mask = output["predicted"], output["targets"], output["mask"]
        scored = targets != IGNORE_INDEX
        self.correct += int(((predicted.masked_fill(~mask, IGNORE_INDEX) == targets) & scored).sum())
        self.scored += int(scored.sum())
        if self.entity_f1 is not None:
            self.entity_f1.update(predicted, targets, mask)

    def compute(self) -> Dict[str, float]:
        if self.count == 0:
            return {}
        acc = (
            torch.tensor(self.correct).float() / torch.tensor(self.scored).float() if self.scored else torch.tensor(0.0)
        )
        out = {"loss": float(self.loss_sum / self.count), "acc": float(acc)}
        if self.entity_f1 is not None:
            out.update({k: _f32(v) for k, v in self.entity_f1.compute().items()})
        return out
