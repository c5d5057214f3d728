"""seqkit.benchmark: recipes composed from seqkit/configs/, FLOP counts of the oneDNN recurrent layers, the Flair peer's
data (the same words, tags and batches as seqkit's)."""

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from seqkit.benchmark.flair_peer import iob2_spans
from seqkit.benchmark.flops import RNN_FORMULAS, sample, step_flops
from seqkit.benchmark.recipes import Recipe

CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"


def lstm_forward_flops(inputs: int, hidden: int, positions: int) -> int:
    """2 layers, 2 directions: 2 FLOPs a multiply-add of the 4 gates' input and recurrent products a position."""
    layer1 = 2 * positions * 4 * hidden * (inputs + hidden)
    layer2 = 2 * positions * 4 * hidden * (2 * hidden + hidden)  # layer 2 reads both directions of layer 1
    return 2 * (layer1 + layer2)


def test_lstm_step_flops_are_counted_analytically():
    """On CPU torch runs nn.LSTM as oneDNN layers: FlopCounterMode alone counts none of their work; with
    RNN_FORMULAS the step is the forward products plus twice them for the backward pass."""
    torch.manual_seed(0)
    rnn = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 7, 6)
    forward = lstm_forward_flops(6, 5, 3 * 7)
    assert step_flops(rnn, [x], lambda m, b: m(b)[0].sum()) == 3 * forward
    with FlopCounterMode(display=False) as plain:
        rnn(x)[0].sum().backward()
    assert plain.get_total_flops() < forward  # what RNN_FORMULAS adds
    assert set(RNN_FORMULAS) == {torch.ops.aten.mkldnn_rnn_layer, torch.ops.aten.mkldnn_rnn_layer_backward}


def test_gru_step_flops_come_from_its_matrix_products():
    """nn.GRU runs as matrix products FlopCounterMode knows: forward (3 gates) exactly once, the backward pass
    between one and two times it (the first layer's input gradient is not needed)."""
    torch.manual_seed(0)
    rnn = torch.nn.GRU(6, 5, bidirectional=True, batch_first=True)
    x = torch.randn(3, 7, 6)
    forward = 2 * 2 * 21 * 3 * 5 * (6 + 5)
    with FlopCounterMode(display=False) as counter:
        rnn(x)
    assert counter.get_total_flops() == forward
    assert 2 * forward < step_flops(rnn, [x], lambda m, b: m(b)[0].sum()) <= 3 * forward


def test_sample_spreads_batches_evenly():
    assert sample(list(range(10)), 4) == [0, 2, 5, 7]
    assert sample([1, 2], 5) == [1, 2]


@pytest.mark.parametrize(
    "tags,spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [(0, 2, "PER"), (3, 4, "LOC")]),
        (["B-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),
        (["O", "I-ORG", "I-ORG", "I-LOC"], [(1, 3, "ORG"), (3, 4, "LOC")]),  # an I- that starts an entity (IOB1)
        (["O", "O"], []),
    ],
)
def test_iob2_spans(tags, spans):
    assert iob2_spans(tags) == spans


def test_recipe_builds_the_configured_model_optimiser_and_clipping():
    """The benchmark's model is train.py's: built from the composed config, sizes from the data module, and an
    override (a string) changes it without touching Python."""
    recipe = Recipe.load(CONFIGS, ["task=sentiment", "backbone.hidden_size=16", "optimizer.lr=0.01"], seed=0)
    model = recipe.model(seed=0)
    assert type(model).__name__ == "TaskModule" and model.hparams.shape == "classification"
    assert (
        model.network.encoder.hidden_size == 16
        and model.hparams.pooling == "max"
        and model.hparams.embedding_dim == 128
    )
    assert model.hparams.vocab_size == len(recipe.datamodule.vocab)
    optimizer = recipe.optimizer(model.parameters())
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 0.01
    assert recipe.clip == 5.0 and recipe.lr == 0.01
    same = recipe.model(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))
    cell = recipe.model(model.state_dict(), extra=["backbone.impl=cell"])  # same weights, the other implementation
    assert cell.hparams.backbone["impl"] == "cell" and model.hparams.backbone["impl"] == "fused"
    batch = next(iter(recipe.datamodule.val_dataloader()))
    model.eval(), cell.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            cell(batch.tokens, batch.lengths), model(batch.tokens, batch.lengths), atol=1e-5, rtol=1e-4
        )


