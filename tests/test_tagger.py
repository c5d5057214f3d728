"""The tagging shape (seqkit.tasks.tagging: TaggerNetwork in a TaskModule): learns a task that needs context (CRF and softmax heads), is padding-invariant, decodes
only valid tag sequences when constrained, scores entities exactly like seqeval, and survives a checkpoint
written by ``seqkit.app.train.train`` from a Hydra-composed config."""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from seqkit.data.errors import DataError
from seqkit.data.tag_schemes import check_tags, iob2_to_iobes
from seqkit.tasks.tagging.datamodule import TaggingDataModule
from seqkit.tasks.tagging.metrics import EntityF1
from seqkit.tasks.tagging.network import TaggerNetwork
from seqkit.training import TaskModule

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"

# ---- a generated task where a token's tag depends on its neighbours ----------------------------------
# "apple" is an ORG before "inc"/"shares" or after "at", a FRUIT after "ate"/"eat"; "new" starts a LOC
# before "york" and is O before "shoes". Each pattern sits between random filler words.
PATTERNS = [
    (("apple", "inc"), ("B-ORG", "O")),
    (("apple", "shares"), ("B-ORG", "O")),
    (("at", "apple"), ("O", "B-ORG")),
    (("ate", "apple"), ("O", "B-FRUIT")),
    (("eat", "apple"), ("O", "B-FRUIT")),
    (("new", "york"), ("B-LOC", "I-LOC")),
    (("new", "shoes"), ("O", "O")),
]
FILLERS = [f"w{i}" for i in range(30)] + ["the", "we", "saw", "today", "and", "very", "big", "bought"]


