"""The many-to-many aligned export graph: one graph "model", (tokens, lengths[, chars, char_lengths]) -> emissions
[B, T, tags], traced from the plain network. Decoding (the outside bias, then CRF Viterbi or argmax) runs outside
the graph, with the ``outside_bias`` and transitions the sidecar's "decoding" holds
(seqkit.export.exporter.decoding_info, seqkit.export.runtime.decode_tags)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import List

import torch

from seqkit.export.graphs import Call, Graph, Port, sequence_inputs
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "tagger"  # the sidecar's "shape" (seqkit.export.runtime reads it), as before issue #25


def graphs(network) -> List[Graph]:
    def run(m, tokens, lengths, chars=None, char_lengths=None):
        return m(tokens, lengths, chars, char_lengths)

    sizes = SimpleNamespace(vocab_size=network.vocab_size, num_chars=network.num_chars)
    return [
        Graph(
            "model",
            Call(exportable_copy(network), run),
            sequence_inputs(network, sizes),
            [Port("emissions", {0: "batch", 1: "time"})],
        )
    ]


def decoding(network) -> dict:
    """What turns the emissions into tags (the sidecar's "decoding"): the checkpoint's ``outside_bias`` (taken
    from the "O" tag's emissions first), then argmax, or Viterbi with the CRF's effective transition, start and
    end scores (``seqkit.export.runtime.decode_tags``)."""
    bias = {"outside_bias": network.decode_settings["outside_bias"]}
    if network.crf is None:
        return {"method": "argmax", **bias}
    transitions, start, end = network.crf._effective(torch.float32)
    return {
        "method": "viterbi",
        "transitions": transitions.tolist(),
        "start": start.tolist(),
        "end": end.tolist(),
        **bias,
    }
