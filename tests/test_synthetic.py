"""The generated long-range tasks (adding problem, copy memory), the classifier's regression mode, and the
recurrent-weight initialisations (the cures)."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from seqkit.data.generated import BLANK, DELIMITER, FIRST_SYMBOL, adding_problem, copy_memory
from seqkit.nn import RecurrentEncoder
from seqkit.tasks.classification.datamodule import AddingDataModule
from seqkit.tasks.classification.network import ClassifierNetwork
from seqkit.tasks.tagging.datamodule import CopyMemoryDataModule
from seqkit.training import TaskModule


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    inputs, targets = adding_problem(500, 20, torch.Generator().manual_seed(0))
    assert inputs.shape == (500, 20, 2) and targets.shape == (500,)
    values, markers = inputs[..., 0], inputs[..., 1]
    assert bool(((values >= 0) & (values < 1)).all())
    assert bool((markers[:, :10].sum(1) == 1).all()) and bool((markers[:, 10:].sum(1) == 1).all())
    torch.testing.assert_close(targets, (values * markers).sum(1))
    again, _ = adding_problem(500, 20, torch.Generator().manual_seed(0))
    assert torch.equal(again, inputs)


def test_adding_baseline_is_the_variance_of_the_sum():
    """Predicting the training mean (~1) scores MSE Var(U1 + U2) = 1/6 on fresh data."""
    dm = AddingDataModule(length=10, train_size=20000, val_size=20000, batch_size=100)
    dm.setup("fit")
    mean = dm.model_kwargs()["target_mean"]
    assert mean == pytest.approx(1.0, abs=0.01)
    val = torch.stack([e.target for e in dm.datasets["val"]])
    assert float(((val - mean) ** 2).mean()) == pytest.approx(1 / 6, abs=0.005)
    batch = next(iter(dm.train_dataloader()))
    assert batch.tokens is None and batch.features.shape == (100, 10, 2) and len(batch) == 100
    assert batch.mask.all()


def test_copy_memory_layout():
    tokens, labels = copy_memory(50, length=7, symbols=3, alphabet=4, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == labels.shape == (50, 7 + 2 * 3)
    symbols = tokens[:, :3] - FIRST_SYMBOL
    assert bool(((symbols >= 0) & (symbols < 4)).all())
    assert bool((tokens[:, 3:9] == BLANK).all()) and bool((tokens[:, 9] == DELIMITER).all())
    assert bool((tokens[:, 10:] == BLANK).all())
    assert torch.equal(labels[:, -3:], symbols) and bool((labels[:, :-3] == -100).all())


def test_splits_are_distinct_and_reproducible():
    a, b = (
        CopyMemoryDataModule(length=5, train_size=64, val_size=64),
        CopyMemoryDataModule(length=5, train_size=64, val_size=64),
    )
    a.setup("fit"), b.setup("fit")
    train = torch.stack([e.inputs for e in a.datasets["train"]])
    assert torch.equal(train, torch.stack([e.inputs for e in b.datasets["train"]]))
    assert not torch.equal(train, torch.stack([e.inputs for e in a.datasets["val"]]))
    assert "test" not in a.datasets


def _fit(model, dm, epochs, tmp_path):
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    return trainer.validate(model, datamodule=dm, verbose=False)[0]


def test_lstm_learns_the_adding_problem_at_short_range(tmp_path):
    dm = AddingDataModule(length=10, train_size=6000, val_size=500, batch_size=50)
    dm.setup("fit")
    model = TaskModule(
        "classification",
        objective="regression",
        pooling="last",
        **dm.model_kwargs(),
        backbone=dict(cell="lstm", hidden_size=32),
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    metrics = _fit(model, dm, 4, tmp_path)
    assert metrics["val/baseline_mse"] == pytest.approx(1 / 6, abs=0.03)
    assert metrics["val/mse_ratio"] < 0.1, metrics  # far below always predicting the mean
    assert metrics["val/mse_ratio"] == pytest.approx(metrics["val/mse"] / metrics["val/baseline_mse"], rel=1e-5)


def test_tagger_learns_copy_memory_at_short_range(tmp_path):
    dm = CopyMemoryDataModule(length=5, symbols=3, alphabet=4, train_size=3000, val_size=500, batch_size=50)
    dm.setup("fit")
    model = TaskModule(
        "tagging",
        **dm.model_kwargs(),
        char_encoder="none",
        head="softmax",
        embedding_dim=8,
        dropout=0.0,
        embedding_dropout=0.0,
        backbone=dict(cell="gru", hidden_size=32),
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    metrics = _fit(model, dm, 4, tmp_path)
    assert metrics["val/acc"] > 0.9, metrics  # chance is 1/4


def test_classifier_modes_are_checked():
    with pytest.raises(ValueError, match="objective"):
        ClassifierNetwork(vocab_size=5, num_classes=2, objective="ranking")
    with pytest.raises(ValueError, match="at least 2 classes"):
        ClassifierNetwork(vocab_size=5)


# ---- the cures: recurrent-weight initialisations ---------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_orthogonal_init_makes_every_gate_block_orthogonal(cell):
    encoder = RecurrentEncoder(3, 6, cell=cell, num_layers=2, bidirectional=True, init="orthogonal")
    for name, w in encoder.rnn.named_parameters():
        if name.startswith("weight_hh"):
            for block in w.detach().split(6):
                torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)


def test_identity_relu_rnn_is_the_irnn_and_carries_the_gradient_unchanged():
    """IRNN with zero input: h_t = relu(h_{t-1}) = h_{t-1}, so ∂h_T/∂h_0 = I: no decay at any distance."""
    encoder = RecurrentEncoder(2, 4, cell="rnn", nonlinearity="relu", init="identity")
    assert torch.equal(encoder.rnn.weight_hh_l0, torch.eye(4))
    assert not encoder.rnn.bias_ih_l0.any() and not encoder.rnn.bias_hh_l0.any()
    h0 = torch.rand(1, 1, 4, requires_grad=True)
    out, _ = encoder(torch.zeros(1, 50, 2), torch.tensor([50]), h0)
    (grad,) = torch.autograd.grad(out[0, -1].sum(), h0)
    torch.testing.assert_close(grad, torch.ones(1, 1, 4))


def test_forget_bias_sets_the_lstm_forget_gate_only():
    encoder = RecurrentEncoder(3, 5, cell="lstm", num_layers=2, bidirectional=True, forget_bias=1.0)
    for name, b in encoder.rnn.named_parameters():
        if name.startswith("bias"):
            forget = b.detach()[5:10]
            assert torch.equal(forget, torch.full((5,), 1.0 if "ih" in name else 0.0))
    default = RecurrentEncoder(3, 5, cell="lstm")
    assert len(set(default.rnn.bias_ih_l0[5:10].tolist())) == 5  # untouched without forget_bias


def test_chrono_init_spreads_forget_biases_up_to_t_max_and_closes_input_gates():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(3, 50, cell="lstm", num_layers=2, chrono_max_steps=200)
    default = RecurrentEncoder(3, 50, cell="lstm")
    for name, b in encoder.rnn.named_parameters():
        if name.startswith("bias_ih"):
            forget, inputs = b.detach()[50:100], b.detach()[:50]
            assert torch.all(forget >= 0) and torch.all(forget <= math.log(199)) and forget.std() > 0.5
            assert torch.equal(inputs, -forget)
            # the other gates keep PyTorch's initialisation
            assert b.detach()[100:].abs().max() <= 1 / math.sqrt(50)
        elif name.startswith("bias_hh"):
            assert torch.equal(b.detach()[:100], torch.zeros(100))
    # what it is for: the cell state keeps a value from step 0 over long spans (mean forget gate near 1)
    assert (
        torch.sigmoid(encoder.rnn.bias_ih_l0[50:100]).mean()
        > 0.9
        > torch.sigmoid(default.rnn.bias_ih_l0[50:100] + default.rnn.bias_hh_l0[50:100]).mean()
    )


def test_bad_init_options_are_clear_errors():
    with pytest.raises(ValueError, match="chrono_max_steps applies to backbone.cell=lstm only"):
        RecurrentEncoder(3, 5, cell="gru", chrono_max_steps=100)
    with pytest.raises(ValueError, match="give one of them"):
        RecurrentEncoder(3, 5, chrono_max_steps=100, forget_bias=1.0)
    with pytest.raises(ValueError, match="backbone.init"):
        RecurrentEncoder(3, 5, init="xavier")
    with pytest.raises(ValueError, match="forget_bias applies to backbone.cell=lstm only"):
        RecurrentEncoder(3, 5, cell="gru", forget_bias=1.0)
