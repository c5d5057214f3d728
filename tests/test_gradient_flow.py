"""GradientFlow records the total derivative ‖∂L/∂h_t‖ of every time step: pinned against closed forms
(a linear RNN) and against torch.autograd.grad through a hand-written tanh-RNN loop, on the fused backbone
with packed variable-length batches; padding contributes nothing."""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch.utils.data import DataLoader

from seqkit.data.batch import Batch
from seqkit.nn import RecurrentEncoder
from seqkit.training import TaskModule
from seqkit.training.callbacks import GradientFlow
from seqkit.training.callbacks.gradient_flow import decay_summary


class LastStepModel(pl.LightningModule):
    """loss = sum of the last step's hidden state (of the only sequence): ∂L/∂h_T = 1 for every unit."""

    def __init__(self, encoder: RecurrentEncoder):
        super().__init__()
        self.encoder = encoder

    def training_step(self, batch, batch_idx):
        outputs, _ = self.encoder(batch.features, batch.lengths)
        return outputs[0, int(batch.lengths[0]) - 1].sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)  # weights stay as set: the record is of them


def fit(model, batches, steps=1, every=1, **trainer_kwargs):
    callback = GradientFlow(every_n_steps=every, plot=False, dirpath=trainer_kwargs.pop("dirpath", None))
    loader = DataLoader(batches, batch_size=None, collate_fn=lambda b: b)
    trainer = pl.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        **trainer_kwargs,
    )
    trainer.fit(model, train_dataloaders=loader)
    return callback


def linear_rnn(a: float) -> RecurrentEncoder:
    """h_t = relu(1 * x_t + a * h_{t-1}) with x_t > 0 and a > 0: exactly h_t = a h_{t-1} + x_t."""
    encoder = RecurrentEncoder(1, hidden_size=1, cell="rnn", nonlinearity="relu", impl="fused")
    with torch.no_grad():
        encoder.rnn.weight_ih_l0.fill_(1.0)
        encoder.rnn.weight_hh_l0.fill_(a)
        encoder.rnn.bias_ih_l0.zero_()
        encoder.rnn.bias_hh_l0.zero_()
    return encoder


@pytest.mark.parametrize("a", [0.8, 1.25])
def test_linear_rnn_gradient_is_a_power_of_a(a, tmp_path):
    steps = 12
    batch = Batch(
        tokens=None, features=torch.rand(1, steps, 1) + 0.1, lengths=torch.tensor([steps]), index=torch.tensor([0])
    )
    callback = fit(LastStepModel(linear_rnn(a)), [batch], default_root_dir=tmp_path)
    curve = callback.records[0].curves["encoder.l0.fwd"]
    expected = torch.tensor([a ** (steps - 1 - t) for t in range(steps)], dtype=torch.float64) * float(curve[-1])
    assert float(curve[-1]) == pytest.approx(1.0)  # ∂L/∂h_T = 1
    torch.testing.assert_close(curve.double(), expected, rtol=1e-5, atol=0)
    summary = decay_summary(curve, direction=0)
    assert summary["first_last_ratio"] == pytest.approx(a ** (steps - 1), rel=1e-5)
    falls = math.ceil(math.log(10) / math.log(1 / a)) if a < 1 else None  # 0.8^11 < 0.1 < 0.8^10
    assert summary["fall10_steps"] == falls if falls else math.isnan(summary["fall10_steps"])


def hand_rnn_states(params, x, length, num_layers=2):
    """The tanh RNN written out: per layer and direction, the list of h_t tensors of one sequence
    ``x [T, D]`` (only its first ``length`` steps), and the top layer's outputs [length, 2H]."""
    states, inputs = {}, x[:length]
    for layer in range(num_layers):
        outs = []
        for direction, suffix in enumerate(("", "_reverse")):
            w_ih, w_hh = params[f"weight_ih_l{layer}{suffix}"], params[f"weight_hh_l{layer}{suffix}"]
            b = params[f"bias_ih_l{layer}{suffix}"] + params[f"bias_hh_l{layer}{suffix}"]
            order = range(length) if direction == 0 else range(length - 1, -1, -1)
            h, hs = torch.zeros(w_hh.size(0)), {}
            for t in order:
                h = torch.tanh(w_ih @ inputs[t] + w_hh @ h + b)
                hs[t] = h
            states[(layer, direction)] = [hs[t] for t in range(length)]  # by position
            outs.append(torch.stack(states[(layer, direction)]))
        inputs = torch.cat(outs, dim=-1)
    return states, inputs


