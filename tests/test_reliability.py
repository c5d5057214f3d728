"""Reliability, fast and in-process: NaN/inf stops training before the update, progress output chosen by
where it goes, and every way a checkpoint (or a resume) can be wrong gives one clear error line."""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import marker_examples, write_tab_file
from hydra import compose, initialize_config_dir

from seqkit.app.checkpoint import load
from seqkit.app.cli import report_errors
from seqkit.app.train import train
from seqkit.checkpoint import FORMAT_VERSION
from seqkit.data.errors import DataError
from seqkit.training.callbacks import FiniteCheck, LineProgressBar, NonFiniteError, progress_bar

REPO = Path(__file__).resolve().parents[1]


def train_config(run_dir: Path, data: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.output_dir={run_dir}",
                f"data.train_path={data / 'train.tsv'}",
                f"data.val_path={data / 'val.tsv'}",
                "backbone.hidden_size=8",
                "model.embedding_dim=8",
                "data.batch_size=16",
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
                "+trainer.enable_model_summary=false",
                *overrides,
            ],
        )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for k, (name, n) in enumerate((("train", 96), ("val", 32))):
        write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed=k))
    return folder


@pytest.fixture(scope="module")
def finished_run(data, tmp_path_factory):
    """A one-epoch classifier run directory (checkpoints/best.ckpt and last.ckpt)."""
    run_dir = tmp_path_factory.mktemp("run")
    train(train_config(run_dir, data))
    return run_dir


def fails_with_one_line(fn, cfg, capsys, monkeypatch) -> str:
    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        report_errors(fn)(cfg)
    assert exit_info.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1
    return err[0]


# ---- non-finite values ----------------------------------------------------------------------------------------


class PoisonWeights(pl.Callback):
    """Test-only: before batch ``batch`` of epoch ``epoch`` (0-based) put an inf into the output layer's weights."""

    def __init__(self, epoch: int, batch: int = 0):
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            with torch.no_grad():
                pl_module.network.head.weight[0, 0] = math.inf  # TaskModule: the network inside


def test_a_nan_loss_stops_training_with_one_line_and_the_last_good_checkpoint_stays(
    data, tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    cfg = train_config(
        run_dir,
        data,
        "trainer.max_epochs=3",
        "+callbacks.poison._target_=test_reliability.PoisonWeights",
        "+callbacks.poison.epoch=1",
    )
    line = fails_with_one_line(train, cfg, capsys, monkeypatch)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # written at the end of epoch 1, not touched by the failure
    assert line == (
        f"error: the training loss is NaN at epoch 2, step {last['global_step'] + 1}: training stopped before "
        f"the update; the last good checkpoint is {run_dir / 'checkpoints' / 'last.ckpt'}. Try a lower "
        f"learning rate (optimizer.lr=<lower value>) or gradient clipping (trainer.gradient_clip_val=1.0)"
    )
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())


