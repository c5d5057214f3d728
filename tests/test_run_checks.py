"""seqkit.app.train: one-line errors for the mistakes users make, SWA as the evaluated model, Ctrl-C, train.log."""

from __future__ import annotations

import json
import signal
import zipfile
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from seqkit.app.checkpoint import load
from seqkit.app.cli import _init_parameters, report_errors, unknown_option_message
from seqkit.app.train import check_accelerator, train
from seqkit.data.errors import DataError

CONFIGS = Path(__file__).resolve().parents[1] / "seqkit" / "configs"
TINY = [
    "backbone.hidden_size=6",
    "model.embedding_dim=6",
    "data.batch_size=8",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
    "++trainer.num_sanity_val_steps=0",
    "threads=1",
]


def composed(*overrides):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def fail_line(fn, *args, capsys):
    """Run ``report_errors(fn)(*args)``: it must exit 1 with one ``error:`` line on stderr, last; it is returned."""
    with pytest.raises(SystemExit) as info:
        report_errors(fn)(*args)
    assert info.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in "\n".join(lines), lines
    return errors[0]


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)


# ---- settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [0, -2])
def test_threads_zero_or_negative_is_an_error(threads, capsys):
    cfg = composed(f"threads={threads}", "paths.output_dir=unused")
    line = fail_line(train, cfg, capsys=capsys)
    assert (
        line
        == f"error: threads={threads}: give a positive number of torch threads, or threads=null for torch's default"
    )


def test_trainer_gpu_without_cuda_says_how_to_get_a_cuda_build(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = composed("trainer=gpu")
    with pytest.raises(ValueError) as info:
        check_accelerator(cfg.trainer)
    message = str(info.value)
    assert message.startswith("trainer=gpu needs a CUDA GPU") and "trainer=default" in message
    assert "https://pytorch.org/get-started/locally/" in message and "--index-url" in message
    check_accelerator(composed().trainer)  # the CPU trainer needs nothing


def test_a_misspelt_option_names_it_and_the_valid_ones():
    class_error = TypeError("ClassifierNetwork.__init__() got an unexpected keyword argument 'poling'")
    message = unknown_option_message(class_error)
    assert message.startswith("unknown option 'poling' of ClassifierNetwork; it takes: ")
    assert "pooling" in message and "vocab_size" in message
    # through Hydra's instantiate (optimisers), and a method's keyword (predict options: the codec's)
    from hydra.errors import InstantiationException

    wrapped = InstantiationException(
        "Error in call to target 'torch.optim.adam.Adam':\nTypeError(\"Adam.__init__() "
        "got an unexpected keyword argument 'momentun'\")"
    )
    assert unknown_option_message(wrapped).startswith("unknown option 'momentun' of Adam; it takes: amsgrad, betas")
    method = TypeError("TaggingCodec.set_predict_input() got an unexpected keyword argument 'fmt'")
    assert "input_format, lines, output_format, output_scheme, source" in unknown_option_message(method)
    # a shape's data module (data.* overrides), found among the registered shapes' parts
    dm = TypeError("TaggingDataModule.__init__() got an unexpected keyword argument 'batchsize'")
    assert "batch_size" in unknown_option_message(dm) and "label_column" in unknown_option_message(dm)

    # options that come through **kwargs are found on the base class that names them
    class Base:
        def __init__(self, batch_size: int = 1, label_column: int = -1): ...

    class Passing(Base):
        def __init__(self, scheme: str = "iob2", **kwargs): ...

    assert _init_parameters(Passing) == ["batch_size", "label_column", "scheme"]
    assert unknown_option_message(TypeError("unsupported operand type(s) for +: 'int' and 'str'")) is None


def test_a_misspelt_model_option_from_the_command_line_is_one_error_line(marker_files, tmp_path, capsys):
    files = marker_files(train=24, val=8, seed=1)
    cfg = composed(
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        "+model.poling=mean",
        f"paths.output_dir={tmp_path / 'run'}",
        *TINY,
    )
    line = fail_line(train, cfg, capsys=capsys)
    assert line.startswith(
        "error: unknown option 'poling' of ClassifierNetwork; it takes: "
    )  # the shape's network (issue #25)


# ---- checkpoints that are not seqkit checkpoints --------------------------------------------------------------
def test_files_that_are_not_checkpoints_are_named_without_torch_advice(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n", encoding="utf-8")
    objects = tmp_path / "objects.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, objects)  # a pickled module: not weights-only loadable
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.ones(2)}, plain)
    assert zipfile.is_zipfile(objects)
    expected = {
        text: "is corrupted or not a checkpoint",
        objects: "refused: it holds a pickled Python object",
        plain: 'not a seqkit checkpoint (no "seqkit" metadata',
    }
    for path, reason in expected.items():
        with pytest.raises(DataError) as info:
            load(str(path))
        message = str(info.value)
        assert message.startswith(f"{path}: ") and reason in message
        assert "weights_only=False" not in message and "trust" not in message


