"""RecurrentEncoder: nn.RNN / nn.LSTM / nn.GRU over padded batches, run fused or as an explicit cell loop.

Both implementations read the same parameters (those of the fused module, named as in ``nn.LSTM``), so a
model trained with ``impl="fused"`` (packed sequences, cuDNN on GPU) can be run with ``impl="cell"`` to add
per-step logic, and vice versa, without retraining. The cell loop literally calls ``nn.RNNCell`` /
``nn.LSTMCell`` / ``nn.GRUCell`` modules whose parameters are bound to the fused module's tensors.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqkit.nn.padding import lengths_to_mask, reverse_within_lengths
from seqkit.nn.recurrent_init import init_recurrent_weights
from seqkit.nn.state_recording import RecordedStates

State = Union[Tensor, Tuple[Tensor, Tensor]]  # h_n, or (h_n, c_n) for LSTM; each [layers * directions, B, H]

_FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


class RecurrentEncoder(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU over a padded batch with true lengths, run fused or as an explicit cell loop.

    Padding never changes a result: outputs are zero at padded positions and the final state of each layer and
    direction is taken at each sequence's own last token (backward direction: after reading its first), so a
    sequence encodes the same alone or in any batch. ``impl="cell"`` reads the fused module's parameters, so a
    model trained fused runs step by step (``step``, per-step logic) without retraining, and vice versa. Setting
    ``record_states`` (seqkit.training.callbacks.GradientFlow does) runs the next forward pass as the cell loop and keeps
    every h_t for its gradient (``seqkit.nn.state_recording``).

    Args:
        input_size: features of each input step (I).
        hidden_size: features of the hidden state (H). Default: 128
        cell: "rnn" (h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)), "lstm" or "gru". Default: "lstm"
        num_layers: stacked layers (L). Default: 1
        bidirectional: add a backward direction (D = 2); it has no ``step``. Default: False
        dropout: between stacked layers, as in nn.LSTM, only while training. Default: 0.0
        weight_dropout: DropConnect on the hidden-to-hidden weights (AWD-LSTM, Merity et al. 2018), one mask a
            forward pass and the same at every step, so the fused kernel still runs; only while training.
            Default: 0.0
        nonlinearity: "tanh" or "relu", cell="rnn" only. Default: "tanh"
        impl: "fused" (packed sequences through nn.RNN/LSTM/GRU) or "cell" (a Python loop over time steps).
            Default: "fused"
        init: recurrent weights "default", "orthogonal" or "identity" (``seqkit.nn.recurrent_init``).
            Default: "default"
        forget_bias: LSTM only: the forget gate's bias. Default: None (PyTorch's init)
        chrono_max_steps: LSTM only: chrono initialisation up to that many steps. Default: None

    Inputs: x, lengths, state
        - x: the padded input sequences.
        - lengths: each sequence's true length (>= 1).
        - state: the initial state, as ``forward`` returns it. Default: None (zeros)

    Outputs: outputs, state
        - outputs: the top layer's output at every step, directions concatenated, zero at padding.
        - state: the final state of every layer and direction as ``nn.LSTM`` returns it: ``h_n``, or
          ``(h_n, c_n)`` for an LSTM.

    Shape:
        - x: ``[B, T, I]``; lengths: ``[B]`` long; outputs: ``[B, T, D * H]`` (``output_size`` = D * H)
        - state: each tensor ``[L * D, B, H]``; ``step``: x_t ``[B, I]`` -> y_t ``[B, H]``
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        weight_dropout: float = 0.0,
        nonlinearity: str = "tanh",
        impl: str = "fused",
        init: str = "default",
        forget_bias: Optional[float] = None,
        chrono_max_steps: Optional[int] = None,
    ):
        super().__init__()
        if cell not in _FUSED:
            raise ValueError(f"cell must be one of {sorted(_FUSED)}, got {cell!r}")
        if impl not in ("fused", "cell"):
            raise ValueError(f"impl must be 'fused' or 'cell', got {impl!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError("backbone.nonlinearity applies to backbone.cell=rnn only")
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {weight_dropout}")
        self.cell, self.impl = cell, impl
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.dropout, self.weight_dropout = dropout, weight_dropout
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = _FUSED[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
            **extra,
        )
        init_recurrent_weights(self.rnn, init, forget_bias, chrono_max_steps)
        self.record_states = False
        self.recorded: List[RecordedStates] = []
        # Cell modules built on the meta device (no memory, no init cost) and not registered as submodules,
        # so they add nothing to state_dict(); forward binds them to the fused module's current parameters.
        self._cells: List[nn.Module] = [
            _CELLS[cell](
                input_size if layer == 0 else hidden_size * self.num_directions, hidden_size, device="meta", **extra
            )
            for layer in range(num_layers)
            for _ in range(self.num_directions)
        ]

    @property
    def output_size(self) -> int:
        """Features of each output step: ``hidden_size * directions``."""
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        if self.record_states and torch.is_grad_enabled():
            # one recorded pass: the cell loop over the same parameters, keeping every h_t (GradientFlow)
            self.record_states, self.recorded = False, []
            return self._forward_cells(x, lengths, state, record=self.recorded)
        if self.impl == "fused":
            return self._forward_fused(x, lengths, state)
        return self._forward_cells(x, lengths, state)

    def outputs(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``forward``'s outputs alone, ``[B, T, H * directions]`` (zero at padding), for models that never read the
        final state (taggers, classifiers). On CPU an LSTM then runs without packing: packed sequences of unequal
        lengths send ``nn.LSTM`` to ATen's step-by-step kernel, while a padded batch gets oneDNN's fused one, which
        is faster forward and backward (figures: docs/speed.md, "Cheaper steps"). Each direction of each
        layer runs as its own one-directional LSTM over the padded batch, the backward one over every sequence
        reversed within its own length, so padding reaches no real position: the outputs equal ``forward``'s up to
        float rounding (tested). Elsewhere (CUDA, GRU/RNN, ``impl="cell"``, a GradientFlow recording) this is
        ``forward(x, lengths)[0]``."""
        if (
            self.cell != "lstm"
            or self.impl != "fused"
            or x.device.type != "cpu"
            or (self.record_states and torch.is_grad_enabled())
        ):
            return self.forward(x, lengths)[0]
        lengths = lengths.to(x.device)
        weights = {**dict(self.rnn.named_parameters()), **self._dropped_weights()}
        zeros = x.new_zeros(1, x.size(0), self.hidden_size)

        def one_direction(layer: int, direction: int, seq: Tensor) -> Tensor:
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            params = [weights[name + suffix] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            # nn.LSTM's own kernel call, one layer and one direction: (input, (h0, c0), weights, has_biases,
            # layers, dropout, train, bidirectional, batch_first)
            return torch.lstm(seq, (zeros, zeros), params, True, 1, 0.0, self.training, False, True)[0]

        out = self._stack(x, lengths, one_direction)
        return out * lengths_to_mask(lengths, x.size(1))[:, :, None].to(out.dtype)

    def _stack(self, x: Tensor, lengths: Tensor, one_direction) -> Tensor:
        """The layers and directions around ``one_direction(layer, direction, seq [B, T, I]) -> [B, T, H]``, a
        forward pass of one direction: the backward direction gets each sequence reversed within its own length
        (a forward loop over it) and its output is reversed back; directions are concatenated, and dropout runs
        between layers while training. -> the top layer's outputs [B, T, H * directions]."""
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                if direction == 0:
                    outputs.append(one_direction(layer, 0, layer_input))
                else:
                    seq = reverse_within_lengths(layer_input, lengths)
                    outputs.append(reverse_within_lengths(one_direction(layer, direction, seq), lengths))
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        return layer_input

    def _dropped_weights(self) -> dict:
        """``{name: weight}`` overrides for the fused module's hidden-to-hidden weights: DropConnect while
        training with ``weight_dropout`` > 0, else empty. Gradients reach the original parameters."""
        if not (self.training and self.weight_dropout > 0):
            return {}
        return {
            name: nn.functional.dropout(weight, self.weight_dropout, training=True)
            for name, weight in self.rnn.named_parameters()
            if name.startswith("weight_hh")
        }

    def _forward_fused(self, x: Tensor, lengths: Tensor, state: Optional[State]) -> Tuple[Tensor, State]:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        dropped = self._dropped_weights()
        out, final = functional_call(self.rnn, dropped, (packed, state)) if dropped else self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, final

    def cell_for(self, layer: int, direction: int, overrides: Optional[dict] = None) -> nn.Module:
        """The nn.*Cell of one layer and direction, sharing the fused module's parameters (or the tensors
        in ``overrides``, named as in the fused module: weight dropout)."""
        cell = self._cells[layer * self.num_directions + direction]
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        overrides = overrides or {}
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            value = overrides.get(name + suffix, getattr(self.rnn, name + suffix))
            if not isinstance(value, nn.Parameter):
                cell._parameters.pop(name, None)  # a computed tensor (a dropped weight) is bound as a plain attribute
            setattr(cell, name, value)
        return cell

    def _forward_cells(
        self, x: Tensor, lengths: Tensor, state: Optional[State], record: Optional[List[RecordedStates]] = None
    ) -> Tuple[Tensor, State]:
        """The explicit cell loop. ``record``: a list that receives one RecordedStates per layer and
        direction, whose every h_t keeps its gradient after backward (seqkit.nn.state_recording)."""
        batch, steps, _ = x.shape
        lengths = lengths.to(x.device)
        mask = lengths_to_mask(lengths, steps)  # [B, T]
        if state is None:
            state = self.initial_state(batch, x.device, x.dtype)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        final_h, final_c = [], []
        dropped = self._dropped_weights()

        def one_direction(layer: int, direction: int, seq: Tensor) -> Tensor:
            k = layer * self.num_directions + direction
            states = None if record is None else []
            out, h, c = self._run_cell(
                self.cell_for(layer, direction, dropped), seq, mask, h0[k], None if c0 is None else c0[k], states
            )
            final_h.append(h)
            final_c.append(c)
            if record is not None:
                record.append(RecordedStates(layer, direction, states, mask, lengths if direction else None))
            return out

        outputs = self._stack(x, lengths, one_direction)
        h_n = torch.stack(final_h)
        return outputs, ((h_n, torch.stack(final_c)) if self.cell == "lstm" else h_n)

    def _run_cell(
        self,
        cell: nn.Module,
        seq: Tensor,
        mask: Tensor,
        h: Tensor,
        c: Optional[Tensor],
        states: Optional[List[Tensor]] = None,
    ):
        """Step ``cell`` over ``seq [B, T, I]``; positions where ``mask`` is False keep the state and output 0.
        ``states``: a list that receives every h_t with ``retain_grad`` (for ∂L/∂h_t)."""
        outputs = []
        for t in range(seq.size(1)):
            keep = mask[:, t, None]
            if c is None:
                h = torch.where(keep, cell(seq[:, t], h), h)
            else:
                h_new, c_new = cell(seq[:, t], (h, c))
                h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            if states is not None:
                if h.requires_grad:
                    h.retain_grad()
                states.append(h)
            outputs.append(h * keep)
        return torch.stack(outputs, dim=1), h, c

    # ---- one time step (generation, decoders): the same parameters as forward ---------------------------
    def initial_state(self, batch: int, device=None, dtype=None) -> State:
        """Zero state for ``batch`` sequences, shaped as ``forward`` returns it: ``[layers, B, H]`` (LSTM: a pair)."""
        zeros = torch.zeros(self.num_layers * self.num_directions, batch, self.hidden_size, device=device, dtype=dtype)
        return (zeros, zeros.clone()) if self.cell == "lstm" else zeros

    def step(self, x_t: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        """Run one time step: ``x_t [B, input_size]``, ``state`` as ``forward`` returns it (None: zeros) ->
        ``(y_t [B, H], new state)``. Uses the fused module's weights through the cells, so stepping a
        sequence token by token gives ``forward``'s outputs and final state (tested). Causal models only:
        a bidirectional encoder needs the whole sequence, so it has no step."""
        if self.bidirectional:
            raise ValueError(
                "a bidirectional encoder reads the whole sequence and cannot run step by step: "
                "set backbone.bidirectional=false"
            )
        if state is None:
            state = self.initial_state(x_t.size(0), x_t.device, x_t.dtype)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        layer_input, hs, cs = x_t, [], []
        dropped = self._dropped_weights()  # a fresh mask each step: a decoder's training loop calls step per token
        for layer in range(self.num_layers):
            cell = self.cell_for(layer, 0, dropped)
            if c0 is None:
                h = cell(layer_input, h0[layer])
            else:
                h, c = cell(layer_input, (h0[layer], c0[layer]))
                cs.append(c)
            hs.append(h)
            layer_input = h
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)
        h_n = torch.stack(hs)
        return layer_input, ((h_n, torch.stack(cs)) if self.cell == "lstm" else h_n)


def detach_state(state: Optional[State]) -> Optional[State]:
    """The same state cut from the graph that made it (truncated BPTT: gradients stop at a chunk boundary).

    Args:
        state: None, a tensor, or a tuple of tensors (LSTM: ``(h_n, c_n)``).

    Returns:
        the same structure, detached (None for None).
    """
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def last_states(state: State, num_layers: int, num_directions: int) -> Tensor:
    """Top layer's final hidden state of each direction, concatenated (a many-to-one summary of a sequence).

    Args:
        state: as ``RecurrentEncoder.forward`` returns it: ``h_n [L * D, B, H]`` or ``(h_n, c_n)``.
        num_layers: the encoder's L.
        num_directions: the encoder's D.

    Returns:
        ``[B, D * H]``.
    """
    h_n = state[0] if isinstance(state, tuple) else state
    top = h_n.view(num_layers, num_directions, h_n.size(1), h_n.size(2))[-1]  # [D, B, H]
    return torch.cat(list(top), dim=-1)
