"""Issue #25's classification shape: the registry, TaskModule's logged figures equal to the application's
evaluation, a new checkpoint through the Lightning-free loader, and prediction without importing Lightning."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqkit import tasks
from seqkit.data.errors import DataError

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "backbone.hidden_size=6",
    "model.embedding_dim=6",
    "data.batch_size=8",
    "data.eval_batch_size=16",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
    "++trainer.num_sanity_val_steps=0",
    "threads=1",
    "logger=csv",
]


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.fixture
def trained(marker_files, tmp_path):
    """task=sentiment trained by scripts/train.py's function on the marker files -> (best checkpoint, files, metrics)."""
    from seqkit.app.train import train

    files = marker_files(train=120, val=40, test=40, seed=3)
    cfg = _compose(
        "train",
        "task=sentiment",
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        f"data.test_path={files['test']}",
        f"paths.output_dir={tmp_path / 'run'}",
        *TINY,
    )
    metrics = train(cfg)
    return tmp_path / "run" / "checkpoints" / "best.ckpt", files, metrics


# ---- the registry ------------------------------------------------------------------------------------------------
def test_an_unknown_shape_is_one_line_naming_the_registered_ones():
    with pytest.raises(ValueError) as info:
        tasks.get("sequence_to_count")
    message = str(info.value)
    assert "\n" not in message and "'sequence_to_count'" in message and "classification" in message
    assert tasks.get("classification").legacy_models == ("seqkit.models.classifier.SequenceClassifier",)
    with pytest.raises(ValueError, match="registered twice"):
        tasks.register(tasks.Shape("classification", "a:B", "a:C", "a:D"))


def test_a_checkpoint_of_an_unregistered_shape_is_refused(trained, tmp_path):
    from seqkit.app.checkpoint import load

    ckpt, _, _ = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["seqkit"]["shape"] = "sequence_to_count"
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(DataError) as info:
        load(tmp_path / "other.ckpt")
    assert "\n" not in str(info.value) and "model shape 'sequence_to_count' is not registered" in str(info.value)


# ---- training and the application agree -------------------------------------------------------------------------
def test_logged_figures_are_the_app_evaluation_of_the_same_checkpoint_and_file(trained, capsys):
    from seqkit.app.evaluate import evaluate

    ckpt, files, logged = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["seqkit"]["shape"] == "classification" and checkpoint["seqkit"]["format_version"] == 2
    assert all(k.startswith("network.") for k in checkpoint["state_dict"])
    assert set(logged) == {f"{s}/{m}" for s in ("val", "test") for m in ("loss", "acc", "f1")}
    for split in ("val", "test"):
        got = evaluate(_compose("evaluate", f"ckpt_path={ckpt}", f"data.test_path={files[split]}", "threads=1"))
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == got
        for name in ("loss", "acc", "f1"):  # Lightning logs float32: equal to its rounding
            assert got[f"test/{name}"] == pytest.approx(logged[f"{split}/{name}"], abs=2e-6), (split, name)


def test_a_new_checkpoint_round_trips_through_the_app_loader(marker_files, tmp_path):
    """TaskModule + ClassificationDataModule trained a few steps; seqkit.app.load's (network, codec) predicts what
    the trained network predicts, on the codec's own batches, exactly."""
    import pytorch_lightning as pl

    from seqkit.app.checkpoint import load
    from seqkit.tasks.classification.datamodule import ClassificationDataModule
    from seqkit.training import TaskModule

    files = marker_files(train=64, val=16, seed=4)
    dm = ClassificationDataModule(
        train_path=str(files["train"]), val_path=str(files["val"]), batch_size=8, eval_batch_size=5, char_features=True
    )
    dm.setup("fit")
    torch.manual_seed(0)
    model = TaskModule(
        "classification",
        **dm.model_kwargs(),
        embedding_dim=4,
        char_encoder="cnn",
        pooling="attention",
        backbone={"cell": "gru", "hidden_size": 4, "bidirectional": True},
    )
    trainer = pl.Trainer(
        max_steps=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "new.ckpt", weights_only=True)

    network, codec = load(tmp_path / "new.ckpt")
    assert (
        codec.labels.itos == dm.labels.itos and codec.vocab.itos == dm.vocab.itos and codec.chars.itos == dm.chars.itos
    )
    lines = list(enumerate(files["val"].read_text(encoding="utf-8").splitlines(), start=1))
    codec.set_predict_input(lines, "val")
    model.network.eval()
    with torch.inference_mode():
        for batch in codec.predict_batches():
            got, expected = network.predict(batch), model.network.predict(batch)
            assert torch.equal(got["index"], expected["index"])
            assert torch.equal(got["probabilities"], expected["probabilities"])


def test_predicting_a_classifier_imports_no_lightning(trained, tmp_path):
    ckpt, files, _ = trained
    probe = (
        "import sys, io\n"
        "from seqkit.app.predict import predict_with\n"
        "from seqkit.app.checkpoint import load\n"
        f"network, codec = load({str(ckpt)!r})\n"
        f"n = predict_with(network, codec, {str(files['val'])!r}, {str(tmp_path / 'out.jsonl')!r}, {{}})\n"
        "print(n, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'lightning_fabric', 'torchmetrics')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 1) == ["40", "[]\n"]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 40 and all(r["label"] in r["probabilities"] for r in rows)


def test_pretrained_vectors_reload_and_a_word_only_they_know_reads_its_vector(marker_files, tmp_path):
    """A checkpoint trained with data.pretrained: the codec reloads the vectors (checked against the checkpoint's
    record), the network gets them from the codec, and a word only the vectors know reads its vector: a text of
    such words predicts differently from the same text with words nobody knows (which read <unk>), while two
    unknown words predict alike."""
    from seqkit.app.predict import predict
    from seqkit.app.train import train

    files = marker_files(train=60, val=20, seed=6)
    vectors = tmp_path / "vectors.txt"
    words = ["zig", "zag", "tic", "tac", "unseen", "elsewhere"]
    vectors.write_text(
        "".join(f"{w} " + " ".join(f"{(i * 7 + k) % 5 / 5:.3f}" for k in range(4)) + "\n" for i, w in enumerate(words)),
        encoding="utf-8",
    )
    cfg = _compose(
        "train",
        "task=sentiment",
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        f"embedding.pretrained={vectors}",
        f"paths.output_dir={tmp_path / 'run'}",
        *TINY,
    )
    train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert torch.load(ckpt, weights_only=True)["seqkit"]["codec"]["pretrained"]["source"] == str(vectors)
    source = tmp_path / "input.txt"
    source.write_text("zig unseen elsewhere tac\nzig qqq qqqq tac\nzig rrr rrrr tac\n", encoding="utf-8")
    out = tmp_path / "app.jsonl"
    args = [
        f"ckpt_path={ckpt}",
        f"input={source}",
        f"output={out}",
        "threads=1",
        "options.input_format=text",
        f"data.pretrained={vectors}",
    ]
    assert predict(_compose("predict", *args)) == 3
    known, unknown, also_unknown = [json.loads(line)["probabilities"] for line in out.read_text().splitlines()]
    assert unknown == also_unknown and known != unknown