def context_sentences(n: int, seed: int):
    """``n`` sentences of 5-25 tokens as [(word, tag), ...], each with 1-3 patterns."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(5, 25)
        tokens = [(rng.choice(FILLERS), "O") for _ in range(length)]
        slots = range(0, length - 1, 3)  # patterns never touch: a filler always separates them
        for start in rng.sample(slots, min(rng.randint(1, 3), len(slots))):
            words, tags = rng.choice(PATTERNS)
            tokens[start], tokens[start + 1] = (words[0], tags[0]), (words[1], tags[1])
        out.append(tokens)
    return out


def write_conll(path: Path, sentences) -> str:
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sentences), encoding="utf-8")
    return str(path)


@pytest.fixture
def context_files(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return {
        "train": write_conll(folder / "train.conll", context_sentences(400, 1)),
        "val": write_conll(folder / "val.conll", context_sentences(150, 2)),
        "test": write_conll(folder / "test.conll", context_sentences(60, 3)),
    }


def small_tagger(dm, **kwargs):
    options = dict(
        embedding_dim=32,
        embedding_dropout=0.1,
        dropout=0.1,
        word_dropout=0.0,
        char={"embedding_dim": 16, "num_filters": 16, "dropout": 0.0},
        backbone={"hidden_size": 32, "bidirectional": True},
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.01},
    )
    options.update(kwargs)
    return TaskModule("tagging", **dm.model_kwargs(), **options)


def fit(model, dm, epochs):
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_the_context_task_cannot_be_solved_word_by_word():
    """The best context-free tagger (each word's most frequent training tag) scores far below 0.9."""
    train = context_sentences(400, 1)
    counts = defaultdict(Counter)
    for s in train:
        for w, t in s:
            counts[w][t] += 1
    val = context_sentences(150, 2)
    y_true = [[t for _, t in s] for s in val]
    y_pred = [[counts[w].most_common(1)[0][0] for w, _ in s] for s in val]
    assert f1_score(y_true, y_pred, mode="strict", scheme=IOB2) < 0.75
    lengths = [len(s) for s in val]
    assert min(lengths) == 5 and max(lengths) == 25


def test_crf_tagger_learns_the_context_task(context_files):
    pl.seed_everything(0)
    dm = TaggingDataModule(
        train_path=context_files["train"], val_path=context_files["val"], batch_size=16, eval_batch_size=64
    )
    dm.setup("fit")
    assert dm.tags.itos == ["B-FRUIT", "B-LOC", "B-ORG", "I-LOC", "O"]
    model = small_tagger(dm, head="crf", char_encoder="cnn")
    start = time.perf_counter()
    metrics = fit(model, dm, epochs=4)
    assert time.perf_counter() - start < 40
    assert metrics["val/f1"] >= 0.9, metrics
    assert {"val/f1_ORG", "val/f1_FRUIT", "val/f1_LOC", "val/precision", "val/recall", "val/acc"} <= set(metrics)
    assert min(metrics["val/f1_ORG"], metrics["val/f1_FRUIT"], metrics["val/f1_LOC"]) >= 0.8, metrics


def test_softmax_tagger_learns_the_context_task(context_files):
    pl.seed_everything(0)
    dm = TaggingDataModule(
        train_path=context_files["train"], val_path=context_files["val"], batch_size=16, eval_batch_size=64
    )
    dm.setup("fit")
    model = small_tagger(dm, head="softmax", char_encoder="cnn")
    assert model.network.crf is None
    metrics = fit(model, dm, epochs=4)
    assert metrics["val/acc"] >= 0.98, metrics
    assert metrics["val/f1"] >= 0.9, metrics


# ---- padding invariance -------------------------------------------------------------------------------
# (the default, fused with char CNN, is one of the contracts of every task: tests/test_contracts.py)
@pytest.mark.parametrize("impl, char_encoder", [("cell", "cnn"), ("fused", "lstm"), ("cell", "lstm")])
def test_a_sentence_alone_equals_its_row_in_a_padded_batch(context_files, impl, char_encoder):
    dm = TaggingDataModule(
        train_path=context_files["train"], val_path=context_files["val"], eval_batch_size=12, bucketing=False
    )
    dm.setup("fit")
    torch.manual_seed(0)
    char = {"embedding_dim": 8, "num_filters": 8} if char_encoder == "cnn" else {"embedding_dim": 8, "hidden_size": 4}
    model = TaggerNetwork(
        **dm.model_kwargs(),
        embedding_dim=16,
        char_encoder=char_encoder,
        char=char,
        backbone={"hidden_size": 16, "bidirectional": True, "num_layers": 2, "impl": impl},
    ).eval()
    examples = dm.datasets["val"][:12]
    assert len({len(e.ids) for e in examples}) > 4  # really mixed lengths
    batch = dm.collate(examples)
    with torch.no_grad():
        emissions = model.scores(batch)
        tags = model.decode(emissions, batch.mask)
        for i, example in enumerate(examples):
            alone = dm.collate([example])
            n = len(example.ids)
            assert alone.chars.size(2) <= batch.chars.size(2)
            single = model.scores(alone)
            torch.testing.assert_close(single[0], emissions[i, :n], atol=1e-5, rtol=1e-5)
            assert model.decode(single, alone.mask)[0].tolist() == tags[i, :n].tolist()
        assert (tags[~batch.mask] == 0).all()


# ---- constrained decoding ----------------------------------------------------------------------------
def is_valid(tags, scheme):
    try:
        check_tags(tags, scheme)
    except DataError:
        return False
    return True


@pytest.mark.parametrize("scheme", ["iob2", "iobes"])
def test_constrained_crf_never_decodes_an_invalid_sequence(scheme):
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    if scheme == "iobes":
        tags += ["E-PER", "E-LOC", "S-PER", "S-LOC"]
    inside = [i for i, t in enumerate(tags) if t[0] in "IE"]

    def untrained(constrained):
        torch.manual_seed(0)  # the same weights for both
        model = TaggerNetwork(
            vocab_size=50,
            tags=tags,
            scheme=scheme,
            char_encoder="none",
            embedding_dim=8,
            backbone={"hidden_size": 8, "bidirectional": True},
            constrained=constrained,
        ).eval()
        with torch.no_grad():
            model.emissions.bias[inside] += 1.0  # push towards I-/E- tags, which most places forbid
        return model

    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 15, (64,), generator=gen)
    tokens = torch.randint(2, 50, (64, int(lengths.max())), generator=gen)
    mask = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
    from seqkit.data.batch import Batch

    batch = Batch(tokens=tokens.masked_fill(~mask, 0), lengths=lengths, index=torch.arange(64))
    decoded = {}
    for constrained in (True, False):
        model = untrained(constrained)
        with torch.no_grad():
            ids = model.decode(model.scores(batch), batch.mask)
        decoded[constrained] = [[tags[k] for k in ids[b, : lengths[b]].tolist()] for b in range(64)]
    assert all(is_valid(seq, scheme) for seq in decoded[True])
    assert sum(not is_valid(seq, scheme) for seq in decoded[False]) > 10  # the constraints do the work
    assert any(t != "O" for seq in decoded[True] for t in seq)  # and it does not just say O everywhere


