"""The forecasting export graph: one graph "model", x [B, L, F] (+ future [B, H, K]: calendar features, recursive
and seq2seq heads) -> point [B, H, T] (+ quantiles [B, H, T, Q] or std [B, H, T]), in the scaled units of the
sidecar's scaler; traced from the plain network."""

from __future__ import annotations

from typing import Any, Dict, List

import torch

from seqkit.export.graphs import EXAMPLE_LENGTHS, Call, Graph, Port
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "forecaster"  # the sidecar's "shape", as before issue #25


def graphs(network) -> List[Graph]:
    gen = torch.Generator().manual_seed(0)
    batch = len(EXAMPLE_LENGTHS)
    x = torch.randn(batch, network.input_length, network.n_past + network.n_calendar, generator=gen)
    future = torch.randn(batch, network.horizon, network.n_calendar, generator=gen)
    copy = exportable_copy(network)
    keys = list(copy(x, future))  # "point" first, then "quantiles" or "std"
    horizon = network.horizon

    def run(m, x, future=None):
        if future is None:
            future = x.new_zeros(x.size(0), horizon, 0)
        out = m(x, future)
        return tuple(out[k] for k in keys)

    takes_future = network.n_calendar and network.head != "direct"  # the direct head forecasts from the window alone
    inputs = [Port("x", {0: "batch"}, x)] + ([Port("future", {0: "batch"}, future)] if takes_future else [])
    return [Graph("model", Call(copy, run), inputs, [Port(k, {0: "batch"}) for k in keys])]


def decoding(network) -> Dict[str, Any]:
    """The sidecar's ``decoding`` record: the units of the outputs and the targets' scaler."""
    return {
        "units": "scaled: original = value * scale + shift of data.state.scaler's target columns, then exp "
        "when its log is true (seqkit.data.timeseries.Scaler.inverse); x holds the scaled targets, "
        "covariates and calendar features of data.state (seqkit.tasks.forecasting.codec)",
        "target_scaler": network.target_scaler.to_dict(),
    }
