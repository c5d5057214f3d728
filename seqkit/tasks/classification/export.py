"""The many-to-one export graph: one graph "model", (tokens or features, lengths[, chars, char_lengths]) ->
logits [B, classes] (regression: value [B]), traced from the plain network."""

from __future__ import annotations

from types import SimpleNamespace
from typing import List

from seqkit.export.graphs import Call, Graph, Port, sequence_inputs
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "classifier"  # the sidecar's "shape" (seqkit.export.runtime reads it), as before issue #25


def graphs(network) -> List[Graph]:
    def run(m, inputs, lengths, chars=None, char_lengths=None):
        return m(inputs, lengths, chars, char_lengths)

    sizes = SimpleNamespace(vocab_size=network.vocab_size, input_size=network.input_size, num_chars=network.num_chars)
    out = "value" if network.regression else "logits"
    return [
        Graph("model", Call(exportable_copy(network), run), sequence_inputs(network, sizes), [Port(out, {0: "batch"})])
    ]


def decoding(network) -> dict:
    """What turns the graph's output into a prediction, beyond the data's label maps (the sidecar's "decoding")."""
    return {"method": "value" if network.regression else "softmax"}