def test_tanh_rnn_matches_autograd_through_a_hand_written_loop(tmp_path):
    torch.manual_seed(0)
    model = TaskModule(
        "classification",
        vocab_size=20,
        num_classes=3,
        embedding_dim=6,
        pooling="mean",
        backbone=dict(cell="rnn", hidden_size=5, num_layers=2, bidirectional=True, impl="fused"),
    )
    lengths = torch.tensor([7, 4, 1])
    tokens = torch.randint(2, 20, (3, 7)) * (torch.arange(7)[None] < lengths[:, None])
    batch = Batch(tokens=tokens, lengths=lengths, index=torch.arange(3), labels=torch.tensor([0, 2, 1]))
    initial = copy.deepcopy(model.network)  # seqkit.training.TaskModule: the shape's network inside
    callback = fit(model, [batch], default_root_dir=tmp_path)
    recorded = callback.records[0].curves

    params = dict(initial.encoder.rnn.named_parameters())
    features = initial.embed(tokens)
    all_states, outputs = {}, torch.zeros(3, 7, 10)
    for b, n in enumerate(lengths.tolist()):
        states, top = hand_rnn_states(params, features[b], n)
        all_states[b] = states
        outputs = outputs.index_put((torch.tensor([b]), torch.arange(n)), top)
    loss = F.cross_entropy(initial.classify(outputs, lengths), batch.labels)
    for layer in range(2):
        for direction, name in enumerate(("fwd", "bwd")):
            flat = [(b, t) for b in range(3) for t in range(int(lengths[b]))]
            grads = torch.autograd.grad(
                loss, [all_states[b][(layer, direction)][t] for b, t in flat], retain_graph=True
            )
            expected = torch.zeros(7)
            for t in range(7):
                norms = [g.norm() for (b, s), g in zip(flat, grads) if s == t]
                expected[t] = torch.stack(norms).mean()
            torch.testing.assert_close(recorded[f"encoder.l{layer}.{name}"], expected, rtol=1e-4, atol=1e-7)


def test_padding_contributes_nothing(tmp_path):
    """The same real tokens with different garbage at the padded positions, and with extra padding columns,
    give the same records; a sequence alone gives its own curve."""
    torch.manual_seed(1)
    model = TaskModule(
        "classification",
        vocab_size=30,
        num_classes=2,
        embedding_dim=4,
        pooling="max",
        backbone=dict(cell="lstm", hidden_size=6, bidirectional=True),
    )
    lengths = torch.tensor([6, 3])
    real = torch.arange(6)[None] < lengths[:, None]
    tokens = torch.randint(2, 30, (2, 6))
    labels = torch.tensor([1, 0])

    def record(toks, lens=lengths):
        m = copy.deepcopy(model)
        return (
            fit(
                m,
                [Batch(tokens=toks, lengths=lens, index=torch.arange(len(lens)), labels=labels[: len(lens)])],
                default_root_dir=tmp_path,
            )
            .records[0]
            .curves
        )

    clean = record(tokens * real)
    garbage = record(torch.where(real, tokens, torch.randint(2, 30, (2, 6))))
    wider = record(torch.cat([tokens * real, torch.zeros(2, 3, dtype=torch.long)], dim=1))
    for key in clean:
        torch.testing.assert_close(garbage[key], clean[key])
        torch.testing.assert_close(wider[key], clean[key])
        assert len(clean[key]) == 6
    # positions 3..5 hold only the long sequence: the batch's curve there is that sequence's own (its
    # loss term is half the batch mean, so its gradient is half of what it gets alone)
    alone = record(tokens[:1], torch.tensor([6]))
    for key in clean:
        torch.testing.assert_close(clean[key][3:], alone[key][3:] / 2)


def test_clipping_is_reported_and_scalars_are_logged(tmp_path):
    torch.manual_seed(2)
    model = TaskModule(
        "classification",
        vocab_size=30,
        num_classes=2,
        embedding_dim=4,
        backbone=dict(cell="gru", hidden_size=6, bidirectional=False),
    )
    batch = Batch(
        tokens=torch.randint(2, 30, (4, 5)),
        lengths=torch.tensor([5, 5, 2, 4]),
        index=torch.arange(4),
        labels=torch.tensor([0, 1, 0, 1]),
    )
    logger = pl.loggers.CSVLogger(tmp_path, name="csv", version="")
    callback = GradientFlow(every_n_steps=2, plot=True, dirpath=str(tmp_path / "gf"))
    trainer = pl.Trainer(
        max_steps=5,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        gradient_clip_val=1e-3,
        callbacks=[callback],
        log_every_n_steps=1,
    )
    trainer.fit(model, train_dataloaders=DataLoader([batch] * 5, batch_size=None, collate_fn=lambda b: b))
    assert [r.step for r in callback.records] == [0, 2, 4]
    for r in callback.records:
        assert r.total_norm > 1e-2
        assert r.clipped_norm == pytest.approx(1e-3, rel=1e-3)
    text = (tmp_path / "csv" / "metrics.csv").read_text()
    for name in (
        "gradient_flow/total_norm",
        "gradient_flow/clipped",
        "gradient_flow/encoder.l0.fwd/first_last_ratio",
        "gradient_flow/encoder.l0.fwd/fall10_steps",
    ):
        assert name in text.splitlines()[0]
    assert (tmp_path / "gf" / "heatmap_encoder_layer0.png").stat().st_size > 1000
    assert (tmp_path / "gf" / "lines_encoder_layer0.png").stat().st_size > 1000
    saved = torch.load(tmp_path / "gf" / "records.pt", weights_only=True)
    assert saved["steps"] == [0, 2, 4]


