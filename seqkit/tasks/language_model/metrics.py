"""The next-step figures, Lightning-free: ``loss`` (the token-weighted mean over the whole split: every real target
token counts once, whatever the batch or stream sizes), ``ppl`` = exp(loss) and, at character level,
``bpc`` = loss / ln 2. Accumulated in float32 as torchmetrics' ``MeanMetric(weight=tokens)`` did, so the figures
are the ones logged before issue #25."""

from __future__ import annotations

import math
from typing import Any, Dict

import torch


class LanguageModelMetrics:
    """One stage's figures. ``update`` takes ``network.evaluate(batch)``: ``{"loss_sum", "count"}``."""

    progress = ("loss", "ppl")

    def __init__(self, network: Any, codec: Any = None):
        self.char_level = getattr(network, "level", "char") == "char"
        self.reset()

    def reset(self) -> None:
        self.weighted = torch.tensor(0.0)
        self.weight = torch.tensor(0.0)

    def update(self, batch: Any, output: Dict[str, Any]) -> None:
        count = output["count"]
        if int(count) > 0:
            value = (output["loss_sum"] / count).detach().float().cpu()  # the batch's mean, weighted by its tokens
            weight = torch.as_tensor(count, dtype=torch.float32).cpu()
            self.weighted = self.weighted + value * weight
            self.weight = self.weight + weight

    def compute(self) -> Dict[str, float]:
        if float(self.weight) == 0:
            return {}
        loss = self.weighted / self.weight
        out = {"loss": float(loss), "ppl": float(torch.exp(loss))}
        if self.char_level:
            out["bpc"] = float(loss / math.log(2))
        return out