def test_step_checkpoints_keep_the_last_good_state_mid_epoch(data, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    cfg = train_config(
        run_dir,
        data,
        "checkpoint.every_n_steps=2",
        "+callbacks.poison._target_=test_reliability.PoisonWeights",
        "+callbacks.poison.epoch=0",
        "+callbacks.poison.batch=3",
    )
    line = fails_with_one_line(train, cfg, capsys, monkeypatch)
    assert line.startswith("error: the training loss is NaN at epoch 1, step 4: ")
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (0, 2)  # from the step checkpoint, before the poisoned step
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    # and the run resumes from there to its end: the epoch's remaining 4 of its 6 steps
    metrics = train(train_config(run_dir, data, "ckpt_path=last", "checkpoint.every_n_steps=2"))
    assert 0.0 <= metrics["val/acc"] <= 1.0
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6


def test_a_huge_learning_rate_is_stopped_by_name(data, tmp_path, capsys, monkeypatch):
    cfg = train_config(tmp_path / "run", data, "optimizer=sgd", "optimizer.lr=1e38")
    line = fails_with_one_line(train, cfg, capsys, monkeypatch)
    assert line.startswith("error: the training loss is ") and "at epoch 1, step " in line
    assert "lower learning rate" in line and "trainer.gradient_clip_val" in line


def test_a_non_finite_gradient_is_caught_before_the_optimizer_step():
    class Trainer:  # what the callback reads of a trainer
        current_epoch, global_step, checkpoint_callbacks = 4, 99, []

    module = torch.nn.Linear(2, 1)
    module.weight.grad = torch.tensor([[0.5, math.inf]])
    module.bias.grad = torch.zeros(1)
    with pytest.raises(NonFiniteError, match=r"the gradient of weight is not finite at epoch 5, step 100"):
        FiniteCheck().on_before_optimizer_step(Trainer(), module, None)
    module.weight.grad = torch.tensor([[0.5, 1.0]])
    FiniteCheck().on_before_optimizer_step(Trainer(), module, None)  # finite: nothing happens


def test_under_fp16_gradient_scaling_a_non_finite_gradient_is_the_scalers_to_skip():
    """An fp16 run's first steps overflow until the gradient scaler has halved its scale enough; it skips them.
    FiniteCheck stops only when the gradients stay non-finite for max_scaler_skips steps in a row."""

    class Trainer:
        current_epoch, global_step, checkpoint_callbacks = 0, 9, []

        class precision_plugin:  # noqa: N801  (what Lightning's MixedPrecision(16-mixed) holds)
            scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)

    module = torch.nn.Linear(2, 1)
    module.bias.grad = torch.zeros(1)
    check = FiniteCheck(max_scaler_skips=3)
    for _ in range(2):  # overflows the scaler skips
        module.weight.grad = torch.tensor([[math.inf, 1.0]])
        check.on_before_optimizer_step(Trainer(), module, None)
    module.weight.grad = torch.tensor([[0.5, 1.0]])  # a finite step starts the count again
    check.on_before_optimizer_step(Trainer(), module, None)
    module.weight.grad = torch.tensor([[math.nan, 1.0]])
    check.on_before_optimizer_step(Trainer(), module, None)
    check.on_before_optimizer_step(Trainer(), module, None)
    with pytest.raises(NonFiniteError, match=r"gradient of weight is not finite in 3 steps in a row under fp16"):
        check.on_before_optimizer_step(Trainer(), module, None)
    Trainer.precision_plugin.scaler = torch.amp.GradScaler("cpu", enabled=False)  # no scaling: the first one stops
    with pytest.raises(NonFiniteError, match=r"the gradient of weight is not finite at epoch 1"):
        FiniteCheck().on_before_optimizer_step(Trainer(), module, None)


# ---- progress output ------------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_output_is_chosen_by_where_it_goes():
    from pytorch_lightning.callbacks import TQDMProgressBar

    assert type(progress_bar(True, stream=FakeTerminal())) is TQDMProgressBar
    line_bar = progress_bar(True, every_n_steps=50, stream=io.StringIO())
    assert isinstance(line_bar, LineProgressBar) and line_bar.every_n_steps == 50
    assert progress_bar(False, stream=FakeTerminal()) is None


# ---- checkpoints: truncated, corrupted, pickled objects, newer format, another shape ---------------------------


def test_truncated_and_corrupted_checkpoints_are_named(finished_run, tmp_path):
    good = (finished_run / "checkpoints" / "best.ckpt").read_bytes()
    truncated, corrupted = tmp_path / "truncated.ckpt", tmp_path / "corrupted.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    damaged = bytearray(good)
    for i in range(200, 600):
        damaged[i] ^= 0x5A
    corrupted.write_bytes(bytes(damaged))
    for path in (truncated, corrupted):
        with pytest.raises(DataError, match="cannot read the checkpoint: truncated or corrupted") as info:
            load(str(path))
        assert info.value.path == str(path)
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(DataError, match="truncated or corrupted"):
        load(str(tmp_path / "empty.ckpt"))
    with pytest.raises(DataError, match="checkpoint not found"):
        load(str(tmp_path / "missing.ckpt"))


