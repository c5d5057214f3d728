"""The classification shape (seqkit.tasks.classification) end to end in-process: it learns a long-range task, and every pooling x implementation
runs forward and backward (its checkpoint round trip and padding invariance: tests/test_contracts.py)."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import EarlyStopping

from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.classification.network import ClassifierNetwork
from seqkit.training import TaskModule


def trainer(max_epochs, callbacks=(), checkpointing=False):
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=checkpointing,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=list(callbacks),
    )


def accuracy(model, loader):
    """Computed here, independently of the model's torchmetrics."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in loader:
            correct += int(
                (model(batch.tokens, batch.lengths, batch.chars, batch.char_lengths).argmax(-1) == batch.labels).sum()
            )
            total += len(batch)
    return correct / total


# ---- (a) it learns a task that needs the first and the last real token ------------------------------------


@pytest.mark.parametrize(
    "cell,impl,bidirectional", [("gru", "fused", True), ("lstm", "cell", False)], ids=["gru-fused-bi", "lstm-cell-uni"]
)
def test_learns_a_long_range_task_over_mixed_length_batches(marker_files, cell, impl, bidirectional):
    files = marker_files(train=600, val=200, seed=0)
    pl.seed_everything(1)
    dm = ClassificationDataModule(
        train_path=str(files["train"]), val_path=str(files["val"]), batch_size=32, eval_batch_size=256, bucketing=False
    )  # plain shuffled batches: mixed lengths
    dm.setup("fit")
    assert dm.labels.itos == ["zag-tac", "zag-tic", "zig-tac", "zig-tic"]
    # the batches the model sees mix short and long texts, so padding is everywhere
    val_batches = list(dm.val_dataloader())
    assert len(val_batches) == 1 and int(val_batches[0].lengths.min()) <= 9 and int(val_batches[0].lengths.max()) >= 29
    train_batch = next(iter(dm.train_dataloader()))
    assert int(train_batch.lengths.max()) - int(train_batch.lengths.min()) >= 10

    model = TaskModule(
        "classification",
        **dm.model_kwargs(),
        embedding_dim=16,
        pooling="last",
        backbone={"cell": cell, "impl": impl, "hidden_size": 32, "bidirectional": bidirectional},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    assert model.network.encoder.impl == impl
    before = accuracy(model, dm.val_dataloader())
    assert before < 0.5  # 4 balanced classes: nothing is known before training
    model.train()
    stop = EarlyStopping(monitor="val/acc", mode="max", stopping_threshold=0.97, patience=100)
    trainer(max_epochs=15, callbacks=[stop]).fit(model, datamodule=dm)
    after = accuracy(model, dm.val_dataloader())
    assert after >= 0.9, f"validation accuracy {after:.3f} (before training {before:.3f})"
    assert abs(float(model.trainer.callback_metrics["val/acc"]) - after) < 1e-6  # the logged metric agrees


# (b) the checkpoint round trip is a contract of every task: tests/test_contracts.py


# ---- (c) every pooling x implementation runs forward and backward ----------------------------------------------


@pytest.mark.parametrize("impl", ["fused", "cell"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_every_pooling_and_impl_runs_forward_and_backward(pooling, impl):
    torch.manual_seed(0)
    backbone = {"cell": "lstm", "hidden_size": 6, "num_layers": 2, "bidirectional": True, "impl": impl}
    model = ClassifierNetwork(vocab_size=12, num_classes=3, embedding_dim=5, pooling=pooling, backbone=backbone)
    lengths = torch.tensor([5, 2, 4])
    tokens = torch.randint(2, 12, (3, 5)).masked_fill(torch.arange(5)[None, :] >= lengths[:, None], 0)
    labels = torch.tensor([0, 2, 1])
    logits = model(tokens, lengths)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()
    F.cross_entropy(logits, labels).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} gets no gradient"
    assert torch.equal(model.embedding.embedding.weight.grad[0], torch.zeros(5))  # <pad> row never trained

    model.eval()
    with torch.no_grad():
        full = model(tokens, lengths)
        for i, n in enumerate(lengths.tolist()):  # padding never changes a prediction
            torch.testing.assert_close(
                model(tokens[i : i + 1, :n], lengths[i : i + 1]), full[i : i + 1], atol=1e-5, rtol=1e-5
            )
        other = ClassifierNetwork(
            vocab_size=12,
            num_classes=3,
            embedding_dim=5,
            pooling=pooling,
            backbone={**backbone, "impl": "cell" if impl == "fused" else "fused"},
        ).eval()
        other.load_state_dict(model.state_dict())  # same checkpoint, other implementation
        torch.testing.assert_close(other(tokens, lengths), full, atol=1e-5, rtol=1e-5)


def test_char_features_reach_the_model(tmp_path):
    """With data.char_features the batches carry each token's characters; the char CNN learns a label that
    only a word's spelling gives away (words ending in "-ful" vs "-less" never repeat between texts)."""
    import random

    rng = random.Random(0)

    def text(label):
        stem = "".join(rng.choice("bcdfghklmnprstvz") for _ in range(5))
        filler = [f"w{rng.randint(0, 30)}" for _ in range(rng.randint(2, 6))]
        return " ".join(filler + [stem + ("ful" if label == "1" else "less")]) + f"\t{label}"

    for name, n in (("train", 400), ("val", 100)):
        (tmp_path / f"{name}.tsv").write_text("\n".join(text(str(i % 2)) for i in range(n)) + "\n", encoding="utf-8")
    dm = ClassificationDataModule(
        train_path=str(tmp_path / "train.tsv"),
        val_path=str(tmp_path / "val.tsv"),
        char_features=True,
        batch_size=32,
        tokenizer={"mode": "whitespace"},
    )
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert batch.chars.shape[:2] == batch.tokens.shape and batch.char_lengths.shape == batch.tokens.shape
    word = dm.vocab.itos[batch.tokens[0, 0]]
    if word != "<unk>":
        assert dm.chars.decode(batch.chars[0, 0, : batch.char_lengths[0, 0]].tolist()) == list(word)
    torch.manual_seed(0)
    model = TaskModule(
        "classification",
        **dm.model_kwargs(),
        embedding_dim=16,
        char_encoder="cnn",
        pooling="max",
        backbone={"cell": "gru", "hidden_size": 32, "bidirectional": True},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    trainer(8).fit(model, datamodule=dm)
    assert accuracy(model, dm.val_dataloader()) >= 0.9  # unseen words: only their characters tell
    state = dm.state_dict()  # the character vocabulary is kept for checkpoints
    assert state["chars"]["itos"] == dm.chars.itos
    with pytest.raises(ValueError, match="char_features"):
        ClassifierNetwork(vocab_size=10, num_classes=2, char_encoder="cnn")
