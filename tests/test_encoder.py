"""RecurrentEncoder: the fused (packed nn.RNN/LSTM/GRU) and cell-loop implementations agree, padding never
changes a result, and both read the same parameters."""

import pytest
import torch
from torch import nn

from seqkit.nn.encoder import RecurrentEncoder, last_states

LENGTHS = [7, 3, 1, 5]
INPUT, HIDDEN = 5, 6
# (cell, nonlinearity)
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
CELL_IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
CELL_CLASSES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
FUSED_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make_encoder(cell, nonlinearity="tanh", impl="fused", num_layers=2, bidirectional=True, seed=0, **kw):
    torch.manual_seed(seed)
    return RecurrentEncoder(
        INPUT,
        HIDDEN,
        cell=cell,
        num_layers=num_layers,
        bidirectional=bidirectional,
        nonlinearity=nonlinearity,
        impl=impl,
        **kw,
    ).eval()


def make_batch(lengths=LENGTHS, seed=1, pad_value=None):
    """x [B, T, INPUT]; padded positions hold large garbage (not zeros) so any leak of padding shows."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), INPUT, generator=g)
    mask = torch.arange(x.size(1))[None, :] < lengths[:, None]
    garbage = torch.full_like(x, pad_value) if pad_value is not None else 50 * torch.randn(x.shape, generator=g)
    return torch.where(mask[..., None], x, garbage), lengths


def states(state):
    """Final state as a tuple of tensors (h,) or (h, c)."""
    return state if isinstance(state, tuple) else (state,)


def with_impl(encoder, impl):
    """A second encoder of the other implementation holding encoder's parameters (via state_dict)."""
    other = RecurrentEncoder(
        encoder.input_size,
        encoder.hidden_size,
        cell=encoder.cell,
        num_layers=encoder.num_layers,
        bidirectional=encoder.bidirectional,
        nonlinearity=getattr(encoder.rnn, "nonlinearity", "tanh"),
        impl=impl,
    ).eval()
    other.load_state_dict(encoder.state_dict())
    return other


def perturb(encoder, seed=5):
    """A few optimiser steps, so parameters are no longer at their initial values ("a trained module")."""
    torch.manual_seed(seed)
    opt = torch.optim.SGD(encoder.parameters(), lr=0.5)
    x, lengths = make_batch(seed=seed)
    for _ in range(3):
        opt.zero_grad()
        out, _ = encoder(x, lengths)
        out.pow(2).mean().backward()
        opt.step()
    return encoder


