"""The Hydra scripts: config composition (fast) and end-to-end runs of train / evaluate / predict (slow)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import marker_examples, write_tab_file
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "seqkit" / "configs"
TINY = ["backbone.hidden_size=8", "model.embedding_dim=8", "data.batch_size=16", "trainer.max_epochs=2"]


def run_script(name, *args, stdin=None, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SEQKIT_DEBUG", None)  # errors must be reported, not re-raised
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_script_recording_modules(name, args, cwd):
    """Run ``scripts/<name>`` with ``args`` (through runpy, in ``cwd``) -> (the finished process, the names of
    every module it had imported by the end): what a fast path must not pull in."""
    record = Path(cwd) / "modules.txt"
    probe = (
        f"import runpy, sys; sys.argv = [{name!r}, *{list(args)!r}];"
        f" runpy.run_path({str(REPO / 'scripts' / name)!r}, run_name='__main__');"
        f" open({str(record)!r}, 'w').write('\\n'.join(sys.modules))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return result, set(record.read_text().split()) if record.exists() else set()


def last_json(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


def ok(result):
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


# ---- config composition (fast) ---------------------------------------------------------------------------------


def composed(*overrides):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_overrides_wire_through_to_the_model_config():
    cfg = composed(
        "backbone=gru", "backbone.hidden_size=64", "model.pooling=attention", "optimizer=sgd", "optimizer.lr=0.05"
    )
    assert cfg.model.backbone.cell == "gru"
    assert cfg.model.backbone.hidden_size == 64
    assert cfg.model.pooling == "attention"
    assert cfg.model.optimizer._target_ == "torch.optim.SGD"
    assert cfg.model.optimizer.lr == 0.05
    assert cfg.model.optimizer.momentum == 0.9  # the rest of optimizer/sgd.yaml comes along

    # and the objects built from it have those settings
    from seqkit.app.train import build

    model = build(cfg.model, vocab_size=20, num_classes=3)
    network = model.network  # seqkit.training.TaskModule: the shape's network inside
    assert network.encoder.cell == "gru" and network.encoder.hidden_size == 64
    assert network.pooling.method == "attention"
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["lr"] == 0.05


def test_defaults_are_an_lstm_with_adam_on_the_builtin_sentiment_data():
    cfg = composed()
    assert cfg.model.backbone.cell == "lstm" and cfg.model.optimizer._target_ == "torch.optim.Adam"
    assert cfg.data.builtin == "sentiment_labelled" and cfg.data.train_path is None
    assert cfg.trainer.accelerator == "cpu" and cfg.monitor.metric == "val/acc"


def test_trainer_gpu_gives_gpu_in_fp32_and_mixed_precision_on_request():
    cfg = composed("trainer=gpu")
    assert cfg.trainer.accelerator == "gpu"
    assert cfg.trainer.precision == "32-true"  # the faster on every built-in recipe (README "GPU")
    assert composed("trainer=gpu", "trainer.precision=bf16-mixed").trainer.precision == "bf16-mixed"
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    assert cfg.trainer.gradient_clip_val == 5.0  # inherited from trainer/default.yaml


def test_logger_tensorboard_selects_tensorboard_only():
    cfg = composed("logger=tensorboard")
    assert list(cfg.logger) == ["tensorboard"]
    assert cfg.logger.tensorboard._target_ == "pytorch_lightning.loggers.TensorBoardLogger"
    assert list(composed().logger) == ["csv"]


def test_experiment_sst2_reads_label_space_text_under_data_root(tmp_path):
    cfg = composed("experiment=sst2", f"data.root={tmp_path}")
    assert cfg.model.adversarial == 1.0 and cfg.model.pooling == "mean"  # the recipe the README reports
    assert cfg.data.root == str(tmp_path)
    assert cfg.data.format == "label_space_text"
    assert cfg.data.train_path and cfg.data.val_path
    # the data module built from it reads those files under data.root, in that format
    from seqkit.app.train import build

    # every line twice: the recipe keeps only words seen data.min_freq (2) times
    (tmp_path / cfg.data.train_path).write_text("1 a gorgeous , witty film .\n0 a dull mess .\n" * 2, encoding="utf-8")
    (tmp_path / cfg.data.val_path).write_text("1 witty .\n", encoding="utf-8")
    dm = build(cfg.data)
    dm.setup("fit")
    assert dm.labels.itos == ["0", "1"]
    assert len(dm.datasets["train"]) == 4 and len(dm.datasets["val"]) == 1
    assert "gorgeous" in dm.vocab and "1" not in dm.vocab  # the label is not read as text


def test_cfg_job_prints_the_resolved_config(tmp_path):
    result = ok(
        run_script(
            "train.py",
            "--cfg",
            "job",
            "--resolve",
            "backbone=gru",
            "model.pooling=mean",
            f"hydra.run.dir={tmp_path / 'run'}",
            timeout=300,
        )
    )
    cfg = OmegaConf.create(result.stdout)
    assert cfg.model.backbone.cell == "gru"
    assert cfg.model.backbone.hidden_size == 128
    assert cfg.model.pooling == "mean"
    assert cfg.model.optimizer._target_ == "torch.optim.Adam"  # resolved, not "${optimizer}"
    assert "${" not in result.stdout
    assert not (tmp_path / "run").exists()  # printing the config runs nothing


# ---- evaluate / predict in-process, and how they report bad settings (fast) ------------------------------------


@pytest.fixture
def tiny_checkpoint(marker_files, tmp_path):
    """A 1-epoch classifier checkpoint of the marker task (TaskModule), and the data files."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from seqkit.tasks.classification.datamodule import ClassificationDataModule
    from seqkit.training import TaskModule

    files = marker_files(train=40, val=20, test=20, seed=3)
    dm = ClassificationDataModule(train_path=str(files["train"]), val_path=str(files["val"]), batch_size=8)
    dm.setup("fit")
    model = TaskModule(
        "classification", **dm.model_kwargs(), embedding_dim=4, backbone={"cell": "gru", "hidden_size": 4}
    )
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="tiny")
    pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[checkpoint],
    ).fit(model, datamodule=dm)
    return Path(checkpoint.best_model_path), files