# ---- classifier prediction input ------------------------------------------------------------------------------
@pytest.fixture
def classifier_codec(tmp_path):
    """The codec of a classifier trained on two texts: what prediction reads its input with."""
    from seqkit.tasks.classification.datamodule import ClassificationDataModule

    (tmp_path / "train.tsv").write_text("good film\tpos\nbad film\tneg\n", encoding="utf-8")
    dm = ClassificationDataModule(train_path=str(tmp_path / "train.tsv"), val_path=str(tmp_path / "train.tsv"))
    dm.setup("fit")
    return dm.codec


def test_classifier_reads_its_training_format_and_ignores_labels(classifier_codec):
    lines = [(1, "good film\tpos"), (2, ""), (3, "a plain line, no tab"), (4, "  ")]
    texts = classifier_codec.set_predict_input(lines, "in.tsv")
    assert [t.text for t in texts] == ["good film", "", "a plain line, no tab", ""]  # one record a line
    assert [t.line for t in texts] == [1, 2, 3, 4] and all(t.label is None for t in texts)
    assert [e.index for e in classifier_codec.datasets["predict"]] == [0, 2]  # blank lines are not fed to the model
    outputs = [{"probabilities": torch.tensor([0.25, 0.75])}, None, {"probabilities": torch.tensor([0.5, 0.5])}, None]
    rows = classifier_codec.format_predictions(texts, outputs)
    assert rows[0] == {"text": "good film", "label": "pos", "probabilities": {"neg": 0.25, "pos": 0.75}}
    assert rows[1] == rows[3] == {"text": "", "label": None, "probabilities": None}


def test_classifier_input_errors_name_the_line(classifier_codec):
    with pytest.raises(DataError) as info:  # a label the checkpoint does not know: not silently part of the text
        classifier_codec.set_predict_input([(1, "good film\tpos"), (2, "it was\tsurprising")], "in.tsv")
    assert info.value.line == 2 and "'surprising' is not in the training labels" in str(info.value)
    assert "options.input_format=text" in str(info.value)
    texts = classifier_codec.set_predict_input([(1, "it was\tsurprising")], "in.tsv", input_format="text")
    assert texts[0].text == "it was\tsurprising"
    with pytest.raises(ValueError, match="a text classifier writes JSON lines only"):
        classifier_codec.set_predict_input([(1, "good")], "in.tsv", output_format="conll")
    blank = classifier_codec.set_predict_input([(1, " ")], "in.tsv")  # a record for the line, nothing to predict
    assert [t.text for t in blank] == [""] and classifier_codec.datasets["predict"] == []


def test_label_space_text_checkpoint_reads_the_first_word_as_its_label(tmp_path):
    from seqkit.tasks.classification.datamodule import ClassificationDataModule

    (tmp_path / "train.txt").write_text("1 a witty film\n0 a dull film\n", encoding="utf-8")
    dm = ClassificationDataModule(
        train_path=str(tmp_path / "train.txt"), val_path=str(tmp_path / "train.txt"), format="label_space_text"
    )
    dm.setup("fit")
    codec = dm.codec
    assert [t.text for t in codec.set_predict_input([(1, "1 a witty film")], "dev")] == ["a witty film"]
    with pytest.raises(DataError, match="label 'a' is not in the training labels"):  # plain text is not guessed
        codec.set_predict_input([(1, "a witty film")], "<stdin>")
    assert [t.text for t in codec.set_predict_input([(1, "a witty film")], "<stdin>", input_format="text")] == [
        "a witty film"
    ]


# ---- training: SWA, Ctrl-C, train.log (in-process, a few seconds) ---------------------------------------------
class WeightRecorder(pl.Callback):
    """Keeps a copy of the parameters at the start of every training epoch."""

    def __init__(self):
        self.at_epoch_start = {}

    def on_train_epoch_start(self, trainer, pl_module):
        self.at_epoch_start[trainer.current_epoch] = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


class InterruptAt(pl.Callback):
    """Acts like Ctrl-C at the start of epoch ``epoch``."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


def train_cfg(files, run_dir, *overrides):
    cfg = composed(
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        f"data.test_path={files['test']}",
        f"paths.output_dir={run_dir}",
        *TINY,
        *overrides,
    )
    return cfg


def add_callback(monkeypatch, cfg, callback) -> None:
    """Make ``train(cfg)`` run with ``callback`` beside the callbacks its config builds."""
    import seqkit.app.train as run

    build_all = run._build_all
    monkeypatch.setattr(
        run, "_build_all", lambda group: build_all(group) + ([callback] if group is cfg.callbacks else [])
    )


def assert_evaluate_gives(ckpt, test_file, metrics) -> None:
    """``evaluate`` of the checkpoint alone on the test file gives the training run's test figures."""
    from seqkit.app.evaluate import evaluate

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt_path={ckpt}", f"data.test_path={test_file}"])
    scores = evaluate(cfg)
    assert scores["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert scores["test/loss"] == pytest.approx(metrics["test/loss"], abs=1e-5)


def test_swa_model_is_the_one_validated_tested_and_saved(marker_files, tmp_path, capsys, monkeypatch):
    files = marker_files(train=48, val=16, test=16, seed=2)
    cfg = train_cfg(files, tmp_path / "run", "callbacks=swa", "trainer.max_epochs=4")
    recorder = WeightRecorder()
    add_callback(monkeypatch, cfg, recorder)
    metrics = train(cfg)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    swa_path = Path(summary["best_checkpoint"])
    assert swa_path == (tmp_path / "run" / "checkpoints" / "swa.ckpt").resolve() and swa_path.is_file()

    # Lightning's SWA averages the weights at the start of epochs swa_start..swa_end (0-based: 1..3 here)
    averaged_epochs = [1, 2, 3]
    saved = torch.load(swa_path, map_location="cpu", weights_only=True)["state_dict"]
    for name, value in saved.items():
        if value.is_floating_point():
            expected = torch.stack([recorder.at_epoch_start[e][name] for e in averaged_epochs]).mean(0)
            assert torch.allclose(value, expected, atol=1e-6), name
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]
    assert any(not torch.equal(best[k], saved[k]) for k in saved)  # not the best single epoch's weights

    # the reported metrics are the averaged model's: evaluating swa.ckpt alone gives the same test figures
    assert_evaluate_gives(swa_path, files["test"], metrics)