# ---- fused and cell implementations agree ---------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_fused_and_cell_give_equal_outputs_and_final_states(cell, nonlinearity, bidirectional):
    fused = perturb(make_encoder(cell, nonlinearity, "fused", bidirectional=bidirectional)).eval()
    looped = with_impl(fused, "cell")
    x, lengths = make_batch()
    with torch.no_grad():
        out_f, state_f = fused(x, lengths)
        out_c, state_c = looped(x, lengths)
    assert out_f.shape == out_c.shape == (4, 7, HIDDEN * (2 if bidirectional else 1))
    torch.testing.assert_close(out_c, out_f, atol=1e-5, rtol=1e-5)
    assert len(states(state_f)) == len(states(state_c)) == (2 if cell == "lstm" else 1)
    for s_f, s_c in zip(states(state_f), states(state_c)):
        assert s_f.shape == s_c.shape == (2 * (2 if bidirectional else 1), 4, HIDDEN)
        torch.testing.assert_close(s_c, s_f, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_fused_and_cell_give_equal_parameter_gradients(cell, nonlinearity):
    fused = make_encoder(cell, nonlinearity, "fused")
    looped = with_impl(fused, "cell")
    x, lengths = make_batch()
    grads = []
    for encoder in (fused, looped):
        out, state = encoder(x, lengths)
        weights_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
        loss = (out * weights_out).sum()
        for k, s in enumerate(states(state)):
            loss = loss + (s * torch.randn(s.shape, generator=torch.Generator().manual_seed(10 + k))).sum()
        encoder.zero_grad()
        loss.backward()
        grads.append({name: p.grad.clone() for name, p in encoder.named_parameters()})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 2 * 2 * 4  # layers x directions x 4 tensors
    for name in grads[0]:
        assert grads[0][name].abs().sum() > 0, name  # every parameter receives gradient
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_state_dict_is_the_same_for_both_impls_and_impl_can_be_switched(cell, nonlinearity):
    fused = perturb(make_encoder(cell, nonlinearity, "fused")).eval()
    looped = make_encoder(cell, nonlinearity, "cell", seed=99)
    assert list(fused.state_dict()) == list(looped.state_dict())
    # the keys are exactly those of the plain torch module (nn.LSTM naming), under "rnn."
    reference = FUSED_CLASSES[cell](INPUT, HIDDEN, num_layers=2, bidirectional=True)
    assert list(fused.state_dict()) == ["rnn." + k for k in reference.state_dict()]
    x, lengths = make_batch()
    with torch.no_grad():
        expected, _ = fused(x, lengths)
        looped.load_state_dict(fused.state_dict())  # strict: no missing or unexpected key
        got, _ = looped(x, lengths)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        fused.impl = "cell"  # the same module switched in place
        torch.testing.assert_close(fused(x, lengths)[0], expected, atol=1e-5, rtol=1e-5)


# ---- padding invariance ---------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_each_sequence_alone_equals_its_row_in_the_padded_batch(cell, nonlinearity, impl):
    encoder = make_encoder(cell, nonlinearity, impl)
    x, lengths = make_batch()
    with torch.no_grad():
        out, state = encoder(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone_out, alone_state = encoder(x[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(out[i, :n], alone_out[0], atol=1e-5, rtol=1e-5)
            for s, s_alone in zip(states(state), states(alone_state)):
                torch.testing.assert_close(s[:, i], s_alone[:, 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_outputs_at_padded_positions_are_exactly_zero(cell, nonlinearity, impl):
    encoder = make_encoder(cell, nonlinearity, impl)
    x, lengths = make_batch(pad_value=1e3)
    # one extra all-padding step beyond the longest sequence
    x = torch.cat([x, torch.full_like(x[:, :1], 1e3)], dim=1)
    out, _ = encoder(x, lengths)
    assert out.shape[1] == 8
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(out[i, n:], torch.zeros_like(out[i, n:])), f"row {i}"
        assert (out[i, :n] != 0).any(dim=-1).all(), f"row {i}: a real position is all zero"


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_fused_encoder_matches_the_plain_torch_module_on_each_unpadded_sequence(cell, nonlinearity):
    """Independent reference: the raw nn.RNN/LSTM/GRU run on each sequence alone, without packing."""
    encoder = make_encoder(cell, nonlinearity, "fused")
    x, lengths = make_batch()
    with torch.no_grad():
        for impl in ("fused", "cell"):
            encoder.impl = impl
            out, state = encoder(x, lengths)
            for i, n in enumerate(lengths.tolist()):
                ref_out, ref_state = encoder.rnn(x[i : i + 1, :n])
                torch.testing.assert_close(out[i : i + 1, :n], ref_out, atol=1e-5, rtol=1e-5)
                for s, r in zip(states(state), states(ref_state)):
                    torch.testing.assert_close(s[:, i : i + 1], r, atol=1e-5, rtol=1e-5)


def test_final_state_is_taken_at_each_sequences_own_end():
    """Backward direction's final state = its output at position 0; forward's = its output at the last real token."""
    encoder = make_encoder("gru", num_layers=1)
    x, lengths = make_batch()
    with torch.no_grad():
        for impl in ("fused", "cell"):
            encoder.impl = impl
            out, h_n = encoder(x, lengths)
            for i, n in enumerate(lengths.tolist()):
                torch.testing.assert_close(h_n[0, i], out[i, n - 1, :HIDDEN])
                torch.testing.assert_close(h_n[1, i], out[i, 0, HIDDEN:])
            torch.testing.assert_close(last_states(h_n, 1, 2), torch.cat([h_n[0], h_n[1]], dim=-1))


# ---- the cells share the fused parameters ---------------------------------------------------------------


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_cell_for_returns_a_torch_cell_sharing_the_fused_tensors(cell, nonlinearity):
    encoder = make_encoder(cell, nonlinearity, "cell")
    for layer in range(2):
        for direction in range(2):
            module = encoder.cell_for(layer, direction)
            assert type(module) is CELL_CLASSES[cell]
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                fused_param = getattr(encoder.rnn, name + suffix)
                assert getattr(module, name).data_ptr() == fused_param.data_ptr(), (layer, direction, name)
            assert module.input_size == (INPUT if layer == 0 else 2 * HIDDEN)
            assert module.hidden_size == HIDDEN
            if cell == "rnn":
                assert module.nonlinearity == nonlinearity
    # an in-place update of the fused weights is seen by the cell (shared storage, not a copy)
    module = encoder.cell_for(1, 1)
    with torch.no_grad():
        encoder.rnn.weight_hh_l1_reverse.add_(1.0)
    assert torch.equal(module.weight_hh, encoder.rnn.weight_hh_l1_reverse)
    # and the cells add nothing to the module's parameters
    assert {n for n, _ in encoder.named_parameters()} == {"rnn." + n for n, _ in encoder.rnn.named_parameters()}


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_cell_for_computes_one_step_of_the_fused_layer(cell, nonlinearity):
    encoder = make_encoder(cell, nonlinearity, "fused", num_layers=1, bidirectional=False)
    x = torch.randn(3, 1, INPUT)
    with torch.no_grad():
        out, state = encoder(x, torch.tensor([1, 1, 1]))
        step = encoder.cell_for(0, 0)(x[:, 0])
    h = step[0] if cell == "lstm" else step
    torch.testing.assert_close(h, out[:, 0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(h, states(state)[0][0], atol=1e-6, rtol=1e-6)


# ---- initial state ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_initial_state_is_used_by_both_impls(cell, nonlinearity):
    encoder = make_encoder(cell, nonlinearity, "fused")
    x, lengths = make_batch()
    torch.manual_seed(7)
    h0 = torch.randn(4, 4, HIDDEN)  # [layers * directions, B, H]
    state0 = (h0, torch.randn(4, 4, HIDDEN)) if cell == "lstm" else h0
    results = {}
    with torch.no_grad():
        zero_out, _ = encoder(x, lengths)
        for impl in ("fused", "cell"):
            encoder.impl = impl
            results[impl] = encoder(x, lengths, state0)
        # reference: the raw torch module, one unpadded sequence at a time, with that sequence's state
        for i, n in enumerate(lengths.tolist()):
            s_i = tuple(s[:, i : i + 1].contiguous() for s in states(state0))
            ref_out, ref_state = encoder.rnn(x[i : i + 1, :n], s_i if cell == "lstm" else s_i[0])
            for impl, (out, state) in results.items():
                torch.testing.assert_close(out[i : i + 1, :n], ref_out, atol=1e-5, rtol=1e-5, msg=f"{impl} row {i}")
                for s, r in zip(states(state), states(ref_state)):
                    torch.testing.assert_close(s[:, i : i + 1], r, atol=1e-5, rtol=1e-5, msg=f"{impl} row {i}")
    assert not torch.allclose(results["fused"][0], zero_out, atol=1e-3)  # the state made a difference


# ---- dropout between layers -------------------------------------------------------------------------------


def test_cell_impl_applies_dropout_between_layers_only_while_training():
    encoder = make_encoder("lstm", impl="cell", dropout=0.5)
    no_dropout = with_impl(encoder, "cell")
    x, lengths = make_batch()
    with torch.no_grad():
        eval_out, _ = encoder(x, lengths)
        torch.testing.assert_close(eval_out, no_dropout(x, lengths)[0])
        encoder.train()
        torch.manual_seed(0)
        train_out, _ = encoder(x, lengths)
    assert not torch.allclose(train_out, eval_out, atol=1e-3)
    for i, n in enumerate(lengths.tolist()):  # padding stays zero while training too
        assert torch.equal(train_out[i, n:], torch.zeros_like(train_out[i, n:]))


# ---- weight dropout (DropConnect on the hidden-to-hidden weights) -----------------------------------------


@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=CELL_IDS)
def test_weight_dropout_is_one_mask_on_weight_hh_shared_by_both_impls_and_off_in_eval(cell, nonlinearity):
    fused = perturb(make_encoder(cell, nonlinearity, weight_dropout=0.5))
    cell_loop = with_impl(fused, "cell")
    cell_loop.weight_dropout = 0.5
    x, lengths = make_batch()
    with torch.no_grad():
        eval_out = fused(x, lengths)[0]
        torch.testing.assert_close(eval_out, with_impl(fused, "fused")(x, lengths)[0])  # eval: no dropout
    fused.train(), cell_loop.train()
    # the same seed draws the same masks in both implementations, so they still agree step by step
    torch.manual_seed(3)
    out_fused, state_fused = fused(x, lengths)
    torch.manual_seed(3)
    out_cell, state_cell = cell_loop(x, lengths)
    torch.testing.assert_close(out_fused, out_cell, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out_fused, eval_out, atol=1e-3)
    # by hand: the masked weight_hh in a plain module gives the same outputs
    torch.manual_seed(3)
    masked = {
        n: nn.functional.dropout(w, 0.5, training=True).detach()
        for n, w in fused.rnn.named_parameters()
        if n.startswith("weight_hh")
    }
    by_hand = with_impl(fused, "fused")
    by_hand.rnn.load_state_dict({**fused.rnn.state_dict(), **masked})
    torch.testing.assert_close(out_fused.detach(), by_hand(x, lengths)[0].detach(), atol=1e-5, rtol=1e-4)
    # gradients reach the original parameters, and are zero exactly where the mask dropped a weight
    fused.zero_grad()
    out_fused.pow(2).mean().backward()
    grad = fused.rnn.weight_hh_l0.grad
    assert grad.abs().sum() > 0
    assert torch.all(grad[masked["weight_hh_l0"] == 0] == 0)
    assert fused.rnn.weight_ih_l0.grad.abs().sum() > 0


# ---- argument checking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"cell": "transformer"}, "cell"),
        ({"impl": "cuda"}, "impl"),
        ({"cell": "rnn", "nonlinearity": "sigmoid"}, "nonlinearity"),
        ({"cell": "lstm", "nonlinearity": "relu"}, "nonlinearity"),
        ({"cell": "gru", "nonlinearity": "relu"}, "nonlinearity"),
        ({"weight_dropout": 1.0}, "weight_dropout"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RecurrentEncoder(INPUT, HIDDEN, **kwargs)


def test_output_size():
    assert make_encoder("gru", bidirectional=True).output_size == 2 * HIDDEN
    assert make_encoder("gru", bidirectional=False).output_size == HIDDEN


# ---- outputs(): the outputs alone, an LSTM on CPU unpacked --------------------------------------------------


@pytest.mark.parametrize("num_layers,bidirectional", [(1, True), (2, True), (2, False)], ids=["bi", "bi-2", "uni-2"])
def test_outputs_equal_forwards_outputs_and_gradients_with_garbage_in_the_padding(num_layers, bidirectional):
    encoder = perturb(make_encoder("lstm", num_layers=num_layers, bidirectional=bidirectional))
    x, lengths = make_batch(lengths=[7, 3, 1, 5, 7])
    x.requires_grad_(True)
    packed = encoder(x, lengths)[0]
    padded = encoder.outputs(x, lengths)
    torch.testing.assert_close(padded, packed, atol=1e-6, rtol=1e-5)
    assert torch.all(padded[torch.arange(x.size(1))[None, :] >= lengths[:, None]] == 0)
    weight = torch.randn_like(packed)
    params = [x, *encoder.parameters()]
    for a, b in zip(
        torch.autograd.grad((packed * weight).sum(), params), torch.autograd.grad((padded * weight).sum(), params)
    ):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_outputs_runs_one_unpacked_lstm_call_a_direction_and_keeps_the_state_dict():
    """The point of outputs(): no packed sequence reaches the LSTM (ATen's step-by-step kernel), and the
    one-direction modules it binds add nothing to the model's parameters."""
    encoder = make_encoder("lstm", num_layers=2, bidirectional=True)
    x, lengths = make_batch()
    with torch.autograd.profiler.profile() as prof:
        encoder.outputs(x, lengths)
    names = [e.name for e in prof.function_events]
    assert names.count("aten::lstm") == 4 and "aten::_pack_padded_sequence" not in names
    assert set(encoder.state_dict()) == {f"rnn.{n}" for n, _ in encoder.rnn.named_parameters()}


@pytest.mark.parametrize("cell,nonlinearity", [c for c in CELLS if c[0] != "lstm"], ids=["rnn-tanh", "rnn-relu", "gru"])
def test_outputs_of_other_cells_and_of_the_cell_loop_are_forwards(cell, nonlinearity):
    x, lengths = make_batch()
    for impl in ("fused", "cell"):
        encoder = make_encoder(cell, nonlinearity, impl=impl)
        torch.testing.assert_close(encoder.outputs(x, lengths), encoder(x, lengths)[0], atol=0, rtol=0)
    lstm_cells = make_encoder("lstm", impl="cell")
    torch.testing.assert_close(lstm_cells.outputs(x, lengths), lstm_cells(x, lengths)[0], atol=0, rtol=0)


def test_outputs_apply_weight_dropout_and_dropout_between_layers_while_training():
    encoder = perturb(make_encoder("lstm", num_layers=2, bidirectional=True, weight_dropout=0.5, dropout=0.3))
    x, lengths = make_batch()
    with torch.no_grad():
        eval_out = encoder.outputs(x, lengths)
        encoder.train()
        torch.manual_seed(0)
        first = encoder.outputs(x, lengths)
        torch.manual_seed(1)
        second = encoder.outputs(x, lengths)
    assert not torch.allclose(first, eval_out, atol=1e-3) and not torch.allclose(first, second, atol=1e-3)
