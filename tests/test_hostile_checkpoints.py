"""A checkpoint is data: it does not choose which code is imported, which file is read as pretrained vectors,
or which files a resumed run validates with and deletes.

Every crafted checkpoint here is a real tiny one (a one-epoch classifier trained with a small generated vectors
file), loaded with ``torch.load(weights_only=True)``, edited as a dict and saved again."""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FILLERS, FIRST_MARKERS, LAST_MARKERS, marker_examples, write_tab_file
from hydra import compose, initialize_config_dir

from seqkit import tasks
from seqkit.app.checkpoint import load
from seqkit.app.cli import report_errors
from seqkit.app.evaluate import evaluate
from seqkit.app.predict import predict
from seqkit.app.train import train
from seqkit.data.errors import DataError
from seqkit.data.pretrained import load_vectors
from seqkit.tasks.classification.network import ClassifierNetwork

REPO = Path(__file__).resolve().parents[1]
REFUSED_CLASS = "which is not a registered seqkit class; refused (a checkpoint is data, it does not choose code)"


def config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def train_overrides(run_dir: Path, data: Path, vectors: Path, *extra: str):
    return [
        f"paths.output_dir={run_dir}",
        f"data.train_path={data / 'train.tsv'}",
        f"data.val_path={data / 'val.tsv'}",
        f"embedding.pretrained={vectors}",
        "backbone.hidden_size=8",
        "data.batch_size=16",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "test=false",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run directory, data folder, vectors file): a one-epoch classifier run read through 4-d vectors."""
    folder = tmp_path_factory.mktemp("hostile")
    data = folder / "data"
    data.mkdir()
    for k, (name, n) in enumerate((("train", 64), ("val", 16))):
        write_tab_file(data / f"{name}.tsv", marker_examples(n, seed=k))
    words = [*FIRST_MARKERS, *LAST_MARKERS, *FILLERS]
    vectors = folder / "vectors.txt"
    vectors.write_text(
        "".join(f"{w} {i % 3 * 0.5:.1f} 0.25 {i / 100:.2f} -1.0\n" for i, w in enumerate(words)), encoding="utf-8"
    )
    run_dir = folder / "run"
    train(config("train", *train_overrides(run_dir, data, vectors)))
    return run_dir, data, vectors


def edited(source: Path, target: Path, edit) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


def one_error_line(fn, cfg, capsys, monkeypatch) -> str:
    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        report_errors(fn)(cfg)
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def run_script(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A script as a user runs it, its heap capped at 3 GB (a file read whole must not take the machine)."""

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("SEQKIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap_memory,
    )