def composed_script_config(name, *overrides):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_evaluate_and_predict_in_process(tiny_checkpoint, tmp_path, capsys):
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict

    ckpt, files = tiny_checkpoint
    metrics = evaluate(composed_script_config("evaluate", f"ckpt_path={ckpt}", f"data.test_path={files['test']}"))
    assert set(metrics) >= {"test/acc", "test/loss"}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics

    infile, outfile = tmp_path / "in.txt", tmp_path / "out.jsonl"
    infile.write_text("zig w1 tac\n\nzag w2 w3 tic\n", encoding="utf-8")
    count = predict(composed_script_config("predict", f"ckpt_path={ckpt}", f"input={infile}", f"output={outfile}"))
    rows = [json.loads(line) for line in outfile.read_text(encoding="utf-8").splitlines()]
    assert count == len(rows) == 3 and [r["text"] for r in rows] == [
        "zig w1 tac",
        "",
        "zag w2 w3 tic",
    ]  # a record a line
    assert rows[1] == {"text": "", "label": None, "probabilities": None}
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5) for r in (rows[0], rows[2]))


def test_bad_data_in_evaluate_is_one_error_line(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    from seqkit.app.cli import report_errors
    from seqkit.app.evaluate import evaluate

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    ckpt, _ = tiny_checkpoint
    bad = tmp_path / "test.tsv"
    bad.write_text("zig w1 tac\tzig-tac\nzig w1 tic\tzig-toe\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        report_errors(evaluate)(composed_script_config("evaluate", f"ckpt_path={ckpt}", f"data.test_path={bad}"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {bad}:2: label 'zig-toe'")


def test_evaluate_without_test_path_asks_for_it(tiny_checkpoint, capsys, monkeypatch):
    from seqkit.app.cli import report_errors
    from seqkit.app.evaluate import evaluate

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    ckpt, _ = tiny_checkpoint
    with pytest.raises(SystemExit) as exit_info:
        report_errors(evaluate)(composed_script_config("evaluate", f"ckpt_path={ckpt}"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "data.test_path" in err, err


def test_missing_ckpt_path_is_one_error_line(capsys, monkeypatch):
    from seqkit.app.cli import report_errors
    from seqkit.app.predict import predict

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        report_errors(predict)(composed_script_config("predict", "input=-"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "ckpt_path" in err[0]


def test_invalid_utf8_on_stdin_is_reported_like_in_a_file(tiny_checkpoint, monkeypatch, capsys):
    import io

    from seqkit.app.cli import report_errors
    from seqkit.app.predict import predict

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    ckpt, _ = tiny_checkpoint
    raw = b"zig w1 tac\ncaf\xe9 \xff tic\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape"))
    with pytest.raises(SystemExit) as exit_info:
        report_errors(predict)(composed_script_config("predict", f"ckpt_path={ckpt}", "input=-"))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: <stdin>:2: invalid UTF-8")


# ---- end to end (slow) ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for k, (name, n) in enumerate((("train", 120), ("val", 40), ("test", 40))):
        write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed=k))
    return folder


def data_args(folder):
    return [
        f"data.train_path={folder / 'train.tsv'}",
        f"data.val_path={folder / 'val.tsv'}",
        f"data.test_path={folder / 'test.tsv'}",
    ]


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = ok(run_script("train.py", *data_args(data_dir), *TINY, f"hydra.run.dir={run_dir}"))
    return run_dir, result


@pytest.mark.slow
def test_train_writes_run_dir_checkpoint_metrics_and_a_json_summary(trained):
    run_dir, result = trained
    assert f"run directory: {run_dir.resolve()}" in result.stdout
    printed = result.stdout + result.stderr
    assert "Tip:" not in printed and "litlogger" not in printed and "LeafSpec" not in printed  # no product adverts
    assert "GPU available" in printed  # Lightning's own lines on devices stay
    summary = last_json(result.stdout)
    assert {"val/acc", "test/acc", "val/loss", "test/loss", "best_checkpoint"} <= set(summary)
    assert 0.0 <= summary["val/acc"] <= 1.0 and 0.0 <= summary["test/acc"] <= 1.0
    best = Path(summary["best_checkpoint"])
    assert best.is_file() and best.resolve().is_relative_to(run_dir.resolve())
    checkpoint = torch.load(best, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["backbone"]["hidden_size"] == 8
    assert checkpoint["seqkit"]["codec"]["labels"]["itos"] == ["zag-tac", "zag-tic", "zig-tac", "zig-tic"]  # issue #25
    assert checkpoint["ClassificationDataModule"] == checkpoint["seqkit"]["codec"]
    metrics_files = list(run_dir.rglob("metrics.csv"))
    assert len(metrics_files) == 1
    with open(metrics_files[0]) as f:
        rows = list(csv.DictReader(f))
    assert "val/acc" in rows[0] and sum(1 for r in rows if r.get("val/acc")) >= 2  # one a training epoch
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    log = (run_dir / "train.log").read_text(encoding="utf-8").splitlines()  # a copy of what the run printed
    assert result.stdout.strip().splitlines()[-1] in log and f"[seqkit] run directory: {run_dir.resolve()}" in log


@pytest.mark.slow
def test_evaluate_and_predict_with_the_checkpoint(trained, data_dir, tmp_path):
    run_dir, result = trained
    best = last_json(result.stdout)["best_checkpoint"]
    test_acc = last_json(result.stdout)["test/acc"]

    evaluated = last_json(
        ok(run_script("evaluate.py", f"ckpt_path={best}", f"data.test_path={data_dir / 'test.tsv'}")).stdout
    )
    assert set(evaluated) >= {"test/acc", "test/loss"}
    assert evaluated["test/acc"] == pytest.approx(test_acc, abs=1e-6)  # the same model on the same file

    texts = ["zig w1 w2 w3 tac", "zag w9 tic", "ZAG, unseen words! tac"]
    infile = tmp_path / "input.txt"
    infile.write_text(f"{texts[0]}\n\n{texts[1]}\n{texts[2]}\n", encoding="utf-8")
    rows = [
        json.loads(line)
        for line in ok(run_script("predict.py", f"ckpt_path={best}", f"input={infile}")).stdout.splitlines()
        if line.startswith("{")
    ]
    assert [r["text"] for r in rows] == [texts[0], "", *texts[1:]]  # one object a line, in input order
    assert rows[1]["label"] is None
    rows = [rows[0], *rows[2:]]
    labels = {"zag-tac", "zag-tic", "zig-tac", "zig-tic"}
    for row in rows:
        assert set(row) == {"text", "label", "probabilities"}
        assert set(row["probabilities"]) == labels
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)

    piped = ok(run_script("predict.py", f"ckpt_path={best}", "input=-", stdin="\n".join(texts[::-1]) + "\n"))
    stdin_rows = [json.loads(line) for line in piped.stdout.splitlines() if line.startswith("{")]
    assert [r["text"] for r in stdin_rows] == texts[::-1]
    for a, b in zip(stdin_rows, rows[::-1]):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)  # same text, same answer


