"""seqkit.training.callbacks.EMAWeights on a toy module: a buffer set after the callback's setup (as forecasting's
least-squares baseline is, at fit start) is the one validation and the checkpoint see, not the setup-time copy,
also before the average's first update: the average shares the model's buffers."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqkit.training.callbacks import EMAWeights


class ShiftedLinear(pl.LightningModule):
    """y = w x + shift, where ``shift`` is a buffer fitted at the start of training."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.register_buffer("shift", torch.zeros(1))
        self.val_shifts = []

    def on_fit_start(self):
        self.shift.fill_(5.0)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.linear(x) + self.shift, y)

    def validation_step(self, batch, batch_idx):
        self.val_shifts.append(float(self.shift))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_buffer_set_at_fit_start_is_validated_and_saved(tmp_path):
    x = torch.linspace(-1, 1, 16)[:, None]
    loader = DataLoader(TensorDataset(x, 2 * x + 5), batch_size=4)
    model = ShiftedLinear()
    ema = EMAWeights(decay=0.5, update_starting_at_step=100)  # no update in these 8 steps
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[ema],
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, loader, loader)
    assert ema._average_model.module.shift is model.shift  # shared, not copied at each update
    assert model.val_shifts and set(model.val_shifts) == {5.0}
    trainer.save_checkpoint(tmp_path / "end.ckpt")
    saved = torch.load(tmp_path / "end.ckpt", weights_only=True)
    assert float(saved["state_dict"]["shift"]) == 5.0 and float(model.shift) == 5.0