@pytest.fixture
def texts(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("zig w1 w2 tac\nzag w3 tic\n", encoding="utf-8")
    return path


# ---- (a) a checkpoint does not choose which code is imported ----------------------------------------------------


def foreign_class(trained, tmp_path, key="model_class", name="this.NotAClass") -> Path:
    run_dir, _, _ = trained
    return edited(
        run_dir / "checkpoints" / "best.ckpt", tmp_path / "foreign.ckpt", lambda c: c["seqkit"].update({key: name})
    )


@pytest.mark.slow
def test_predict_script_refuses_a_foreign_class_without_importing_it(trained, tmp_path, texts):
    evil = foreign_class(trained, tmp_path)
    done = run_script("predict.py", f"ckpt_path={evil}", f"input={texts}")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip() == f"error: {evil}: names class this.NotAClass, {REFUSED_CLASS}"
    assert "Beautiful is better than ugly" not in done.stdout + done.stderr  # what importing `this` prints


@pytest.mark.parametrize("key", ["model_class", "datamodule_class"])
def test_evaluate_and_export_refuse_a_foreign_class_before_importing_it(trained, tmp_path, capsys, monkeypatch, key):
    from seqkit.app.export import export_checkpoint

    evil = foreign_class(trained, tmp_path, key)
    _, data, vectors = trained
    assert "this" not in sys.modules
    cfg = config("evaluate", f"ckpt_path={evil}", f"data.test_path={data / 'val.tsv'}", f"data.pretrained={vectors}")
    expected = f"error: {evil}: names class this.NotAClass, {REFUSED_CLASS}"
    assert one_error_line(evaluate, cfg, capsys, monkeypatch) == expected
    export = lambda cfg: export_checkpoint(str(evil), "torchscript", str(tmp_path / "model"), str(vectors))  # noqa: E731
    assert one_error_line(export, None, capsys, monkeypatch) == expected
    assert "this" not in sys.modules and not (tmp_path / "model.pt").exists()


def test_a_class_of_the_wrong_kind_or_not_a_string_is_refused(trained, tmp_path):
    datamodule = "seqkit.tasks.classification.datamodule.ClassificationDataModule"  # registered, as a data module
    swapped = foreign_class(trained, tmp_path, "model_class", datamodule)
    with pytest.raises(DataError, match=f"names class {datamodule}, which is not"):
        load(str(swapped))
    odd = foreign_class(trained, tmp_path, "model_class", "os.system\nrm -rf /")
    with pytest.raises(DataError, match=r"names class 'os.system\\nrm -rf /', which is not a registered seqkit class"):
        load(str(odd))


class RenamedClassifier(ClassifierNetwork):
    """A test-local network: a plugin's shape, loadable once registered, also under the model class older
    checkpoints recorded (its ``legacy_models``)."""


RENAMED = tasks.registry.Shape(
    name="renamed_classification",
    network=f"{__name__}:RenamedClassifier",
    codec="seqkit.tasks.classification.codec:ClassificationCodec",
    metrics="seqkit.tasks.classification.metrics:ClassificationMetrics",
    legacy_models=("seqkit.models.old.Classifier",),
    legacy_datamodules=("seqkit.data.old.ClassificationData",),
)


def test_a_registered_shape_loads_under_its_name_and_its_old_model_class(trained, tmp_path, monkeypatch):
    run_dir, _, vectors = trained

    def as_plugin(checkpoint):  # written by TaskModule(shape="renamed_classification")
        checkpoint["seqkit"]["shape"] = RENAMED.name

    def as_old(checkpoint):  # written before issue #25: an old model class, its data module's entry, no prefix
        meta = checkpoint["seqkit"]
        del meta["shape"], meta["codec_class"], meta["codec_settings"], meta["codec"]
        checkpoint["ClassificationData"] = checkpoint.pop(meta["datamodule_class"].rsplit(".", 1)[-1])
        meta.update(model_class="seqkit.models.old.Classifier", datamodule_class="seqkit.data.old.ClassificationData")
        checkpoint["state_dict"] = {k.removeprefix("network."): v for k, v in checkpoint["state_dict"].items()}

    here = edited(run_dir / "checkpoints" / "best.ckpt", tmp_path / "plugin.ckpt", as_plugin)
    old = edited(here, tmp_path / "old.ckpt", as_old)
    with pytest.raises(DataError, match="its model shape 'renamed_classification' is not registered here"):
        load(str(here), pretrained=str(vectors))
    with pytest.raises(DataError, match="names class seqkit.models.old.Classifier, which is not a registered seqkit"):
        load(str(old), pretrained=str(vectors))
    monkeypatch.setattr(tasks.registry, "_SHAPES", dict(tasks.registry._SHAPES))  # registered for this test only
    tasks.registry.register(RENAMED)
    for path in (here, old):
        network, codec = load(str(path), pretrained=str(vectors))
        assert type(network) is RenamedClassifier and codec.labels.itos == ["zag-tac", "zag-tic", "zig-tac", "zig-tic"]


# ---- (b) a checkpoint does not choose which file is read as its vectors ---------------------------------------


def vectors_at(trained, tmp_path, source: str) -> Path:
    """The checkpoint, its vectors said to be read from ``source`` (in its record and its hyper-parameters)."""
    run_dir, _, _ = trained

    def edit(checkpoint):  # wherever the checkpoint records them: its codec (seqkit) and Lightning's data-module entry
        meta = checkpoint["seqkit"]
        for state in (meta["codec"], checkpoint[meta["datamodule_class"].rsplit(".", 1)[-1]]):
            state["pretrained"]["source"] = source
        for settings in (meta["codec_settings"], checkpoint["datamodule_hyper_parameters"]):
            settings["pretrained"] = source

    return edited(run_dir / "checkpoints" / "best.ckpt", tmp_path / "vectors_at.ckpt", edit)


@pytest.mark.slow
def test_vectors_named_dev_zero_are_refused_at_once(trained, tmp_path, texts):
    evil = vectors_at(trained, tmp_path, "/dev/zero")
    done = run_script("predict.py", f"ckpt_path={evil}", f"input={texts}", timeout=90)
    assert done.returncode == 1 and done.stderr.strip() == (
        f"error: {evil}: was trained with the pretrained vectors file '/dev/zero', which a checkpoint cannot make seqkit "
        f"read: give data.pretrained=<that file> (checked against the checkpoint's sha256)"
    )
    done = run_script("predict.py", f"ckpt_path={evil}", f"input={texts}", "data.pretrained=/dev/zero", timeout=90)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "error: /dev/zero: is not a regular file (a device, pipe or socket): not a vectors file"
    )