@pytest.mark.slow
def test_malformed_training_file_is_one_error_line_and_exit_code_1(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_text("good film\tpos\n\nthe tab went missing here\nbad film\tneg\n", encoding="utf-8")
    result = run_script("train.py", f"data.train_path={bad}", f"hydra.run.dir={tmp_path / 'run'}", timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    stderr_lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in stderr_lines if line.startswith("error:")]
    assert len(errors) == 1 and stderr_lines[-1] == errors[0]
    assert errors[0].startswith(f"error: {bad}:3: ") and "tab" in errors[0]
    assert not any(line.startswith("{") for line in result.stdout.splitlines())


@pytest.mark.slow
def test_multirun_sweeps_backbones_into_one_subdirectory_each(data_dir, tmp_path):
    sweep = tmp_path / "sweep"
    result = ok(
        run_script(
            "train.py",
            "-m",
            "backbone=rnn,gru",
            *data_args(data_dir),
            *TINY,
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            f"hydra.sweep.dir={sweep}",
            timeout=180,
        )
    )
    subdirs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert subdirs == ["0", "1"]
    cells = []
    for sub in subdirs:
        [ckpt] = (sweep / sub).rglob("best.ckpt")  # (last.ckpt beside it)
        cells.append(torch.load(ckpt, map_location="cpu", weights_only=True)["hyper_parameters"]["backbone"]["cell"])
        assert (sweep / sub / ".hydra" / "overrides.yaml").is_file()
    assert cells == ["rnn", "gru"]
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 2 and all("test/acc" in s for s in summaries)
