"""The GPU path for every task in seqkit/configs/task/: cuDNN recurrent kernels and 16-bit mixed precision.

Runs only where torch finds a CUDA GPU; CPU-only machines (CI) skip the file. Each task is made tiny on its
generated files as in test_contracts.py, then:

(a) a few training steps under ``32-true``, ``16-mixed`` and ``bf16-mixed`` with the recipe's gradient clipping
    and (fused) Adam: finite losses, and the weights move;
(b) the network trained on the GPU predicts there what the same weights, its checkpoint read back by
    ``seqkit.app.checkpoint.load``, predict on the CPU (cuDNN and the CPU's kernels agree to 1e-4), and on the
    GPU a padded batch predicts what each sequence predicts alone;
(c) ``train.py trainer=gpu trainer.precision=16-mixed`` end to end (fp16, so the gradient scaler's skipped steps
    too) for one task of each shape (fit, validation, test, checkpoint), then
    ``predict.py`` with that checkpoint in a process that sees no GPU.

``SEQKIT_GPU_TEST_ACCELERATOR=cpu`` runs the same checks on the CPU in fp32 (a dry run of this file's logic).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import move_data_to_device
from test_contracts import TASKS, Built, _row, compose_task, examples_and_collate, fit_tiny

from seqkit.app.checkpoint import load

ACCELERATOR = os.environ.get("SEQKIT_GPU_TEST_ACCELERATOR", "gpu")
DEVICE = "cuda" if ACCELERATOR == "gpu" else "cpu"
pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU (torch finds none)"
)
REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ["32-true", "16-mixed", "bf16-mixed"] if DEVICE == "cuda" else ["32-true"]


class Losses(pl.Callback):
    """The weights before training (on the CPU) and every step's training loss."""

    def __init__(self):
        self.before, self.values = {}, []

    def on_train_start(self, trainer, pl_module):
        self.before = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.values.append(float(loss))


def fit_on_gpu(name: str, folder: Path, precision: str, steps: int = 4):
    """test_contracts' tiny fit, on the GPU in ``precision``, with the recipe's gradient clipping:
    (model, datamodule, trainer, training losses, weights before training)."""
    losses = Losses()
    clip = compose_task(name).trainer.gradient_clip_val
    model, datamodule, trainer = fit_tiny(
        name,
        folder,
        steps,
        callbacks=[losses],
        accelerator=ACCELERATOR,
        devices=1,
        precision=precision,
        gradient_clip_val=clip,
    )
    return model, datamodule, trainer, losses.values, losses.before


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", list(TASKS))
def test_training_steps_on_the_gpu_in_each_precision(name, precision, tmp_path):
    model, _, _, losses, before = fit_on_gpu(name, tmp_path, precision)
    assert losses and all(torch.isfinite(torch.tensor(losses))), losses
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k].cpu()) for k in before if before[k].is_floating_point())


def _move(out, device):
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in out.items()}


def _assert_same(got, expected, what, atol=1e-4):
    for key, value in expected.items():
        if key == "index" or not torch.is_tensor(value):
            continue
        other = got[key]
        if value.is_floating_point():
            torch.testing.assert_close(other, value, atol=atol, rtol=atol, msg=f"{what} {key}")
        else:
            assert torch.equal(other, value), (what, key)


@pytest.fixture
def no_tf32():
    """cuDNN's recurrent kernels may use TF32 (torch allows it for cuDNN by default): off, to compare in fp32."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("name", list(TASKS))
def test_gpu_predicts_what_the_cpu_predicts_and_ignores_padding(name, tmp_path, no_tf32):
    model, datamodule, trainer, _, _ = fit_on_gpu(name, tmp_path, "32-true")
    ckpt = tmp_path / "gpu.ckpt"
    trainer.save_checkpoint(ckpt)
    model = model.to(DEVICE).eval()
    b = Built(TASKS[name], model, datamodule, ckpt, tmp_path)
    examples, collate = examples_and_collate(b)
    batch = collate(examples)
    twin, _ = load(ckpt)  # the same weights on the CPU, through seqkit's own loader (eval mode)
    assert next(twin.parameters()).device.type == "cpu"
    for key, tensor in b.network.state_dict().items():
        assert torch.equal(twin.state_dict()[key], tensor.cpu()), key
    with torch.no_grad():
        on_gpu = b.network.predict(move_data_to_device(batch, DEVICE))
        on_cpu = twin.predict(batch)
        _assert_same(_move(on_gpu, "cpu"), on_cpu, f"{name} GPU vs CPU")
        for i, example in enumerate(examples):
            alone = b.network.predict(move_data_to_device(collate([example]), DEVICE))
            _assert_same(
                _row(on_gpu, i, alone),
                {k: v[0] for k, v in alone.items() if torch.is_tensor(v)},
                f"{name} row {i} alone vs batch",
            )


END_TO_END = ["sentiment", "ner", "lm", "g2p", "forecast"]


@pytest.mark.slow
@pytest.mark.parametrize("name", END_TO_END)
def test_train_py_trainer_gpu_then_predict_on_a_cpu_process(name, tmp_path):
    task = TASKS[name]
    from test_contracts import TINY

    files = task.files(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gpu = ["trainer=gpu", "trainer.precision=16-mixed"] if DEVICE == "cuda" else []
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "train.py"),
            f"task={name}",
            *gpu,
            "trainer.max_epochs=2",
            *TINY,
            *task.overrides,
            *files,
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
    assert all(isinstance(v, str) or v == v for v in summary.values())  # no NaN metric
    source = tmp_path / "predict.in"
    source.write_text("\n".join(task.predict_lines) + "\n", encoding="utf-8")
    cpu_env = {**env, "CUDA_VISIBLE_DEVICES": ""}
    predicted = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "predict.py"),
            f"ckpt_path={summary['best_checkpoint']}",
            f"input={source}",
        ],
        cwd=REPO,
        env=cpu_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    records = [json.loads(line) for line in predicted.stdout.splitlines() if line.startswith("{")]
    assert records and all(set(task.fields) <= set(r) for r in records)
