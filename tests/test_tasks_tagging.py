"""Issue #25's tagging shape: the registry, old and new checkpoints through the Lightning-free loader, prediction and
evaluation without importing Lightning, and the application's output equal to the Lightning path's, byte for byte
(JSON lines with spans, options.output_format=conll, options.too_long=split, pretrained vectors)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from test_tagger import context_sentences, write_conll

from seqkit import tasks

REPO = Path(__file__).resolve().parents[1]
LEGACY_NER = REPO / "tests" / "legacy" / "ner"


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def _fit(model, dm, steps, path):
    import pytorch_lightning as pl

    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(path, weights_only=True)
    return path


@pytest.fixture(scope="module")
def new_tagger(tmp_path_factory):
    """TaskModule + TaggingDataModule (character CNN, CRF, 6-d pretrained vectors) trained a few steps ->
    (checkpoint, vectors file, folder, the trained TaskModule)."""
    from seqkit.tasks.tagging.datamodule import TaggingDataModule
    from seqkit.training import TaskModule

    folder = tmp_path_factory.mktemp("tagging")
    vectors = folder / "vectors.txt"
    vectors.write_text(
        "".join(
            f"{w} " + " ".join(str((i * 7 + k) % 5 - 2) for k in range(6)) + "\n"
            for i, w in enumerate(["apple", "new", "york", "the", "zebra", "w1"])
        ),
        encoding="utf-8",
    )
    train = write_conll(folder / "train.conll", context_sentences(60, 1))
    dm = TaggingDataModule(train_path=train, batch_size=8, eval_batch_size=5, pretrained=str(vectors))
    dm.setup("fit")
    torch.manual_seed(0)
    model = TaskModule(
        "tagging",
        **dm.model_kwargs(),
        char={"embedding_dim": 4, "num_filters": 4},
        backbone={"hidden_size": 6, "bidirectional": True},
    )
    return _fit(model, dm, 3, folder / "new.ckpt"), vectors, folder, model


# ---- the registry ------------------------------------------------------------------------------------------------
def test_the_tagging_shape_converts_the_old_tagger_and_its_data_modules():
    shape = tasks.get("tagging")
    assert shape.legacy_models == ("seqkit.models.tagger.SequenceTagger",)
    assert shape.legacy_datamodules == (
        "seqkit.data.tagging.TaggingDataModule",
        "seqkit.data.synthetic.CopyMemoryDataModule",
    )
    old = torch.load(LEGACY_NER / "model.ckpt", weights_only=True)["seqkit"]
    assert tasks.for_checkpoint(old, LEGACY_NER / "model.ckpt") is shape


# ---- no Lightning on the application path ------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["legacy", "new"])
def test_predicting_and_evaluating_a_tagger_imports_no_lightning(new_tagger, tmp_path, which):
    ckpt, vectors, folder, _ = new_tagger
    if which == "legacy":
        ckpt, vectors, source, test = (
            LEGACY_NER / "model.ckpt",
            None,
            LEGACY_NER / "predict.txt",
            LEGACY_NER / "data" / "val.conll",
        )
    else:
        source = test = folder / "train.conll"
    given = {} if vectors is None else {"pretrained": str(vectors)}
    probe = (
        "import sys\n"
        "from seqkit import tasks\n"
        "from seqkit.app.checkpoint import load\n"
        "from seqkit.app.evaluate import metrics_of\n"
        "from seqkit.app.predict import predict_with\n"
        f"network, codec = load({str(ckpt)!r}, **{given!r})\n"
        f"n = predict_with(network, codec, {str(source)!r}, {str(tmp_path / 'out.conll')!r}, "
        "{'output_format': 'conll'})\n"
        f"raw, where = codec.read({str(test)!r}), {str(test)!r}\n"
        "figures = metrics_of(network, codec, codec.encode(raw, where), tasks.get('tagging'))\n"
        "print(n, sorted(figures), sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'lightning_fabric', 'torchmetrics')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(" []"), done.stdout
    assert "'f1'" in done.stdout and "'acc'" in done.stdout and "'loss'" in done.stdout
    lines = (tmp_path / "out.conll").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and all(line == "" or line.count("\t") == 1 for line in lines)


# ---- the application's output ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        [],
        ["options.output_format=conll"],
        ["options.input_format=text", "options.max_length=4", "options.too_long=split"],
    ],
)
def test_a_new_checkpoint_predicts_every_token_in_every_format(new_tagger, tmp_path, options):
    from seqkit.app.predict import predict

    ckpt, vectors, folder, _ = new_tagger
    source, out = tmp_path / "input.txt", tmp_path / "app.out"
    if "options.input_format=text" in options:
        source.write_text("we ate apple at new york today\n\nzebra new shoes w1 w2 w3 w4 w5 w6\n", encoding="utf-8")
    else:
        source.write_text("we\nate\napple\n\nzebra\nnew\nyork\n", encoding="utf-8")
    args = [f"ckpt_path={ckpt}", f"input={source}", f"output={out}", "threads=1", f"data.pretrained={vectors}"]
    assert predict(_compose("predict", *args, *options)) >= 2
    text = out.read_text(encoding="utf-8")
    if "options.output_format=conll" in options:
        blocks = [b.splitlines() for b in text.strip().split("\n\n")]
        assert [[line.split("\t")[0] for line in b] for b in blocks] == [
            ["we", "ate", "apple"],
            ["zebra", "new", "york"],
        ]
        return
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(len(r["tags"]) == len(r["tokens"]) and "spans" in r for r in rows)
    words = [w for r in rows for w in r["tokens"]]
    if options:  # sentences longer than max_length are tagged in pieces, and come back whole, every word in order
        assert [len(r["tokens"]) for r in rows] == [7, 0, 9]  # the empty line keeps its record
        assert words == "we ate apple at new york today zebra new shoes w1 w2 w3 w4 w5 w6".split()
    else:
        assert [r["tokens"] for r in rows] == [["we", "ate", "apple"], ["zebra", "new", "york"]]


def test_app_evaluation_equals_the_training_modules_test(new_tagger, capsys):
    """evaluate.py (no Lightning) gives the figures TaskModule.test_step logs under Lightning on the same file."""
    import pytorch_lightning as pl

    from seqkit.app.evaluate import evaluate
    from seqkit.tasks.tagging.datamodule import TaggingDataModule

    ckpt, vectors, folder, model = new_tagger
    train = folder / "train.conll"
    args = [f"ckpt_path={ckpt}", f"data.test_path={train}", f"data.pretrained={vectors}", "threads=1"]
    got = evaluate(_compose("evaluate", *args))
    assert {"test/loss", "test/acc", "test/f1", "test/precision", "test/recall"} <= set(got)
    dm = TaggingDataModule(
        train_path=str(train), test_path=str(train), batch_size=8, eval_batch_size=5, pretrained=str(vectors)
    )
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (logged,) = trainer.test(model, datamodule=dm, verbose=False)
    for name, value in got.items():  # Lightning logs float32: equal to its rounding
        assert value == pytest.approx(logged[name], abs=2e-6), name


def test_a_copy_memory_checkpoint_loads_on_the_app_path(tmp_path):
    from seqkit.app.checkpoint import load
    from seqkit.tasks.tagging.codec import CopyMemoryCodec
    from seqkit.tasks.tagging.datamodule import CopyMemoryDataModule
    from seqkit.training import TaskModule

    dm = CopyMemoryDataModule(length=4, symbols=2, alphabet=4, train_size=32, val_size=16, batch_size=8)
    dm.setup("fit")
    torch.manual_seed(0)
    model = TaskModule(
        "tagging",
        **dm.model_kwargs(),
        char_encoder="none",
        head="softmax",
        embedding_dim=4,
        backbone={"hidden_size": 4, "bidirectional": False},
    )
    ckpt = _fit(model, dm, 2, tmp_path / "copy.ckpt")
    network, codec = load(ckpt)
    assert isinstance(codec, CopyMemoryCodec) and codec.alphabet == 4 and network.tags == ["0", "1", "2", "3"]
    val, _ = codec.read_splits()["val"]
    model.network.eval()
    with torch.inference_mode():
        for batch in codec.batches(codec.encode(val, "val")):
            assert torch.equal(network.predict(batch)["tags"], model.network.predict(batch)["tags"])