# ---- entity F1 ----------------------------------------------------------------------------------------
Y_TRUE = [
    ["B-PER", "I-PER", "O", "B-LOC"],  # PER right boundary missed, LOC right
    ["B-ORG", "I-ORG", "I-ORG", "O", "O"],  # type error: ORG predicted as LOC
    ["O", "B-PER", "O"],  # predicted "I-PER" start: no entity in strict mode
    ["B-LOC"],
    ["O", "O", "B-ORG", "I-ORG"],
    ["O", "O"],  # a false positive
]
Y_PRED = [
    ["B-PER", "O", "O", "B-LOC"],
    ["B-LOC", "I-LOC", "I-LOC", "O", "O"],
    ["O", "I-PER", "O"],
    ["B-LOC"],
    ["O", "O", "B-ORG", "I-ORG"],
    ["B-ORG", "O"],
]
TAGS = ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"]


def padded(rows, pad):
    width = max(len(r) for r in rows)
    ids = torch.tensor([[TAGS.index(t) for t in r] + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[True] * len(r) + [False] * (width - len(r)) for r in rows])
    return ids, mask


def test_entity_f1_equals_seqeval_strict():
    metric = EntityF1(TAGS, "iob2")
    for part in (slice(0, 2), slice(2, 6)):  # two batches of different widths
        preds, mask = padded(Y_PRED[part], TAGS.index("I-PER"))  # junk at padding must be ignored
        target, _ = padded(Y_TRUE[part], -100)
        metric.update(preds, target, mask)
    scores = {k: float(v) for k, v in metric.compute().items()}

    kw = dict(mode="strict", scheme=IOB2)
    assert scores["f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, **kw))
    assert scores["precision"] == pytest.approx(precision_score(Y_TRUE, Y_PRED, **kw))
    assert scores["recall"] == pytest.approx(recall_score(Y_TRUE, Y_PRED, **kw))
    assert scores["precision"] == pytest.approx(3 / 6) and scores["recall"] == pytest.approx(3 / 6)
    # strictness matters here: conlleval-style (default) seqeval counts the "I-PER" entity
    assert scores["f1"] != pytest.approx(f1_score(Y_TRUE, Y_PRED))
    report = classification_report(Y_TRUE, Y_PRED, output_dict=True, zero_division=0, **kw)
    for typ in ("PER", "LOC", "ORG"):
        assert scores[f"f1_{typ}"] == pytest.approx(report[typ]["f1-score"])
    assert scores["f1_PER"] == 0.0 and scores["f1_LOC"] == pytest.approx(2 * (2 / 3 * 1) / (2 / 3 + 1))
    metric.reset()
    preds, mask = padded(Y_TRUE, 0)
    metric.update(preds, preds, mask)
    assert float(metric.compute()["f1"]) == 1.0


def test_entity_f1_iobes():
    tags = ["B-PER", "E-PER", "O", "S-LOC", "S-PER", "I-PER"]
    y_true = [iob2_to_iobes(s) for s in (["B-PER", "I-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O"])]
    y_pred = [["B-PER", "I-PER", "E-PER", "O", "S-PER"], ["S-PER", "O"]]
    metric = EntityF1(tags, "iobes")
    ids = lambda rows: torch.tensor([[tags.index(t) for t in r] + [2] * (5 - len(r)) for r in rows])  # noqa: E731
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    metric.update(ids(y_pred), ids(y_true), mask)
    scores = metric.compute()
    from seqeval.scheme import IOBES

    assert float(scores["f1"]) == pytest.approx(f1_score(y_true, y_pred, mode="strict", scheme=IOBES))
    assert float(scores["f1"]) == pytest.approx(2 / 3)


# ---- checkpoint round trip through seqkit.app.train.train ---------------------------------------------------------
def compose_train(tmp_path, files, glove, *extra):
    from hydra import compose, initialize_config_dir

    overrides = [
        "task=ner",
        "data.builtin=null",
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        f"data.test_path={files['test']}",
        f"embedding.pretrained={glove}",
        "embedding.dim=16",
        "backbone.hidden_size=16",
        "++model.char={embedding_dim:8,num_filters:8}",
        "data.batch_size=16",
        "trainer.max_epochs=1",
        f"paths.output_dir={tmp_path / 'run'}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        *extra,
    ]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=overrides)


