"""Issue #25's language_model shape: the registry, TaskModule's carried-state protocol (truncated BPTT), the logged
figures equal to the application's evaluation, a new checkpoint through the Lightning-free loader, and predict,
evaluate and generate without importing Lightning."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqkit import tasks
from seqkit.tasks.language_model.network import STATE
from seqkit.tasks.language_model.tbptt import TBPTTChunks
from seqkit.training import TaskModule

REPO = Path(__file__).resolve().parents[1]
LEGACY = REPO / "tests" / "legacy"
TINY = [
    "backbone.hidden_size=8",
    "backbone.num_layers=1",
    "embedding.dim=6",
    "data.batch_size=4",
    "data.eval_batch_size=2",
    "data.bptt=8",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
    "++trainer.num_sanity_val_steps=0",
    "threads=1",
    "logger=csv",
]
TEXT = "to be or not to be\nthat is the question\n" * 12


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """task=lm trained by scripts/train.py's function (one epoch, a sample printed) -> (best checkpoint, val file,
    the run's metrics)."""
    from seqkit.app.train import train

    tmp = tmp_path_factory.mktemp("lm")
    (tmp / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp / "val.txt").write_text(TEXT[:200], encoding="utf-8")
    cfg = _compose(
        "train",
        "task=lm",
        "data.builtin=null",
        f"data.train_path={tmp / 'train.txt'}",
        f"data.val_path={tmp / 'val.txt'}",
        "model.sample_length=12",
        f"paths.output_dir={tmp / 'run'}",
        *TINY,
    )
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        metrics = train(cfg)
    assert "sample after epoch 0" in err.getvalue()  # the network's after_train_epoch, called by TaskModule
    return tmp / "run" / "checkpoints" / "best.ckpt", tmp / "val.txt", metrics


def test_the_shape_is_registered_and_claims_the_old_checkpoints():
    shape = tasks.get("language_model")
    assert shape.legacy_models == ("seqkit.models.language_model.LanguageModel",)
    for task, codec in (("lm", "LanguageModelCodec"), ("conditional_lm", "ConditionalLanguageModelCodec")):
        from seqkit.app.checkpoint import load

        network, loaded = load(LEGACY / task / "model.ckpt")
        assert type(loaded).__name__ == codec and type(network).__name__ == "LanguageModelNetwork"


def _batches(ids, streams=3, bptt=5):
    return list(TBPTTChunks(ids, streams, bptt))


def test_task_module_carries_the_detached_state_from_batch_to_batch_and_resets_it_each_epoch():
    """The protocol: a network with ``carries_state`` gets the state its previous call of the stage returned under
    "state"; TaskModule keeps it (detached) and starts each epoch from None."""
    torch.manual_seed(0)
    module = TaskModule("language_model", vocab_size=9, embedding_dim=4, backbone={"hidden_size": 6})
    batches = _batches(torch.randint(2, 9, (80,)))
    module.on_train_epoch_start()
    first = module.training_step(batches[0], 0)
    carried = module._carried["train"]
    assert not carried[0].requires_grad and carried[0].shape == (1, 3, 6)
    expected = module.network.loss(batches[1], carried)
    assert torch.equal(module.training_step(batches[1], 1), expected["loss"])
    assert not torch.equal(expected["loss"], module.network.loss(batches[1])["loss"])  # the state mattered
    module.on_train_epoch_start()
    assert module._carried["train"] is None and torch.equal(module.training_step(batches[0], 0), first)
    sentences = TaskModule(
        "language_model",
        vocab_size=9,
        embedding_dim=4,
        backbone={"hidden_size": 6},
        num_conditions=2,
        carry_state=False,
    )
    batch = dataclasses.replace(batches[0], condition=torch.tensor([0, 1, 0]))
    assert not sentences.network.carries_state and STATE not in sentences.network.loss(batch)
    sentences.on_train_epoch_start()
    sentences.training_step(batch, 0)
    assert sentences._carried["train"] is None  # independent sentences: nothing carried


def test_logged_figures_equal_the_app_evaluation_and_the_checkpoint_is_new(trained):
    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import evaluate

    ckpt, val, metrics = trained
    raw = torch.load(ckpt, weights_only=True)
    assert raw["seqkit"]["shape"] == "language_model" and raw["seqkit"]["format_version"] == 2
    assert raw["seqkit"]["codec_class"] == "seqkit.tasks.language_model.codec:LanguageModelCodec"
    assert set(raw["seqkit"]["codec"]) == {"vocab"}
    figures = evaluate(_compose("evaluate", f"ckpt_path={ckpt}", f"data.test_path={val}"))
    for name in ("loss", "ppl", "bpc"):
        assert figures[f"test/{name}"] == pytest.approx(metrics[f"val/{name}"], abs=2e-6), name
    network, codec = load(ckpt)
    assert not network.training and codec.hparams.train_path is None


def test_predict_evaluate_and_generate_import_no_lightning(trained, tmp_path):
    ckpt, val, _ = trained
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "from seqkit.app.main import main\n"
        "from seqkit.app import evaluate, generate, predict\n"
        f"assert main('predict', ['ckpt_path={ckpt}', 'input={val}', 'output={tmp_path / 'out.jsonl'}']) is not None\n"
        f"assert main('evaluate', ['ckpt_path={ckpt}', 'data.test_path={val}']) is not None\n"
        f"assert main('generate', ['ckpt_path={ckpt}', 'prompt=to', 'max_new_tokens=5']) is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'lightning_fabric', 'torchmetrics')))\n"
    )
    done = subprocess.run(
        [sys.executable, str(probe)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "[]" and json.loads(lines[0]).keys() >= {"test/loss", "test/ppl", "test/bpc"}
    assert lines[1].startswith("to")
