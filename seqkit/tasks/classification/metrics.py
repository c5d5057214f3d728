"""The many-to-one figures, Lightning-free: ``{stage}/loss`` (the batch-size-weighted mean of batch losses, as
Lightning's ``self.log(..., batch_size=B)``), ``acc`` (micro accuracy) and ``f1`` (macro F1 as torchmetrics'
``MulticlassF1Score(average="macro")``); regression: ``mse``, ``baseline_mse`` (always predicting the network's
``target_mean``) and ``mse_ratio`` (mse / baseline_mse: 1 = no better than the mean)."""

from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import Tensor


def macro_f1(predicted: Tensor, target: Tensor, num_classes: int) -> float:
    """Macro F1 over classes, as torchmetrics computes it (zero where precision + recall is zero; a class with no
    true positive, false positive or false negative is left out of the mean)."""
    tp = torch.bincount(target[predicted == target], minlength=num_classes).double()
    fp = torch.bincount(predicted, minlength=num_classes).double() - tp
    fn = torch.bincount(target, minlength=num_classes).double() - tp
    denominator = 2 * tp + fp + fn
    present = denominator > 0  # the classes in the mean; F1 of a present class with no true positive is 0
    return float((2 * tp[present] / denominator[present]).mean()) if bool(present.any()) else 0.0


class ClassificationMetrics:
    """One stage's figures (``compute`` -> names without the stage prefix). ``update`` takes
    ``network.evaluate(batch)``: ``{"loss", "outputs", "targets"}``."""

    def __init__(self, network: Any, codec: Any = None):
        self.regression = bool(network.regression)
        self.num_classes = int(network.num_classes)
        self.target_mean = float(getattr(network, "target_mean", 0.0))
        self.progress = ("mse", "mse_ratio") if self.regression else ("acc", "f1")
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.count = 0.0, 0
        self.squared, self.baseline_squared = 0.0, 0.0
        self.predicted: List[Tensor] = []
        self.targets: List[Tensor] = []

    def update(self, batch: Any, output: Dict[str, Tensor]) -> None:
        n = int(output["targets"].size(0))
        self.loss_sum += float(output["loss"]) * n
        self.count += n
        outputs, targets = output["outputs"].detach(), output["targets"]
        if self.regression:
            targets = targets.to(outputs.dtype)
            self.squared += float(((outputs - targets) ** 2).double().sum())
            self.baseline_squared += float(((self.target_mean - targets) ** 2).double().sum())
        else:
            self.predicted.append(outputs.argmax(-1).cpu())
            self.targets.append(targets.cpu())

    def compute(self) -> Dict[str, float]:
        if self.count == 0:
            return {}
        out = {"loss": self.loss_sum / self.count}
        if self.regression:
            mse, baseline = self.squared / self.count, self.baseline_squared / self.count
            return {
                **out,
                "mse": mse,
                "baseline_mse": baseline,
                "mse_ratio": mse / baseline if baseline else float("nan"),
            }
        predicted, targets = torch.cat(self.predicted), torch.cat(self.targets)
        return {
            **out,
            "acc": float((predicted == targets).double().mean()),
            "f1": macro_f1(predicted, targets, self.num_classes),
        }