def test_a_vectors_file_the_user_did_not_name_is_not_read(trained, tmp_path, texts, capsys, monkeypatch):
    run_dir, _, vectors = trained
    elsewhere = str(tmp_path / "elsewhere.txt")
    for source, ckpt in (
        (str(vectors), run_dir / "checkpoints" / "best.ckpt"),
        (elsewhere, vectors_at(trained, tmp_path, elsewhere)),
    ):
        cfg = config("predict", f"ckpt_path={ckpt}", f"input={texts}")
        assert one_error_line(predict, cfg, capsys, monkeypatch) == (
            f"error: {ckpt}: was trained with the pretrained vectors file {source!r}, which a checkpoint cannot make "
            f"seqkit read: give data.pretrained=<that file> (checked against the checkpoint's sha256)"
        )


def test_the_vectors_file_named_on_the_command_line_is_read_and_checked(trained, tmp_path, texts, capsys, monkeypatch):
    run_dir, data, vectors = trained
    ckpt = vectors_at(trained, tmp_path, "/dev/zero")  # what the checkpoint says no longer matters
    out = tmp_path / "out.jsonl"
    assert (
        predict(
            config(
                "predict",
                f"ckpt_path={ckpt}",
                f"input={texts}",
                f"output={out}",
                f"data.pretrained={vectors}",
                "options.input_format=text",
            )
        )
        == 2
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["zig w1 w2 tac", "zag w3 tic"] and all("label" in r for r in rows)
    metrics = evaluate(
        config("evaluate", f"ckpt_path={ckpt}", f"data.test_path={data / 'val.tsv'}", f"data.pretrained={vectors}")
    )
    assert 0.0 <= metrics["test/acc"] <= 1.0
    other = tmp_path / "other.txt"  # the same words and width, other values: the checksum still tells
    other.write_text(vectors.read_text(encoding="utf-8").replace("-1.0", "-2.0"), encoding="utf-8")
    cfg = config("predict", f"ckpt_path={ckpt}", f"input={texts}", f"data.pretrained={other}")
    assert "not the ones the checkpoint was trained with" in one_error_line(predict, cfg, capsys, monkeypatch)


@pytest.mark.timeout(60)
def test_a_named_file_is_read_only_as_far_as_it_can_be_the_recorded_vectors(tmp_path):
    record = {"source": "v.txt", "checksum": "0" * 64, "words": 10, "dim": 4}  # at most 10 * (4 * 32 + 200) + 200 bytes
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 4000)
    with pytest.raises(DataError, match=r"4000 bytes is more than 10 4-d vectors take as text \(at most 3480\)"):
        load_vectors(big, record)
    wide = tmp_path / "wide.txt"
    wide.write_text("the 1 2 3\ncat 4 5 6\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"wide.txt:1: 3-d vectors, but the checkpoint was trained with 4-d ones"):
        load_vectors(wide, record)
    header = tmp_path / "header.txt"
    header.write_text("10 8\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"header.txt:1: 8-d vectors, but the checkpoint was trained with 4-d ones"):
        load_vectors(header, record)
    many = tmp_path / "many.txt"
    many.write_text("".join(f"w{i} 1 2 3 4\n" for i in range(11)), encoding="utf-8")
    with pytest.raises(DataError, match=r"many.txt:11: more than the 10 vectors the checkpoint was trained with"):
        load_vectors(many, record)
    bomb = tmp_path / "bomb.txt.gz"  # a small file of endless text once decompressed
    with gzip.open(bomb, "wb") as f:
        for _ in range(64):
            f.write(b"0" * (1 << 20))
    with pytest.raises(DataError, match=r"bomb.txt.gz:1: line longer than 328 bytes"):
        load_vectors(bomb, {**record, "words": 1000})  # its 64 kB are within the bounds of 1000 vectors
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is not a regular file"):
        load_vectors(fifo, record)
    words, vectors = load_vectors(many, {**record, "words": 11})  # within the bounds: read as before
    assert len(words) == 11 and vectors.shape == (11, 4)


# ---- (c) a resumed run validates with and deletes only files of its own checkpoints directory -----------------


def crafted_run(trained, tmp_path, victim_path) -> Path:
    """A copy of the trained run whose last.ckpt names ``victim_path`` in both ModelCheckpoint states, as the best
    (but beatable) checkpoint: Lightning would delete it when the next epoch's checkpoint replaces it."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    home = str((run_dir / "checkpoints").resolve())

    def edit(checkpoint):
        for key, state in checkpoint["callbacks"].items():
            if key.startswith("ModelCheckpoint"):
                worst = torch.tensor(
                    -1e9 if state.get("best_model_score") is not None and "'mode': 'max'" in key else 1e9
                )
                state.update(
                    dirpath=home,
                    best_model_path=victim_path,
                    kth_best_model_path=victim_path,
                    last_model_path="",
                    best_k_models={victim_path: worst},
                )
                if state.get("best_model_score") is not None:
                    state.update(best_model_score=worst, kth_value=worst)

    last = run_dir / "checkpoints" / "last.ckpt"
    edited(last, last, edit)
    return run_dir


@pytest.mark.parametrize("where", ["dotdot", "outside"])
def test_resume_refuses_callback_paths_outside_the_run_and_deletes_nothing(
    trained, tmp_path, capsys, monkeypatch, where
):
    _, data, vectors = trained
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    named = f"{(run_dir / 'checkpoints').resolve()}/../../victim.txt" if where == "dotdot" else str(victim)
    crafted_run(trained, tmp_path, named)
    cfg = config("train", *train_overrides(run_dir, data, vectors, "ckpt_path=last", "trainer.max_epochs=2"))
    line = one_error_line(train, cfg, capsys, monkeypatch)
    assert line.startswith(
        f"error: {run_dir / 'checkpoints' / 'last.ckpt'}: its ModelCheckpoint state names the file "
        f"{named!r}, outside this run's checkpoints directory {(run_dir / 'checkpoints').resolve()}; "
        f"refused (resuming would validate with that file or delete it)"
    )
    assert victim.read_text(encoding="utf-8") == "a user's file\n"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0  # nothing trained


def test_resume_names_the_vectors_override_when_the_command_line_leaves_them_out(
    trained, tmp_path, capsys, monkeypatch
):
    _, data, vectors = trained
    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    overrides = [
        o
        for o in train_overrides(run_dir, data, vectors, "ckpt_path=last", "trainer.max_epochs=2")
        if not o.startswith("embedding.pretrained=")
    ]
    line = one_error_line(train, config("train", *overrides), capsys, monkeypatch)
    assert line == (
        f"error: {run_dir / 'checkpoints' / 'last.ckpt'}: was trained with the pretrained vectors file "
        f"{str(vectors)!r}, which a checkpoint cannot make seqkit read: give embedding.pretrained=<that file> "
        f"(checked against the checkpoint's sha256)"
    )


def test_the_application_refuses_a_foreign_codec_class_without_importing_it(trained, tmp_path):
    """The application's loader builds what the checkpoint's shape lists: a codec class the shape does not list
    (``this:NotACodec``) is refused before anything is imported."""
    from seqkit.app.checkpoint import load

    run_dir, _, vectors = trained
    evil = edited(
        run_dir / "checkpoints" / "best.ckpt",
        tmp_path / "codec.ckpt",
        lambda c: c["seqkit"].update(codec_class="this:NotACodec"),
    )
    assert "this" not in sys.modules
    with pytest.raises(
        DataError, match="names codec 'this:NotACodec', which is not a codec of the classification shape"
    ):
        load(str(evil), pretrained=str(vectors))
    assert "this" not in sys.modules
