"""The parts every shape's export graphs are made of (``seqkit/tasks/<shape>/export.py`` builds its own):
graphs with tensor-only inputs and outputs, their names and dynamic axes, and example inputs to trace them on.

Every graph wraps a masked copy of the network (``seqkit.export.masked.exportable_copy``) and calls the
network's own methods, so the exported numbers are the network's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

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


class Call(nn.Module):
    """Wrap a function of the (masked) model as a module whose forward takes and returns tensors only."""

    def __init__(self, model: nn.Module, fn: Callable):
        super().__init__()
        self.model, self.fn = model, fn
        self.eval()  # a new module starts in training mode, and exporters restore the mode they found

    def forward(self, *args: Tensor):
        return self.fn(self.model, *args)


def example_tokens(vocab_size: int, lengths=EXAMPLE_LENGTHS) -> Tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    lengths_t = torch.tensor(lengths)
    tokens = torch.randint(2, max(vocab_size, 3), (len(lengths), max(lengths)), generator=gen)
    return tokens.masked_fill(torch.arange(max(lengths))[None] >= lengths_t[:, None], 0), lengths_t


def char_ports(num_chars: int, tokens: Tensor, lengths: Tensor) -> List[Port]:
    gen = torch.Generator().manual_seed(1)
    char_lengths = torch.randint(1, 6, tokens.shape, generator=gen)
    char_lengths = char_lengths.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0)
    chars = torch.randint(2, max(num_chars, 3), (*tokens.shape, 5), generator=gen)
    chars = chars.masked_fill(torch.arange(5)[None, None] >= char_lengths[..., None], 0)
    return [
        Port("chars", {0: "batch", 1: "time", 2: "chars"}, chars),
        Port("char_lengths", {0: "batch", 1: "time"}, char_lengths),
    ]


def sequence_inputs(model, hp: Any = None) -> List[Port]:
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
    tokens, lengths = example_tokens(hp.vocab_size)
    ports = [Port("tokens", {0: "batch", 1: "time"}, tokens), Port("lengths", {0: "batch"}, lengths)]
    if getattr(model, "reads_chars", model.chars is not None):  # the tagger's casing reads them too
        ports += char_ports(hp.num_chars, tokens, lengths)
    return ports


def state_ports(prefix: str, state, axis: int = 1) -> List[Port]:
    """h (and c) of a recurrent state as ports named ``<prefix>h``, ``<prefix>c``."""
    parts = state if isinstance(state, tuple) else (state,)
    return [Port(prefix + name, {axis: "batch"}, t) for name, t in zip("hc", parts)]


def pack_state(cell: str, h: Tensor, c=None):
    return (h, c) if cell == "lstm" else h


def flat_state(state) -> Tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)
