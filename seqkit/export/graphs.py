"""What each model shape exports: graphs with tensor-only inputs and outputs, their names and dynamic axes.

Every graph wraps a masked copy of the model (``seqkit.export.masked.exportable_copy``) and calls the model's
own methods, so the exported numbers are the model's. Shapes:

- classifier: tokens [B, T] (or features [B, T, F]), lengths [B] (+ chars [B, T, C], char_lengths [B, T])
  -> logits [B, classes] (regression: value [B]);
- tagger: the same inputs -> emissions [B, T, tags]; decoding (CRF Viterbi, or argmax) runs on them outside
  the graph (``seqkit.export.runtime.viterbi`` with the transitions in the sidecar);
- language model: one step, ids [B], h [L, B, H] (+ c) (+ condition [B]) -> logits [B, V], h (+ c); a
  conditional model adds a ``start`` graph: condition [B] -> h (+ c), the state that starts its sequences;
- seq2seq: ``encoder``: source [B, S], lengths [B] -> the decoder's state (h, c, feed [1, B, H], memory
  [S, B, Hk], keys [S, B, A], mask [S, B], as far as the model has them); ``decoder_step``: ids [B] + that
  state -> logits [B, V], the new h (+ c, feed) (+ attention [B, S]);
- forecaster: x [B, L, F] (+ future [B, H, K]: calendar features, recursive and seq2seq heads) -> point [B, H, T] (+ quantiles
  [B, H, T, Q] or std [B, H, T]), in the scaled units of the sidecar's scaler.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from seqkit.export.masked import exportable_copy

EXAMPLE_LENGTHS = (7, 3, 5)  # a variable-length example batch for tracing (longest first is not required)


@dataclass
class Port:
    """One input or output of a graph: its name, the axes that vary (dim -> name), and an example (inputs)."""

    name: str
    axes: Dict[int, str]
    example: Optional[Tensor] = None


@dataclass
class Graph:
    """One exported file: ``module(*inputs) -> outputs`` (a tensor or a tuple of them), traced on the inputs' examples."""

    name: str
    module: nn.Module
    inputs: List[Port]
    outputs: List[Port]

    def example_args(self) -> Tuple[Tensor, ...]:
        return tuple(p.example for p in self.inputs)


class _Call(nn.Module):
    """Wrap a function of the (masked) model as a module whose forward takes and returns tensors only."""

    def __init__(self, model: nn.Module, fn: Callable):
        super().__init__()
        self.model, self.fn = model, fn
        self.eval()  # a new module starts in training mode, and exporters restore the mode they found

    def forward(self, *args: Tensor):
        return self.fn(self.model, *args)


def _tokens(vocab_size: int, lengths=EXAMPLE_LENGTHS) -> Tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    lengths_t = torch.tensor(lengths)
    tokens = torch.randint(2, max(vocab_size, 3), (len(lengths), max(lengths)), generator=gen)
    return tokens.masked_fill(torch.arange(max(lengths))[None] >= lengths_t[:, None], 0), lengths_t


def _char_ports(num_chars: int, tokens: Tensor, lengths: Tensor) -> List[Port]:
    gen = torch.Generator().manual_seed(1)
    char_lengths = torch.randint(1, 6, tokens.shape, generator=gen)
    char_lengths = char_lengths.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0)
    chars = torch.randint(2, max(num_chars, 3), (*tokens.shape, 5), generator=gen)
    chars = chars.masked_fill(torch.arange(5)[None, None] >= char_lengths[..., None], 0)
    return [
        Port("chars", {0: "batch", 1: "time", 2: "chars"}, chars),
        Port("char_lengths", {0: "batch", 1: "time"}, char_lengths),
    ]


def _sequence_inputs(model, hp: Any = None) -> List[Port]:
    """tokens (or features) and lengths, plus chars when the model reads characters. hp: the sizes
    (vocab_size, input_size, num_chars) as attributes; the model's hparams by default."""
    hp = model.hparams if hp is None else hp
    if getattr(model, "embedding", True) is None:  # a classifier over real-valued features
        lengths = torch.tensor(EXAMPLE_LENGTHS)
        features = torch.randn(
            len(EXAMPLE_LENGTHS), max(EXAMPLE_LENGTHS), hp.input_size, generator=torch.Generator().manual_seed(0)
        )
        features = features * (torch.arange(features.size(1))[None, :, None] < lengths[:, None, None])
        return [Port("features", {0: "batch", 1: "time"}, features), Port("lengths", {0: "batch"}, lengths)]
    tokens, lengths = _tokens(hp.vocab_size)
    ports = [Port("tokens", {0: "batch", 1: "time"}, tokens), Port("lengths", {0: "batch"}, lengths)]
    if model.chars is not None:
        ports += _char_ports(hp.num_chars, tokens, lengths)
    return ports


