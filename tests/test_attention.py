"""Attention over a padded source, the seq2seq decoder and its bridge."""

import pytest
import torch

from seqkit.nn import RecurrentEncoder
from seqkit.nn.attention import METHODS, Attention
from seqkit.nn.seq2seq_decoder import Bridge, Seq2SeqDecoder

MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize("method", METHODS)
def test_padding_gets_zero_weight_and_changes_nothing(method):
    torch.manual_seed(0)
    attention = Attention(6, 6, method)
    keys, query = torch.randn(3, 5, 6), torch.randn(3, 6)
    context, weights = attention(query, keys, MASK)
    assert (weights[~MASK] == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    # padding content and padding length are invisible: garbage at padded keys, or no padding at all
    noisy = torch.where(MASK[:, :, None], keys, torch.randn(3, 5, 6) * 100)
    context2, weights2 = attention(query, noisy, MASK)
    assert torch.allclose(context, context2, atol=1e-6) and torch.allclose(weights, weights2)
    alone, alone_weights = attention(query[1:2], keys[1:2, :2], MASK[1:2, :2])
    assert torch.allclose(alone, context[1:2], atol=1e-6) and torch.allclose(alone_weights, weights[1:2, :2])
    # every query at once equals one query at a time
    many = torch.randn(3, 4, 6)
    all_context, all_weights = attention(many, keys, MASK)
    for t in range(4):
        c, w = attention(many[:, t], keys, MASK)
        assert torch.allclose(all_context[:, t], c, atol=1e-6) and torch.allclose(all_weights[:, t], w, atol=1e-6)


def test_dot_attention_is_the_softmax_of_dot_products():
    keys, query = torch.randn(1, 3, 4), torch.randn(1, 4)
    context, weights = Attention(4, 4, "dot")(query, keys, torch.ones(1, 3, dtype=torch.bool))
    expected = torch.softmax(keys[0] @ query[0], 0)
    assert torch.allclose(weights[0], expected, atol=1e-6)
    assert torch.allclose(context[0], expected @ keys[0], atol=1e-6)


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="dot attention needs"):
        Attention(4, 8, "dot")
    with pytest.raises(ValueError, match="attention must be one of"):
        Attention(4, 4, "luong")


@pytest.mark.parametrize("attention,feeding", [("none", False), ("additive", False), ("general", True), ("dot", True)])
def test_teacher_forced_unroll_equals_stepping(attention, feeding):
    torch.manual_seed(1)
    decoder = Seq2SeqDecoder(9, 5, 8, 8, "gru", num_layers=2, attention=attention, input_feeding=feeding).eval()
    state = decoder.start(torch.randn(3, 5, 8), MASK, None)
    inputs = torch.randint(1, 9, (3, 6))
    logits, weights = decoder(inputs, state)
    s = state
    for t in range(6):
        step_logits, s, w = decoder.step_with_attention(inputs[:, t], s)
        assert torch.allclose(logits[:, t], step_logits, atol=1e-5)
        if weights is not None:
            assert torch.allclose(weights[:, t], w, atol=1e-6) and (w[~MASK] == 0).all()


@pytest.mark.parametrize(
    "cell,layers,bidirectional,decoder_layers", [("lstm", 2, True, 2), ("gru", 3, True, 1), ("lstm", 1, False, 2)]
)
def test_bridge_maps_every_encoder_shape_to_the_decoder_state(cell, layers, bidirectional, decoder_layers):
    encoder = RecurrentEncoder(4, 6, cell, layers, bidirectional)
    _, final = encoder(torch.randn(2, 5, 4), torch.tensor([5, 3]))
    bridge = Bridge(cell, layers, encoder.num_directions, 6, cell, decoder_layers, 10)
    state = bridge(final)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (decoder_layers, 2, 10)
    decoder = Seq2SeqDecoder(7, 4, 10, 12, cell, decoder_layers, attention="none")
    logits, _ = decoder.step(
        torch.tensor([1, 2]), decoder.start(torch.zeros(2, 5, 12), torch.ones(2, 5, dtype=torch.bool), state)
    )
    assert logits.shape == (2, 7)
    # the top encoder layer's backward direction (the summary of the whole source) reaches the decoder
    h_enc = final[0] if cell == "lstm" else final
    changed = h_enc.clone()
    changed[-1] += 1.0
    h2 = bridge((changed, final[1]) if cell == "lstm" else changed)
    assert not torch.allclose(h2[0] if cell == "lstm" else h2, h)
