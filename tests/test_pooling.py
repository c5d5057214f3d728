"""SequencePooling: every method reads real tokens only; hand-computed values for mean / max / last."""

import pytest
import torch

from seqkit.nn.encoder import RecurrentEncoder, last_states
from seqkit.nn.pooling import SequencePooling

METHODS = ["last", "mean", "max", "attention"]
LENGTHS = [5, 2, 1, 4]


def make_mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.as_tensor(lengths)[:, None]


def padded_outputs(lengths=LENGTHS, hidden=6, pad_value=1e6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    mask = make_mask(lengths, int(lengths.max()))
    real = torch.randn(len(lengths), int(lengths.max()), hidden, generator=g)
    return torch.where(mask[..., None], real, torch.full_like(real, pad_value)), mask, lengths


@pytest.mark.parametrize("pad_value", [1e6, -1e6])
@pytest.mark.parametrize("num_directions", [1, 2])
@pytest.mark.parametrize("method", METHODS)
def test_padded_row_equals_the_sequence_alone(method, num_directions, pad_value):
    torch.manual_seed(0)
    pool = SequencePooling(method, 6, num_directions)
    outputs, mask, lengths = padded_outputs(pad_value=pad_value)
    pooled = pool(outputs, mask, lengths)
    assert pooled.shape == (4, 6)
    assert pooled.abs().max() < 100  # no trace of the padding values
    for i, n in enumerate(lengths.tolist()):
        alone = pool(outputs[i : i + 1, :n], mask[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(pooled[i : i + 1], alone, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_no_gradient_reaches_padded_positions(method):
    torch.manual_seed(0)
    pool = SequencePooling(method, 6, 2)
    outputs, mask, lengths = padded_outputs(pad_value=3.0)
    outputs.requires_grad_(True)
    pool(outputs, mask, lengths).pow(2).sum().backward()
    assert torch.equal(outputs.grad[~mask], torch.zeros_like(outputs.grad[~mask]))
    assert outputs.grad[mask].abs().sum() > 0


def test_last_unidirectional_reads_the_last_real_token():
    outputs, mask, lengths = padded_outputs()
    pooled = SequencePooling("last", 6, 1)(outputs, mask, lengths)
    expected = torch.stack([outputs[i, n - 1] for i, n in enumerate(lengths.tolist())])
    assert torch.equal(pooled, expected)


def test_last_bidirectional_takes_forward_at_last_real_token_and_backward_at_position_0():
    outputs, mask, lengths = padded_outputs(hidden=6)
    pooled = SequencePooling("last", 6, 2)(outputs, mask, lengths)
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(pooled[i, :3], outputs[i, n - 1, :3])  # forward half
        assert torch.equal(pooled[i, 3:], outputs[i, 0, 3:])  # backward half


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_last_pooling_equals_the_encoders_final_state(cell, impl):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(3, 4, cell=cell, num_layers=2, bidirectional=True, impl=impl).eval()
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(4, 5, 3)
    with torch.no_grad():
        outputs, state = encoder(x, lengths)
        pooled = SequencePooling("last", encoder.output_size, 2)(outputs, make_mask(lengths, 5), lengths)
    torch.testing.assert_close(pooled, last_states(state, 2, 2), atol=1e-6, rtol=1e-6)


def tiny():
    outputs = torch.tensor(
        [
            [[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]],  # length 2: the last step is padding
            [[5.0, 6.0], [7.0, 8.0], [9.0, -10.0]],  # length 3
        ]
    )
    lengths = torch.tensor([2, 3])
    return outputs, make_mask(lengths, 3), lengths


def test_mean_hand_computed():
    outputs, mask, lengths = tiny()
    pooled = SequencePooling("mean", 2)(outputs, mask, lengths)
    torch.testing.assert_close(pooled, torch.tensor([[2.0, -1.0], [7.0, 4.0 / 3.0]]))


def test_max_hand_computed():
    outputs, mask, lengths = tiny()
    pooled = SequencePooling("max", 2)(outputs, mask, lengths)
    assert torch.equal(pooled, torch.tensor([[3.0, 2.0], [9.0, 8.0]]))
    # all-negative real values: padding (zeros, as the encoder leaves it) must not win the max
    negative = torch.tensor([[[-1.0, -2.0], [-3.0, -0.5], [0.0, 0.0]]])
    assert torch.equal(
        SequencePooling("max", 2)(negative, make_mask(torch.tensor([2]), 3), torch.tensor([2])),
        torch.tensor([[-1.0, -0.5]]),
    )


def test_attention_with_constant_scores_is_the_mean_over_real_tokens():
    outputs, mask, lengths = tiny()
    pool = SequencePooling("attention", 2)
    with torch.no_grad():
        pool.query.weight.zero_()  # every token scores 0 -> uniform weights over the real tokens
    torch.testing.assert_close(pool(outputs, mask, lengths), torch.tensor([[2.0, -1.0], [7.0, 4.0 / 3.0]]))


def test_attention_hand_computed_weights():
    outputs, mask, lengths = tiny()
    pool = SequencePooling("attention", 2)
    with torch.no_grad():  # score = query . tanh(project(o)) with project = identity / 10, query = (1, 0)
        pool.project.weight.copy_(torch.eye(2) / 10)
        pool.project.bias.zero_()
        pool.query.weight.copy_(torch.tensor([[1.0, 0.0]]))
    expected = []
    for i, n in enumerate(lengths.tolist()):
        real = outputs[i, :n]
        weights = torch.tanh(real[:, 0] / 10).softmax(0)
        expected.append((weights[:, None] * real).sum(0))
    torch.testing.assert_close(pool(outputs, mask, lengths), torch.stack(expected))


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="pooling"):
        SequencePooling("median", 4)