class RunsCode:
    """Unpickling this would call Path.touch(marker): what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_holding_a_pickled_object_is_refused_and_runs_nothing(finished_run, tmp_path):
    checkpoint = torch.load(finished_run / "checkpoints" / "best.ckpt", weights_only=True)
    marker = tmp_path / "code-ran"
    checkpoint["hyper_parameters"]["sneaky"] = RunsCode(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(DataError, match=r"refused: it holds a pickled Python object .*weights_only=True"):
        load(str(evil))
    assert not marker.exists()


def _edited_checkpoint(run_dir: Path, tmp_path: Path, edit) -> Path:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    edit(checkpoint)
    path = tmp_path / "edited" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def test_newer_format_and_non_seqkit_checkpoints_are_named(finished_run, tmp_path):
    assert (
        torch.load(finished_run / "checkpoints" / "best.ckpt", weights_only=True)["seqkit"]["format_version"]
        == FORMAT_VERSION
    )
    newer = _edited_checkpoint(finished_run, tmp_path, lambda c: c["seqkit"].update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        DataError,
        match=f"written by a newer seqkit \\(checkpoint format {FORMAT_VERSION + 1}; this seqkit "
        f"reads up to {FORMAT_VERSION}\\): upgrade seqkit",
    ):
        load(str(newer))
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, plain)
    with pytest.raises(DataError, match="not a seqkit checkpoint"):
        load(str(plain))


# ---- resume: what it refuses, and a finished run ----------------------------------------------------------------


def test_last_ckpt_is_every_epochs_even_when_validation_did_not_improve(data, tmp_path):
    """ckpt_path=last continues from the latest epoch, not the best one: with a learning rate of 0, validation
    never improves after the first epoch, and last.ckpt must still be the third epoch's (Lightning 2.6's
    save_last alone writes it only beside a new best), while best.ckpt stays the first's."""
    run_dir = tmp_path / "run"
    train(train_config(run_dir, data, "trainer.max_epochs=3", "optimizer.lr=0.0", "test=false"))
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert (last["epoch"], best["epoch"]) == (2, 0)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_resuming_a_checkpoint_of_another_shape_is_one_error_line(finished_run, data, tmp_path, capsys, monkeypatch):
    tagger = _edited_checkpoint(
        finished_run, tmp_path, lambda c: c["seqkit"].update(model_class="seqkit.models.tagger.SequenceTagger")
    )
    line = fails_with_one_line(train, train_config(tmp_path / "new", data, f"ckpt_path={tagger}"), capsys, monkeypatch)
    assert line == (
        f"error: {tagger}: is a SequenceTagger checkpoint, but this configuration trains a TaskModule "
        f"(seqkit.models.tagger.SequenceTagger vs seqkit.training.module.TaskModule)"
    )  # issue #25: one module


def test_resuming_with_other_settings_names_the_first_weight_that_differs(
    finished_run, data, tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    cfg = train_config(
        tmp_path / "new", data, f"ckpt_path={run_dir}", "backbone.hidden_size=16", "trainer.max_epochs=2"
    )
    line = fails_with_one_line(train, cfg, capsys, monkeypatch)
    assert line.startswith(f"error: {run_dir / 'checkpoints' / 'last.ckpt'}: does not fit this configuration: ")
    assert (
        "is [" in line and "in the checkpoint" in line and "resume with the settings the run was started with" in line
    )


def test_resuming_a_directory_without_a_checkpoint_says_so(data, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = fails_with_one_line(train, train_config(tmp_path / "new", data, f"ckpt_path={empty}"), capsys, monkeypatch)
    assert line == f"error: {empty}: nothing to resume: no checkpoints/last.ckpt in this directory (no epoch finished?)"
    line = fails_with_one_line(train, train_config(empty / "run", data, "ckpt_path=last"), capsys, monkeypatch)
    assert line.startswith(f"error: {empty}: no run to resume")


def test_resuming_a_finished_run_says_so_and_changes_nothing(finished_run, data, capsys):
    last = finished_run / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    capsys.readouterr()
    assert train(train_config(finished_run, data, "ckpt_path=last")) == {}
    assert capsys.readouterr().out.strip() == (
        f"[seqkit] {finished_run} has finished: 1 of trainer.max_epochs=1 epochs "
        f"done; nothing to resume (raise trainer.max_epochs to train on)"
    )
    assert last.read_bytes() == before


# ---- output directories that cannot be written -------------------------------------------------------------------


def test_an_unwritable_run_directory_is_one_error_line(tmp_path, capsys):
    import os

    from seqkit.app.run_dir import WritableRunDir, unwritable_reason

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra.run.dir={blocker / 'run'}"], return_hydra_config=True)
    assert "writable_run_dir" in cfg.hydra.callbacks  # wired in for every train.py run
    with pytest.raises(SystemExit) as exit_info:
        WritableRunDir().on_run_start(cfg)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"error: cannot write the run directory {blocker / 'run'}: {blocker} is not "
        f"a directory (choose another with hydra.run.dir=...)"
    )
    assert unwritable_reason(tmp_path / "new" / "deeper") is None
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert unwritable_reason(locked / "run") == f"{locked} is not writable"