class StepRecorder(pl.Callback):
    """Keeps a copy of the parameters after every optimizer step."""

    def __init__(self):
        self.after_step = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_step.append({k: v.detach().clone() for k, v in pl_module.named_parameters()})


def test_ema_average_is_the_one_validated_tested_and_saved(marker_files, tmp_path, capsys, monkeypatch):
    files = marker_files(train=48, val=16, test=16, seed=3)
    decay = 0.6
    cfg = train_cfg(files, tmp_path / "run", "callbacks=ema", f"callbacks.ema.decay={decay}", "trainer.max_epochs=3")
    recorder = StepRecorder()
    add_callback(monkeypatch, cfg, recorder)
    metrics = train(cfg)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(summary["best_checkpoint"]).name == "best.ckpt"

    # the average: the first step's weights, then average = decay * average + (1 - decay) * weights at each step
    assert len(recorder.after_step) == 18  # 6 batches an epoch
    expected = dict(recorder.after_step[0])
    for weights in recorder.after_step[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in expected}
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    for name, value in expected.items():
        assert torch.allclose(last["state_dict"][name], value, atol=1e-6), name
        assert torch.equal(last["current_model_state"][name], recorder.after_step[-1][name]), name  # resumes from
    assert any(not torch.allclose(expected[k], recorder.after_step[-1][k]) for k in expected)

    # validation, test and a later evaluation of best.ckpt all score the average it holds
    assert_evaluate_gives(summary["best_checkpoint"], files["test"], metrics)


@pytest.mark.parametrize("decay", ["0", "1", "1.5"])
def test_ema_decay_outside_zero_one_is_a_one_line_error(decay, tmp_path, capsys):
    cfg = composed("callbacks=ema", f"callbacks.ema.decay={decay}", f"paths.output_dir={tmp_path}", *TINY)
    line = fail_line(train, cfg, capsys=capsys)
    assert f"callbacks.ema.decay must be between 0 and 1 (exclusive), got {decay}" in line, line


def test_ctrl_c_prints_the_best_checkpoint_and_how_to_resume(marker_files, tmp_path, capsys, monkeypatch):
    files = marker_files(train=24, val=8, test=8, seed=4)
    run_dir = tmp_path / "run"
    cfg = train_cfg(files, run_dir, "trainer.max_epochs=5")
    add_callback(monkeypatch, cfg, InterruptAt(2))
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as info:
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl-C while it shuts down
    assert info.value.code == 130
    err = capsys.readouterr().err
    best = run_dir / "checkpoints" / "best.ckpt"
    assert best.is_file()
    assert "[seqkit] interrupted in epoch 2" in err
    assert f"[seqkit] best checkpoint so far: {best}" in err and "(val/acc " in err
    last = run_dir / "checkpoints" / "last.ckpt"  # the end of the last whole epoch: resume continues exactly there
    resume = next(line for line in err.splitlines() if "resume with: python scripts/train.py" in line)
    assert resume.endswith(f"ckpt_path={last}")  # with the run's own overrides, or <your overrides> outside Hydra
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert "best checkpoint so far" in log and "stopped: SystemExit" in log


def test_train_log_holds_what_the_run_printed(marker_files, tmp_path, capsys):
    files = marker_files(train=24, val=8, test=8, seed=5)
    run_dir = tmp_path / "run"
    train(train_cfg(files, run_dir, "trainer.max_epochs=1", "trainer.enable_progress_bar=true"))
    out, err = capsys.readouterr()
    log = (run_dir / "train.log").read_text(encoding="utf-8").splitlines()
    assert out.strip().splitlines()[-1] in log  # the JSON summary
    assert f"[seqkit] run directory: {run_dir.resolve()}" in log
    assert any(line.startswith("[seqkit] 24 training texts") for line in log)  # a data notice (stderr)
    if any("max_epochs=1` reached" in line for line in err.splitlines()):  # Lightning's own logger, when it prints
        assert any("max_epochs=1` reached" in line for line in log)
    assert not any("\r" in line or "\x1b" in line for line in log)  # progress bars: only their final state