def test_off_steps_run_the_fused_path_and_leave_nothing_behind(tmp_path):
    """Between records the encoder is untouched (fused kernel, no kept states)."""
    encoder = RecurrentEncoder(3, 4, cell="lstm", bidirectional=True)
    calls = []
    original = encoder._forward_fused
    encoder._forward_fused = lambda *a: calls.append(1) or original(*a)

    class M(LastStepModel):
        pass

    batch = Batch(tokens=None, features=torch.rand(2, 5, 3), lengths=torch.tensor([5, 3]), index=torch.arange(2))
    callback = fit(M(encoder), [batch] * 4, steps=4, every=3, default_root_dir=tmp_path)
    assert [r.step for r in callback.records] == [0, 3]
    assert len(calls) == 2  # steps 1 and 2 ran fused; 0 and 3 were recorded
    assert encoder.record_states is False and encoder.recorded == []


def test_tagger_records_every_layer_and_direction(tmp_path):
    torch.manual_seed(3)
    model = TaskModule(
        "tagging",
        vocab_size=12,
        tags=["A", "B", "C"],
        scheme="none",
        char_encoder="none",
        head="softmax",
        embedding_dim=4,
        dropout=0.0,
        embedding_dropout=0.0,
        backbone=dict(cell="lstm", hidden_size=5, num_layers=2, bidirectional=True),
    )
    lengths = torch.tensor([5, 2])
    labels = torch.randint(0, 3, (2, 5)).masked_fill(torch.arange(5)[None] >= lengths[:, None], -100)
    batch = Batch(tokens=torch.randint(2, 12, (2, 5)), lengths=lengths, index=torch.arange(2), labels=labels)
    curves = fit(model, [batch], default_root_dir=tmp_path).records[0].curves
    assert sorted(curves) == ["encoder.l0.bwd", "encoder.l0.fwd", "encoder.l1.bwd", "encoder.l1.fwd"]
    assert all(len(c) == 5 and bool((c > 0).all()) for c in curves.values())


def test_a_model_without_a_recurrent_encoder_is_a_clear_error(tmp_path):
    class NoRNN(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

    with pytest.raises(ValueError, match="no seqkit RecurrentEncoder"):
        GradientFlow().setup(pl.Trainer(logger=False, default_root_dir=tmp_path), NoRNN(), "fit")


# ---- through the scripts: the study's configs compose, and callbacks=gradient_flow writes everything ----
REPO = Path(__file__).resolve().parents[1]


def composed(*overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize(
    "experiment, length, task", [("bptt_adding_t200", 200, "adding"), ("bptt_copy_t50", 50, "copy_memory")]
)
def test_study_experiments_set_the_task_and_length(experiment, length, task):
    cfg = composed(f"experiment={experiment}", "backbone=irnn", "callbacks=gradient_flow")
    assert cfg.data.length == length and cfg.data._target_.endswith(("AddingDataModule", "CopyMemoryDataModule"))
    assert cfg.model.backbone.bidirectional is False
    assert (cfg.model.backbone.cell, cfg.model.backbone.nonlinearity, cfg.model.backbone.init) == (
        "rnn",
        "relu",
        "identity",
    )
    assert cfg.callbacks.gradient_flow.every_n_steps == 50 and "model_checkpoint" in cfg.callbacks
    assert cfg.monitor.metric == ("val/mse" if task == "adding" else "val/acc")


@pytest.mark.slow
def test_train_script_writes_pictures_scalars_and_tensorboard_images(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "train.py"),
            "task=copy_memory",
            "data.length=4",
            "data.symbols=2",
            "data.train_size=200",
            "data.val_size=50",
            "backbone.hidden_size=8",
            "trainer.max_epochs=2",
            "callbacks=gradient_flow",
            "callbacks.gradient_flow.every_n_steps=2",
            "logger=many",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    pictures = tmp_path / "gradient_flow"
    assert (pictures / "heatmap_encoder_layer0.png").stat().st_size > 1000
    assert (pictures / "lines_encoder_layer0.png").stat().st_size > 1000
    saved = torch.load(pictures / "records.pt", weights_only=True)
    assert saved["steps"] == list(range(0, 8, 2)) and saved["epochs"] == [0, 0, 1, 1]
    assert len(saved["curves"][0]["encoder.l0.fwd"]) == 4 + 2 * 2
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "gradient_flow/encoder.l0.fwd/first_last_ratio" in header and "val/acc" in header
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"gradient_flow/heatmap_encoder_layer0", "gradient_flow/lines_encoder_layer0"} <= set(
        events.Tags()["images"]
    )
