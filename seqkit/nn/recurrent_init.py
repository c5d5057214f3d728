"""Initialisations of the recurrent weights: the classic cures for vanishing and exploding gradients.

``default`` keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H)). ``orthogonal`` makes every [H, H] gate block of
``weight_hh`` orthogonal (all its singular values are 1, so the linear part of the recurrence neither
shrinks nor grows a gradient; Saxe et al. 2014). ``identity`` sets every gate block of ``weight_hh`` to I and
the biases to 0: with ``cell="rnn", nonlinearity="relu"`` this is the IRNN of Le et al. (2015), whose
recurrence starts as h_t = relu(h_{t-1} + W_ih x_t) and carries a gradient unchanged through time.
``forget_bias`` (LSTM only) sets the forget gate's bias (b_ih + b_hh) to this value, so the cell state
is kept by default at the start of training (Gers et al. 2000; Jozefowicz et al. 2015 use 1.0).
``chrono_max_steps`` (LSTM only) is the chrono initialisation of Tallec & Ollivier (2018): forget biases
b_f = log(u), u ~ U(1, T_max - 1), and input biases b_i = -b_f, so the units start with memory time scales
spread up to T_max steps and with their input gates mostly closed (a long sum of inputs does not saturate
the cell before the model has learnt what to keep).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

INITS = ("default", "orthogonal", "identity")


def init_recurrent_weights(
    rnn: nn.RNNBase, init: str = "default", forget_bias: Optional[float] = None, chrono_max_steps: Optional[int] = None
) -> None:
    """Re-initialise a fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` in place (every layer and direction).

    Args:
        rnn: the module to re-initialise.
        init: "default", "orthogonal" or "identity" (see the module). Default: "default"
        forget_bias: LSTM only: the forget gate's bias (b_ih + b_hh). Default: None (kept)
        chrono_max_steps: LSTM only, >= 3, instead of ``forget_bias``: chrono initialisation up to that many
            steps. Default: None
    """
    if init not in INITS:
        raise ValueError(f"backbone.init must be one of {INITS}, got {init!r}")
    is_lstm = isinstance(rnn, nn.LSTM)
    if forget_bias is not None and not is_lstm:
        raise ValueError("backbone.forget_bias applies to backbone.cell=lstm only")
    if chrono_max_steps is not None:
        if not is_lstm:
            raise ValueError("backbone.chrono_max_steps applies to backbone.cell=lstm only")
        if forget_bias is not None:
            raise ValueError(
                "backbone.chrono_max_steps and backbone.forget_bias both set the forget-gate bias: give one of them"
            )
        if chrono_max_steps < 3:
            raise ValueError(f"backbone.chrono_max_steps must be at least 3, got {chrono_max_steps}")
    hidden = rnn.hidden_size
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            blocks = param.split(hidden, dim=0)  # one block a gate: i,f,g,o (LSTM), r,z,n (GRU), 1 (RNN)
            if name.startswith("weight_hh"):
                for block in blocks:
                    if init == "orthogonal":
                        nn.init.orthogonal_(block)
                    elif init == "identity":
                        block.copy_(torch.eye(hidden, dtype=block.dtype))
            elif name.startswith("bias") and init == "identity":
                param.zero_()
            if is_lstm and forget_bias is not None and name.startswith("bias"):
                blocks[1].fill_(forget_bias if name.startswith("bias_ih") else 0.0)
        if chrono_max_steps is not None:
            for name, param in rnn.named_parameters():
                if name.startswith("bias_ih"):  # the pair's bias_hh gets 0 below, so b_ih + b_hh is the drawn value
                    forget = torch.log(torch.empty(hidden).uniform_(1.0, chrono_max_steps - 1.0))
                    param[hidden : 2 * hidden].copy_(forget)
                    param[:hidden].copy_(-forget)
                elif name.startswith("bias_hh"):
                    param[: 2 * hidden].zero_()