def classifier_graphs(model) -> List[Graph]:
    def run(m, inputs, lengths, chars=None, char_lengths=None):
        return m(inputs, lengths, chars, char_lengths)

    out = "value" if model.regression else "logits"
    return [Graph("model", _Call(exportable_copy(model), run), _sequence_inputs(model), [Port(out, {0: "batch"})])]


def tagger_graphs(model) -> List[Graph]:
    def run(m, tokens, lengths, chars=None, char_lengths=None):
        return m(SimpleNamespace(tokens=tokens, lengths=lengths, chars=chars, char_lengths=char_lengths))

    return [
        Graph(
            "model",
            _Call(exportable_copy(model), run),
            _sequence_inputs(model),
            [Port("emissions", {0: "batch", 1: "time"})],
        )
    ]


def _state_ports(prefix: str, state, axis: int = 1) -> List[Port]:
    """h (and c) of a recurrent state as ports named ``<prefix>h``, ``<prefix>c``."""
    parts = state if isinstance(state, tuple) else (state,)
    return [Port(prefix + name, {axis: "batch"}, t) for name, t in zip("hc", parts)]


def _pack(cell: str, h: Tensor, c=None):
    return (h, c) if cell == "lstm" else h


def _flat(state) -> Tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def language_model_graphs(model) -> List[Graph]:
    hp, cell = model.hparams, model.encoder.cell
    batch = len(EXAMPLE_LENGTHS)
    ids = torch.randint(2, max(hp.vocab_size, 3), (batch,), generator=torch.Generator().manual_seed(0))
    state = model.encoder.initial_state(batch)
    state = tuple(s + 0.1 for s in state) if isinstance(state, tuple) else state + 0.1
    conditional = bool(hp.num_conditions)
    condition = torch.arange(batch) % max(hp.num_conditions, 1)
    copy = exportable_copy(model)

    def step(m, ids, *rest):
        state = _pack(cell, *rest[:2]) if cell == "lstm" else rest[0]
        cond = rest[-1] if conditional else None
        logits, new = m.step(ids, state, cond)
        return (logits, *_flat(new))

    inputs = [Port("ids", {0: "batch"}, ids), *_state_ports("", state)]
    if conditional:
        inputs.append(Port("condition", {0: "batch"}, condition))
    graphs = [Graph("step", _Call(copy, step), inputs, [Port("logits", {0: "batch"}), *_state_ports("new_", state)])]
    if conditional:
        graphs.append(
            Graph(
                "start",
                _Call(copy, lambda m, c: _flat(m.initial_state(c))),
                [Port("condition", {0: "batch"}, condition)],
                _state_ports("", state),
            )
        )
    return graphs


def seq2seq_graphs(model) -> List[Graph]:
    """The old Seq2Seq LightningModule's graphs: ``seqkit.tasks.seq2seq.export.graphs`` with its hparams' sizes."""
    from seqkit.tasks.seq2seq.export import graphs

    return graphs(model, model.hparams.source_vocab_size, model.hparams.bos_index)


def forecaster_graphs(model) -> List[Graph]:
    hp = model.hparams
    gen = torch.Generator().manual_seed(0)
    batch = len(EXAMPLE_LENGTHS)
    x = torch.randn(batch, hp.input_length, model.n_past + hp.n_calendar, generator=gen)
    future = torch.randn(batch, hp.horizon, hp.n_calendar, generator=gen)
    copy = exportable_copy(model)
    keys = list(copy(x, future))  # "point" first, then "quantiles" or "std"

    def run(m, x, future=None):
        if future is None:
            future = x.new_zeros(x.size(0), hp.horizon, 0)
        out = m(x, future)
        return tuple(out[k] for k in keys)

    takes_future = hp.n_calendar and hp.head != "direct"  # the direct head forecasts from the window alone
    inputs = [Port("x", {0: "batch"}, x)] + ([Port("future", {0: "batch"}, future)] if takes_future else [])
    return [Graph("model", _Call(copy, run), inputs, [Port(k, {0: "batch"}) for k in keys])]


# model class name -> (shape, builder)
SHAPES: Dict[str, Tuple[str, Callable]] = {
    "SequenceClassifier": ("classifier", classifier_graphs),
    "SequenceTagger": ("tagger", tagger_graphs),
    "LanguageModel": ("language_model", language_model_graphs),
    "Seq2Seq": ("seq2seq", seq2seq_graphs),
    "Forecaster": ("forecaster", forecaster_graphs),
}
