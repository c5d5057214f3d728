"""The count's figures: mean squared error and the share of lines whose rounded count is exact."""

from __future__ import annotations

from typing import Any, Dict


class CountMetrics:
    progress = ("mse", "exact")

    def __init__(self, network: Any, codec: Any = None):
        self.reset()

    def reset(self) -> None:
        self.squared, self.exact, self.count = 0.0, 0, 0

    def update(self, batch: Any, output: Dict[str, Any]) -> None:
        counts, targets = output["counts"], output["targets"]
        self.squared += float(((counts - targets) ** 2).sum())
        self.exact += int((counts.round() == targets).sum())
        self.count += int(targets.numel())

    def compute(self) -> Dict[str, float]:
        return {"mse": self.squared / self.count, "exact": self.exact / self.count} if self.count else {}