def write_conll(path: Path) -> None:
    lines = ["-DOCSTART- -X- -X- O", ""]
    sentences = [
        [("Peter", "B-PER"), ("Blackburn", "I-PER"), ("visits", "O"), ("Bonn", "B-LOC")],
        [("EU", "B-ORG"), ("rejects", "O"), ("German", "B-MISC"), ("call", "O"), ("1996", "O")],
        [("Hi", "O")],
    ] * 4
    for sentence in sentences:
        lines += [f"{word} NNP B-NP {tag}" for word, tag in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_flair_peer_reads_the_same_words_tags_and_batches(tmp_path):
    pytest.importorskip("flair")
    from seqkit.benchmark.flair_peer import FlairPeer

    for name in ("train.txt", "valid.txt"):
        write_conll(tmp_path / name)
    recipe = Recipe.load(
        CONFIGS,
        ["experiment=conll2003", f"data.root={tmp_path}", "embedding.pretrained=null", "data.batch_size=4"],
        seed=0,
    )
    batches = list(recipe.datamodule.train_dataloader())
    peer = FlairPeer(recipe, batches)
    assert [len(b) for b in peer.batches] == [len(b) for b in batches] and peer.tokens() == sum(
        int(b.lengths.sum()) for b in batches
    )
    texts = {
        " ".join(t.text for t in s): sorted((sp.text, sp.tag) for sp in s.get_spans("ner"))
        for b in peer.batches
        for s in b
    }
    assert texts["Peter Blackburn visits Bonn"] == [("Bonn", "LOC"), ("Peter Blackburn", "PER")]
    assert texts["EU rejects German call 1996"] == [("EU", "ORG"), ("German", "MISC")]  # raw digits: chars kept
    tagger = peer.tagger(seed=0)
    seqkit = recipe.model(seed=0)
    # the same size: word table (the training words + unk), BiLSTM 200, CRF; 50 character features each
    assert tagger.embeddings.embedding_length == seqkit.hparams.embedding_dim + seqkit.network.chars.output_dim
    assert tagger.rnn.hidden_size == seqkit.network.encoder.hidden_size == 200
    optimizer = recipe.optimizer(tagger.parameters())
    before = [p.detach().clone() for p in tagger.parameters()]
    peer.train(tagger, optimizer, recipe.clip)
    assert any(not torch.equal(a, p) for a, p in zip(before, tagger.parameters()))


class _CountingNetwork(torch.nn.Module):
    """A toy network of the shape protocol that carries its state (as the language model's): loss(batch, state)."""

    carries_state = True

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.seen = []

    def loss(self, batch, state=None):
        self.seen.append(None if state is None else float(state))
        state = batch if state is None else state + batch
        return {"loss": (self.weight * state).sum(), "state": state * self.weight}


def test_plain_loop_trains_on_the_network_loss_and_carries_its_state():
    """The plain loop calls ``module.network.loss`` (no loss of its own); a ``carries_state`` network gets the
    previous batch's returned state, detached, and None at each epoch's start (as TaskModule gives it)."""
    from types import SimpleNamespace

    from seqkit.benchmark.loops import loss_of, plain_train

    module = torch.nn.Module()
    module.network = _CountingNetwork()
    recipe = SimpleNamespace(optimizer=lambda params: torch.optim.SGD(params, lr=0.0), clip=1.0)
    plain_train(module, [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)], recipe, epochs=2)
    assert module.network.seen == [None, 1.0, 3.0] * 2
    assert float(loss_of(module, torch.tensor(4.0))) == 4.0  # FLOP counting: one batch from a fresh state


def test_benchmark_files_are_short_and_scripts_do_not_edit_sys_path():
    root = Path(__file__).resolve().parents[1]
    for path in [*(root / "seqkit" / "benchmark").glob("*.py"), *(root / "scripts").glob("bench_*.py")]:
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, path
        assert "sys.path" not in text, path