def test_checkpoint_round_trip_through_run_train(context_files, tmp_path, monkeypatch, capsys):
    from hydra import compose, initialize_config_dir

    from seqkit.app import train as run

    glove = tmp_path / "glove.txt"  # 6-d vectors: the embedding size comes from the file, not embedding.dim
    glove.write_text(
        "".join(
            f"{w} " + " ".join(str((i * 7 + k) % 5 - 2) for k in range(6)) + "\n"
            for i, w in enumerate(["apple", "new", "york", "the", "zebra", "w1"])
        ),
        encoding="utf-8",
    )
    built = []
    real_build = run.build
    monkeypatch.setattr(run, "build", lambda node, **kw: built.append(real_build(node, **kw)) or built[-1])
    metrics = run.train(compose_train(tmp_path, context_files, glove))
    model = next(b for b in built if isinstance(b, TaskModule))
    dm = next(b for b in built if isinstance(b, TaggingDataModule))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    best = summary["best_checkpoint"]
    assert Path(best) == tmp_path / "run" / "checkpoints" / "best.ckpt" and Path(best).is_file()
    assert {"val/f1", "test/f1", "test/acc"} <= set(metrics)
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()

    raw = torch.load(best, map_location="cpu", weights_only=True)
    meta = raw["seqkit"]
    assert {k: meta[k] for k in ("format_version", "shape", "model_class", "datamodule_class", "codec_class")} == {
        "format_version": 2,
        "shape": "tagging",
        "model_class": "seqkit.training.module.TaskModule",
        "datamodule_class": "seqkit.tasks.tagging.datamodule.TaggingDataModule",
        "codec_class": "seqkit.tasks.tagging.codec:TaggingCodec",
    }
    state = meta["codec"]
    assert state == raw["TaggingDataModule"]  # Lightning's own copy, which resuming restores
    assert state["vocab"]["itos"] == dm.vocab.itos and state["chars"]["itos"] == dm.chars.itos
    assert state["tags"]["itos"] == ["B-FRUIT", "B-LOC", "B-ORG", "I-LOC", "O"]
    assert raw["hyper_parameters"]["embedding_dim"] == 6 and raw["hyper_parameters"]["pretrained_words"] == 6
    assert not {"pretrained_vectors", "pretrained_rows"} & set(raw["hyper_parameters"])
    assert state["pretrained"]["source"] == str(glove) and state["pretrained"]["words"] == 6
    assert "zebra" not in dm.vocab  # in the vectors but in no file

    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import evaluate

    loaded, codec = load(best, pretrained=str(glove))  # a checkpoint never names a file to read
    assert not loaded.training and codec.vocab.itos == dm.vocab.itos and codec.tags.itos == dm.tags.itos
    assert loaded.embedding.embedding.weight.shape == (len(dm.vocab), 6)
    batch = next(iter(dm.val_dataloader()))
    model.eval()
    with torch.no_grad():
        expected = model.network.scores(batch)
        got = loaded.scores(batch)
    torch.testing.assert_close(got, expected)
    assert torch.equal(loaded.decode(got, batch.mask), model.network.decode(expected, batch.mask))

    # evaluating the checkpoint on the test file reproduces the test metrics of training
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[f"ckpt_path={best}", f"data.test_path={context_files['test']}", f"data.pretrained={glove}"],
        )
    scores = evaluate(cfg)
    assert scores["test/f1"] == pytest.approx(metrics["test/f1"], abs=1e-6)
    assert scores["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)


# ---- the overrides the script docs advertise ------------------------------------------------------------
@pytest.mark.parametrize(
    "config, overrides, key, value",
    [
        (
            "predict",
            ["ckpt_path=x.ckpt", "options.input_format=text", "options.output_format=conll"],
            "options.output_format",
            "conll",
        ),
        ("evaluate", ["ckpt_path=x.ckpt", "data.test_path=t.conllu", "data.format=conllu"], "data.format", "conllu"),
    ],
)
def test_documented_script_overrides_compose(config, overrides, key, value):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config, overrides=overrides)
    assert OmegaConf.select(cfg, key) == value
