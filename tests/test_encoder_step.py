"""RecurrentEncoder.step: one time step with the fused weights gives forward's outputs and final state."""

import pytest
import torch

from seqkit.nn.encoder import RecurrentEncoder, detach_state


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stepping_token_by_token_equals_the_fused_forward(cell, layers):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, 7, cell=cell, num_layers=layers, dropout=0.3).eval()
    x = torch.randn(3, 9, 5)
    start = encoder.initial_state(3)
    start = tuple(torch.randn_like(s) for s in start) if isinstance(start, tuple) else torch.randn_like(start)
    outputs, final = encoder(x, torch.full((3,), 9), start)
    state = start
    for t in range(9):
        y, state = encoder.step(x[:, t], state)
        assert torch.allclose(y, outputs[:, t], atol=1e-5)
    for got, want in zip(state if cell == "lstm" else (state,), final if cell == "lstm" else (final,)):
        assert torch.allclose(got, want, atol=1e-5)


def test_step_starts_from_zeros_and_gradients_reach_the_fused_weights():
    encoder = RecurrentEncoder(4, 6, cell="lstm", num_layers=2)
    y, (h, c) = encoder.step(torch.randn(2, 4))
    assert y.shape == (2, 6) and h.shape == c.shape == (2, 2, 6)
    y.sum().backward()
    assert encoder.rnn.weight_hh_l1.grad is not None and encoder.rnn.weight_ih_l0.grad.abs().sum() > 0


def test_a_bidirectional_encoder_has_no_step():
    with pytest.raises(ValueError, match="backbone.bidirectional=false"):
        RecurrentEncoder(4, 6, bidirectional=True).step(torch.randn(2, 4))


def test_detach_state_cuts_the_graph_and_keeps_the_values():
    h = torch.randn(1, 2, 3, requires_grad=True) * 2
    for state in (h, (h, h + 1)):
        cut = detach_state(state)
        parts = cut if isinstance(cut, tuple) else (cut,)
        originals = state if isinstance(state, tuple) else (state,)
        assert all(not p.requires_grad and torch.equal(p, o) for p, o in zip(parts, originals))
    assert detach_state(None) is None
