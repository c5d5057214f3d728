"""The default optimisers (configs/optimizer/adam.yaml, adamw.yaml) run torch's fused kernel: the same update as
the per-tensor loop to float rounding, step after step (training runs still drift apart the way two seeds do:
README "Speed")."""
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "optimizer"


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
