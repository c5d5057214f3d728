"""The toy shape's export graph: (tokens, lengths) -> count [B]."""

from __future__ import annotations

from typing import List

import torch

from seqkit.export.graphs import Call, Graph, Port
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "count"


def graphs(network) -> List[Graph]:
    lengths = torch.tensor([5, 2, 3])
    tokens = torch.randint(2, max(network.vocab_size, 3), (3, 5), generator=torch.Generator().manual_seed(0))
    tokens = tokens.masked_fill(torch.arange(5)[None] >= lengths[:, None], 0)
    inputs = [Port("tokens", {0: "batch", 1: "time"}, tokens), Port("lengths", {0: "batch"}, lengths)]
    return [
        Graph("model", Call(exportable_copy(network), lambda m, t, n: m(t, n)), inputs, [Port("count", {0: "batch"})])
    ]
