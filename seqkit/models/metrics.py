"""Entity-level precision/recall/F1 (seqeval, strict mode) as a torchmetrics Metric."""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES
from torch import Tensor
from torchmetrics import Metric

_SCHEMES = {"iob2": IOB2, "iobes": IOBES}


class EntityF1(Metric):
    """Accumulates predicted and gold tag ids of real tokens; ``compute`` scores whole entities with
    seqeval in strict mode (an entity counts only if its type and both boundaries are right).

    Returns ``{"precision", "recall", "f1"}`` (micro over entities) plus ``f1_<TYPE>`` per entity type.
    """

    full_state_update = False

    def __init__(self, tags: Sequence[str], scheme: str = "iob2"):
        super().__init__()
        if scheme not in _SCHEMES:
            raise ValueError(f"entity F1 needs scheme iob2 or iobes, got {scheme!r}")
        self.tags, self.scheme = list(tags), scheme
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("lengths", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor, mask: Tensor) -> None:
        """preds, target [B, T] tag ids; mask [B, T] bool."""
        self.preds.append(preds[mask])
        self.target.append(target[mask])
        self.lengths.append(mask.sum(1))

    def compute(self) -> Dict[str, Tensor]:
        cat = lambda xs: torch.cat(xs) if isinstance(xs, list) else xs  # noqa: E731 (lists before sync)
        preds, target, lengths = cat(self.preds).tolist(), cat(self.target).tolist(), cat(self.lengths).tolist()
        y_pred, y_true, start = [], [], 0
        for n in lengths:
            y_pred.append([self.tags[i] for i in preds[start : start + n]])
            y_true.append([self.tags[i] for i in target[start : start + n]])
            start += n
        report = classification_report(
            y_true, y_pred, mode="strict", scheme=_SCHEMES[self.scheme], output_dict=True, zero_division=0
        )
        micro = report["micro avg"]
        out = {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1-score"]}
        for name, row in report.items():
            if not name.endswith(" avg"):
                out[f"f1_{name}"] = row["f1-score"]
        return {k: torch.tensor(float(v)) for k, v in out.items()}


def entity_types(tags: List[str]) -> List[str]:
    return sorted({t.split("-", 1)[1] for t in tags if "-" in t})
