"""The next-step export graphs, traced from the plain network: "step" (ids [B], state -> logits [B, V], new state)
and, for a conditional model, "start" (condition [B] -> the initial state)."""

from __future__ import annotations

from typing import List

import torch

from seqkit.export.graphs import (
    EXAMPLE_LENGTHS,
    Call,
    Graph,
    Port,
    flat_state,
    pack_state,
    state_ports,
)
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "language_model"  # the sidecar's "shape" (seqkit.export.runtime reads it), as before issue #25


def graphs(network) -> List[Graph]:
    cell, batch = network.encoder.cell, len(EXAMPLE_LENGTHS)
    ids = torch.randint(2, max(network.vocab_size, 3), (batch,), generator=torch.Generator().manual_seed(0))
    state = network.encoder.initial_state(batch)
    state = tuple(s + 0.1 for s in state) if isinstance(state, tuple) else state + 0.1
    conditional = bool(network.num_conditions)
    condition = torch.arange(batch) % max(network.num_conditions, 1)
    copy = exportable_copy(network)

    def step(m, ids, *rest):
        state = pack_state(cell, *rest[:2]) if cell == "lstm" else rest[0]
        cond = rest[-1] if conditional else None
        logits, new = m.step(ids, state, cond)
        return (logits, *flat_state(new))

    inputs = [Port("ids", {0: "batch"}, ids), *state_ports("", state)]
    if conditional:
        inputs.append(Port("condition", {0: "batch"}, condition))
    out = [Graph("step", Call(copy, step), inputs, [Port("logits", {0: "batch"}), *state_ports("new_", state)])]
    if conditional:
        out.append(
            Graph(
                "start",
                Call(copy, lambda m, c: flat_state(m.initial_state(c))),
                [Port("condition", {0: "batch"}, condition)],
                state_ports("", state),
            )
        )
    return out


def decoding(network) -> dict:
    """What a runtime needs to run the step graph (the sidecar's "decoding"): where the first state comes from
    (zeros, or the ``start`` graph of a conditional model) and its shape."""
    return {
        "initial_state": "start graph" if network.num_conditions else "zeros",
        "state_shape": [network.encoder.num_layers, "batch", network.encoder.hidden_size],
    }
