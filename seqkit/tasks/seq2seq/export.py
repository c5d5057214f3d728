"""The encoder-decoder export graphs, traced from the plain network:

- ``encoder``: source [B, S], lengths [B] -> the decoder's state (h, c, feed [1, B, H], memory [S, B, Hk], keys
  [S, B, A], mask [S, B], as far as the network has them);
- ``decoder_step``: ids [B] + that state -> logits [B, V], the new h (+ c, feed) (+ attention [B, S]).

``decoding``: what the sidecar tells a runtime to decode with (bos/eos ids and the decode settings).
"""

from __future__ import annotations

from typing import Any, Dict, List

import torch

from seqkit.export.graphs import Call, Graph, Port, example_tokens, flat_state, pack_state, state_ports
from seqkit.export.masked import exportable_copy

SIDECAR_SHAPE = "seq2seq"  # the sidecar's "shape" (seqkit.export.runtime reads it), as before issue #25


def _decoder_state_ports(state) -> List[Port]:
    rnn_state, feed, memory, keys, mask = state
    ports = state_ports("", rnn_state)
    if feed is not None:
        ports.append(Port("feed", {1: "batch"}, feed))
    if memory is not None:
        ports += [
            Port("memory", {0: "source_time", 1: "batch"}, memory),
            Port("keys", {0: "source_time", 1: "batch"}, keys),
            Port("mask", {0: "source_time", 1: "batch"}, mask),
        ]
    return ports


def graphs(network, source_vocab_size: int = 0, bos_index: int = -1) -> List[Graph]:
    """The two graphs of ``network`` (a Seq2SeqNetwork, or anything with its ``encode`` and ``decoder``; the sizes
    default to the network's ``source_vocab_size`` and ``bos_index``)."""
    copy = exportable_copy(network)
    source, lengths = example_tokens(source_vocab_size or network.source_vocab_size)
    with torch.no_grad():
        state = copy.encode(source, lengths)
    decoder_ports = _decoder_state_ports(state)
    names = [p.name for p in decoder_ports]
    cell = copy.decoder.rnn.cell

    def encode(m, source, lengths):
        rnn_state, feed, memory, keys, mask = m.encode(source, lengths)
        return tuple(t for t in (*flat_state(rnn_state), feed, memory, keys, mask) if t is not None)

    def step(m, ids, *tensors):
        given = dict(zip(names, tensors))
        rnn_state = pack_state(cell, given["h"], given.get("c"))
        state = (rnn_state, given.get("feed"), given.get("memory"), given.get("keys"), given.get("mask"))
        logits, (new_rnn, feed, *_), weights = m.decoder.step_with_attention(ids, state)
        out = [logits, *flat_state(new_rnn)]
        if feed is not None:
            out.append(feed)
        if weights is not None:
            out.append(weights)
        return tuple(out)

    ids = torch.full((source.size(0),), bos_index if bos_index >= 0 else network.bos_index, dtype=torch.long)
    step_outputs = [Port("logits", {0: "batch"}), *state_ports("new_", state[0])]
    if state[1] is not None:
        step_outputs.append(Port("new_feed", {1: "batch"}))
    if state[2] is not None:
        step_outputs.append(Port("attention", {0: "batch", 1: "source_time"}))
    return [
        Graph(
            "encoder",
            Call(copy, encode),
            [Port("source", {0: "batch", 1: "source_time"}, source), Port("lengths", {0: "batch"}, lengths)],
            [Port(p.name, p.axes) for p in decoder_ports],
        ),
        Graph("decoder_step", Call(copy, step), [Port("ids", {0: "batch"}, ids), *decoder_ports], step_outputs),
    ]


def decoding(network) -> Dict[str, Any]:
    """bos/eos ids and the decode settings (beam_size, length_penalty, max_len_ratio, max_len_extra, n_best)."""
    return {"bos_index": network.bos_index, "eos_index": network.eos_index, **network.decode_settings}
