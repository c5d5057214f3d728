"""Sparse (lazy Adam) word-embedding updates, ``embedding.sparse=true`` (seqkit/training/optim.py): rows a batch does not
use keep their weights and Adam moments; rows it uses get exactly dense Adam's first update; clipping sees
sparse gradients like dense ones; a checkpoint resumes to the run that was never interrupted."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from test_tagger import context_sentences, write_conll

from seqkit.data.batch import Batch
from seqkit.tasks.tagging.datamodule import TaggingDataModule
from seqkit.training import TaskModule
from seqkit.training.callbacks import EpochSeed
from seqkit.training.optim import DenseSparseOptimizer, clip_grad_norm_, clip_grad_value_, grad_norm

TAGS = ["B-X", "I-X", "O"]
ADAM = {"_target_": "torch.optim.Adam", "lr": 0.01, "fused": True}  # as seqkit/configs/optimizer/adam.yaml


def tagger(sparse: bool, optimizer=None, **kwargs) -> TaskModule:
    torch.manual_seed(0)
    model = TaskModule(
        "tagging",
        vocab_size=20,
        tags=TAGS,
        embedding_dim=8,
        embedding_dropout=0.0,
        dropout=0.0,
        char_encoder="none",
        backbone={"hidden_size": 8, "bidirectional": True},
        optimizer=optimizer or ADAM,
        sparse_embeddings=sparse,
        **kwargs,
    )
    return model.eval()  # no dropout: the same batch gives the same gradients in both models


def word_table(model):
    """The word embedding's weight (of a TaskModule's network)."""
    return model.network.embedding.embedding.weight


def batch(rows) -> Batch:
    """A batch of one sentence per row of word ids (ids >= 2: 0 is <pad>, 1 <unk>), tags cycling."""
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    labels = torch.tensor([[i % 3 for i in range(len(r))] + [-100] * (width - len(r)) for r in rows])
    return Batch(
        tokens=tokens, lengths=torch.tensor([len(r) for r in rows]), index=torch.arange(len(rows)), labels=labels
    )


def step(model, optimizer, b) -> None:
    optimizer.zero_grad()
    model.network.loss(b)["loss"].backward()
    optimizer.step()


def embedding_state(optimizer, weight):
    state = optimizer.state[weight]
    return state["exp_avg"].to_dense() if state["exp_avg"].is_sparse else state["exp_avg"], state["exp_avg_sq"]


def test_sparse_embeddings_get_sparse_gradients_and_sparse_adam():
    model = tagger(sparse=True)
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, DenseSparseOptimizer)
    weight = word_table(model)
    assert [p for g in optimizer.sparse.param_groups for p in g["params"]] == [weight]
    assert all(p is not weight for g in optimizer.dense.param_groups for p in g["params"])
    assert optimizer.dense.param_groups[0]["fused"] is True
    model.network.loss(batch([[2, 3, 4]]))["loss"].backward()
    assert weight.grad.is_sparse


def test_rows_a_batch_does_not_use_keep_their_weights_and_adam_state():
    sparse, dense = tagger(sparse=True), tagger(sparse=False)
    weight, dense_weight = word_table(sparse), word_table(dense)
    opt_sparse, opt_dense = sparse.configure_optimizers(), dense.configure_optimizers()
    first, second = batch([[2, 3, 4], [5, 6]]), batch([[4, 7, 8, 9]])
    for model, opt in ((sparse, opt_sparse), (dense, opt_dense)):
        step(model, opt, first)
    before, dense_before = weight.detach().clone(), dense_weight.detach().clone()
    moments = [m.clone() for m in embedding_state(opt_sparse, weight)]
    for model, opt in ((sparse, opt_sparse), (dense, opt_dense)):
        step(model, opt, second)
    unused = [2, 3, 5, 6] + list(range(10, 20))  # not in the second batch (2, 3, 5, 6 were in the first)
    used = [4, 7, 8, 9]
    assert torch.equal(weight[unused], before[unused])
    for now, then in zip(embedding_state(opt_sparse, weight), moments):
        assert torch.equal(now[unused], then[unused])
        assert not torch.equal(now[used], then[used])
    assert not torch.equal(weight[used], before[used])
    # dense Adam keeps moving the rows of the first batch on their momentum: what the lazy update saves
    assert not torch.allclose(dense_weight[[2, 3, 5, 6]], dense_before[[2, 3, 5, 6]])


@pytest.mark.parametrize("model_kind", ["tagger", "classifier"])
def test_first_step_equals_dense_adam(model_kind):
    def build(sparse):
        if model_kind == "tagger":
            return tagger(sparse)
        torch.manual_seed(0)
        return TaskModule(
            "classification",
            vocab_size=20,
            num_classes=2,
            embedding_dim=8,
            backbone={"hidden_size": 8},
            optimizer=ADAM,
            sparse_embeddings=sparse,
        ).eval()

    sparse, dense = build(True), build(False)
    assert all(torch.equal(a, b) for a, b in zip(sparse.state_dict().values(), dense.state_dict().values()))
    b = batch([[2, 3, 4, 3], [5, 6, 2]])  # word 3 twice, word 2 in both sentences: duplicate rows add up
    if model_kind == "classifier":
        b.labels = torch.tensor([0, 1])
    for model in (sparse, dense):
        opt = model.configure_optimizers()
        opt.zero_grad()
        model.network.loss(b)["loss"].backward()
        opt.step()
    for (name, a), b_ in zip(sparse.named_parameters(), dense.parameters()):
        torch.testing.assert_close(a, b_, rtol=0, atol=1e-6, msg=name)
    weight = word_table(sparse)
    changed = int((weight != word_table(build(True))).any(-1).sum())
    assert changed == 5  # rows 2..6 moved, nothing else


def test_clipping_counts_sparse_gradients_as_dense_ones():
    torch.manual_seed(1)
    embedding = torch.nn.Embedding(10, 4, sparse=True)
    linear = torch.nn.Linear(4, 1)
    (linear(embedding(torch.tensor([1, 3, 3, 7]))) ** 2).sum().backward()
    dense_grad = embedding.weight.grad.to_dense()
    norm = math.sqrt(dense_grad.pow(2).sum() + sum(p.grad.pow(2).sum() for p in linear.parameters()))
    assert float(grad_norm([embedding.weight.grad, *(p.grad for p in linear.parameters())])) == pytest.approx(norm)
    linear_grads = [p.grad.clone() for p in linear.parameters()]
    total = clip_grad_norm_([embedding.weight, *linear.parameters()], 0.1)
    assert float(total) == pytest.approx(norm)
    assert embedding.weight.grad.is_sparse
    torch.testing.assert_close(embedding.weight.grad.to_dense(), dense_grad * 0.1 / (norm + 1e-6))
    for p, g in zip(linear.parameters(), linear_grads):
        torch.testing.assert_close(p.grad, g * 0.1 / (norm + 1e-6))
    clip_grad_value_([embedding.weight], 1e-4)
    assert float(embedding.weight.grad.to_dense().abs().max()) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "spec",
    [{"_target_": "torch.optim.SGD", "lr": 0.1}, {"_target_": "torch.optim.AdamW", "lr": 0.1, "weight_decay": 0.01}],
)
def test_optimisers_sparse_adam_cannot_follow_are_an_error(spec):
    with pytest.raises(ValueError, match="embedding.sparse"):
        tagger(sparse=True, optimizer=spec).configure_optimizers()


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path):
    """Two epochs straight, or one epoch, a checkpoint, and a resumed second epoch: the same weights and the
    same optimiser state (the embedding's sparse Adam moments included), with gradient clipping on."""
    train = write_conll(tmp_path / "train.conll", context_sentences(48, 1))

    def run(epochs, ckpt_in=None, ckpt_out=None):
        pl.seed_everything(0)
        dm = TaggingDataModule(train_path=train, batch_size=8, eval_batch_size=64)
        dm.setup("fit")
        model = TaskModule(
            "tagging",
            **dm.model_kwargs(),
            embedding_dim=8,
            embedding_dropout=0.0,
            dropout=0.0,
            char_encoder="none",
            backbone={"hidden_size": 8},
            optimizer=ADAM,
            sparse_embeddings=True,
        )
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            gradient_clip_val=0.5,
            callbacks=[EpochSeed(0)],
            limit_val_batches=0,
        )
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt_in)
        if ckpt_out:
            trainer.save_checkpoint(ckpt_out)
        return model, trainer.optimizers[0]

    straight, straight_opt = run(2)
    ckpt = tmp_path / "epoch1.ckpt"
    run(1, ckpt_out=ckpt)
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert len(saved["optimizer_states"][0]["param_groups"]) == 2  # the dense group, then LazyAdam's
    resumed, resumed_opt = run(2, ckpt_in=str(ckpt))
    assert isinstance(resumed_opt, DenseSparseOptimizer) and resumed_opt.sparse.state is resumed_opt.state
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    a_state, b_state = straight_opt.state_dict()["state"], resumed_opt.state_dict()["state"]
    assert a_state.keys() == b_state.keys()
    for i in a_state:
        for key, value in a_state[i].items():
            other = b_state[i][key]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (i, key)
