"""The default optimisers (seqkit/configs/optimizer/adam.yaml, adamw.yaml) run torch's fused kernel: the same update as
the per-tensor loop to float rounding, step after step (training runs still drift apart the way two seeds do:
README "Speed")."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

CONFIGS = Path(__file__).resolve().parent.parent / "seqkit" / "configs" / "optimizer"


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_fused_default_makes_the_for_loop_update_to_rounding(name):
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    assert cfg.fused is True
    torch.manual_seed(0)
    model = nn.LSTM(8, 16, num_layers=2)
    twin = nn.LSTM(8, 16, num_layers=2)
    twin.load_state_dict(model.state_dict())
    start = [p.detach().clone() for p in model.parameters()]
    fused = instantiate(cfg, params=model.parameters(), lr=0.01, weight_decay=0.01)
    loop = instantiate(cfg, params=twin.parameters(), lr=0.01, weight_decay=0.01, fused=False, foreach=False)
    for step in range(30):
        g = torch.Generator().manual_seed(step)
        for p, q in zip(model.parameters(), twin.parameters()):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        fused.step()
        loop.step()
    assert min((p - p0).abs().max().item() for p, p0 in zip(model.parameters(), start)) > 0.1  # every tensor moved
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_mixed_precision_with_clipping_runs_the_optimiser_unfused(tmp_path, capsys):
    """Lightning cannot clip the gradients of an optimiser that unscales them inside step() (a fused one) under
    mixed precision, and stops; seqkit builds the same optimiser unfused then (trainer=gpu: 16-mixed, clip 5)."""
    import pytorch_lightning as pl
    from test_contracts import TASKS, compose_task

    from seqkit.app.train import build

    cfg = compose_task(
        "sentiment", *TASKS["sentiment"].files(tmp_path), "backbone.impl=cell"
    )  # bf16 LSTMCell runs on any CPU
    assert cfg.optimizer.fused is True and cfg.trainer.gradient_clip_val
    dm = build(cfg.data)
    dm.setup("fit")
    model = build(cfg.model, **dm.model_kwargs())
    trainer = pl.Trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        gradient_clip_val=cfg.trainer.gradient_clip_val,
        max_steps=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
    assert trainer.optimizers[0].defaults["fused"] is False
    assert "runs unfused" in capsys.readouterr().out
    plain = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        gradient_clip_val=5.0,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    model = build(cfg.model, **dm.model_kwargs())
    plain.fit(model, datamodule=dm)
    assert plain.optimizers[0].defaults["fused"] is True  # 32-bit: still fused
