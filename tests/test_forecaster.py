"""The forecasting network and its parts: baselines on hand-made series, instance-norm invariance, ordered
quantiles, learning a sine wave (TaskModule + ForecastingDataModule), and the checkpoint round trip."""

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from seqkit.nn.forecast_baselines import LeastSquaresLinear, naive, seasonal_naive
from seqkit.nn.forecast_heads import InstanceNorm
from seqkit.tasks.forecasting.datamodule import ForecastingDataModule
from seqkit.tasks.forecasting.network import HEAD_ATTRIBUTES, ForecastNetwork
from seqkit.training import TaskModule

TINY = {"cell": "gru", "hidden_size": 8, "bidirectional": False}


def trainer(**kw):
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kw,
    )


def sine_csv(path: Path, n: int = 400, period: int = 12, noise: float = 0.0, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64)
    y = 10 + 3 * torch.sin(2 * math.pi * t / period) + noise * torch.randn(n, generator=g, dtype=torch.float64)
    path.write_text("t,y\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(y.tolist())), encoding="utf-8")
    return path


# ---- baselines -------------------------------------------------------------------------------------------------


def test_naive_on_a_constant_series_and_seasonal_naive_on_a_periodic_one_are_exact():
    constant = torch.full((4, 10, 2), 3.5)
    assert torch.equal(naive(constant, 6), torch.full((4, 6, 2), 3.5))
    t = torch.arange(40, dtype=torch.float32)
    periodic = torch.sin(2 * math.pi * t / 5)
    x, future = periodic[:20].view(1, 20, 1), periodic[20:33].view(1, 13, 1)
    assert torch.allclose(seasonal_naive(x, 13, 5), future, atol=1e-5)
    assert not torch.allclose(naive(x, 13), future, atol=1e-2)


def test_least_squares_recovers_an_exactly_linear_ar_process():
    """y_t = 1.2 y_{t-1} - 0.5 y_{t-2} + 0.3 (stable): the h-step forecast is linear in the window, so a
    least-squares fit on training windows forecasts held-out windows of the same process exactly."""

    def ar(n, y0, y1):
        y = [y0, y1]
        for _ in range(n - 2):
            y.append(1.2 * y[-1] - 0.5 * y[-2] + 0.3)
        return torch.tensor(y, dtype=torch.float64)

    L, H = 6, 4
    train = torch.stack(
        [ar(L + H, a, b) for a, b in torch.randn(50, 2, generator=torch.Generator().manual_seed(0)).tolist()]
    )
    test = torch.stack([ar(L + H, a, b) for a, b in [(2.0, -1.0), (-3.0, 0.5), (0.1, 0.2)]])
    model = LeastSquaresLinear(L, H).double()
    model.accumulate(train[:, :L, None], train[:, L:, None])
    model.solve()
    assert bool(model.fitted)
    assert torch.allclose(model(test[:, :L, None]), test[:, L:, None], atol=1e-5)
    assert not torch.allclose(naive(test[:, :L, None], H), test[:, L:, None], atol=1e-2)


# ---- instance normalisation and heads -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["revin", "last"])
@pytest.mark.parametrize(
    "head, loss, highway",
    [("direct", "mse", "linear"), ("recursive", "gaussian", "none"), ("seq2seq", "quantile", "least_squares")],
)
def test_adding_a_constant_to_the_window_shifts_the_forecast_by_it(mode, head, loss, highway):
    torch.manual_seed(0)
    model = ForecastNetwork(
        n_targets=1,
        n_calendar=2,
        input_length=10,
        horizon=5,
        backbone=TINY,
        head=head,
        instance_norm=mode,
        loss=loss,
        highway=highway,
    ).eval()
    if highway == "least_squares":  # a fitted baseline: any least-squares map
        model.linear.weight.normal_()
    x, future = torch.randn(3, 10, 3), torch.rand(3, 5, 2) - 0.5
    shifted = x.clone()
    shifted[..., 0] += 7.0  # the target channel only; the calendar stays
    with torch.no_grad():
        a, b = model(x, future), model(shifted, future)
    assert torch.allclose(b["point"], a["point"] + 7.0, atol=1e-4)
    if "quantiles" in a:
        assert torch.allclose(b["quantiles"], a["quantiles"] + 7.0, atol=1e-4)
    if "std" in a:
        assert torch.allclose(b["std"], a["std"], atol=1e-5)
    plain = ForecastNetwork(
        n_targets=1, n_calendar=2, input_length=10, horizon=5, backbone=TINY, head=head, instance_norm="none", loss=loss
    ).eval()
    with torch.no_grad():
        assert not torch.allclose(plain(shifted, future)["point"], plain(x, future)["point"] + 7.0, atol=1e-2)


@pytest.mark.parametrize("head", ["direct", "seq2seq"])
def test_seasonal_naive_highway_forecasts_the_residual_of_the_last_season(head):
    """With the network's output layer zeroed the forecast is exactly the seasonal-naive one; any other
    output is added to it (so on logs the network forecasts the growth over a season)."""
    torch.manual_seed(3)
    model = ForecastNetwork(
        n_targets=2,
        n_calendar=1,
        input_length=10,
        horizon=7,
        season=4,
        backbone=TINY,
        head=head,
        instance_norm="last",
        highway="seasonal_naive",
    ).eval()
    out_layer = model.direct.linear if head == "direct" else model.decoder.out
    x, future = torch.randn(3, 10, 3), torch.rand(3, 7, 1)
    with torch.no_grad():
        out_layer.weight.zero_()
        out_layer.bias.zero_()
        assert torch.allclose(model(x, future)["point"], seasonal_naive(x[..., :2], 7, 4))
        out_layer.bias.fill_(0.25)
        assert torch.allclose(model(x, future)["point"], seasonal_naive(x[..., :2], 7, 4) + 0.25, atol=1e-6)


def test_highway_choices_are_checked():
    with pytest.raises(ValueError, match="needs data.season <= data.input_length"):
        ForecastNetwork(input_length=10, horizon=4, season=12, backbone=TINY, highway="seasonal_naive")
    with pytest.raises(ValueError, match="use model.head=direct or model.head=seq2seq"):
        ForecastNetwork(input_length=10, horizon=4, season=4, backbone=TINY, head="recursive", highway="least_squares")
    with pytest.raises(ValueError, match="model.highway must be one of"):
        ForecastNetwork(backbone=TINY, highway="ets")


def test_instance_norm_modes():
    x = torch.tensor([[[1.0], [2.0], [6.0]]])
    xn, shift, scale = InstanceNorm("revin").normalize(x)
    assert torch.allclose(shift, torch.tensor([[3.0]])) and torch.allclose(xn.mean(1), torch.zeros(1, 1), atol=1e-6)
    xn, shift, scale = InstanceNorm("last").normalize(x)
    assert xn[0, :, 0].tolist() == [-5.0, -4.0, 0.0] and scale.item() == 1.0
    with pytest.raises(ValueError, match="model.instance_norm must be one of"):
        InstanceNorm("batch")


@pytest.mark.parametrize("head", ["direct", "recursive", "seq2seq"])
def test_quantile_intervals_are_ordered(head):
    torch.manual_seed(1)
    model = ForecastNetwork(
        n_targets=2,
        n_covariates=1,
        input_length=8,
        horizon=6,
        backbone=TINY,
        head=head,
        loss="quantile",
        quantiles=[0.9, 0.1, 0.5, 0.25],
        instance_norm="revin",
    ).eval()
    with torch.no_grad():
        out = model(torch.randn(16, 8, 3) * 5, torch.zeros(16, 6, 0))
        predicted = model.predict(
            type("B", (), {"x": torch.randn(4, 8, 3), "future": torch.zeros(4, 6, 0), "index": torch.arange(4)})()
        )
    q = out["quantiles"]  # [B, H, T, 4] at levels 0.1, 0.25, 0.5, 0.9
    assert q.shape == (16, 6, 2, 4) and (q.diff(dim=-1) > 0).all()
    assert torch.equal(out["point"], q[..., 2])  # the median
    assert (predicted["lower"] <= predicted["point"]).all() and (predicted["point"] <= predicted["upper"]).all()


def test_recursive_head_needs_a_forward_only_encoder():
    with pytest.raises(ValueError, match="backbone.bidirectional=false"):
        ForecastNetwork(head="recursive", backbone={**TINY, "bidirectional": True})


def test_recursive_teacher_forcing_matches_free_running_when_fed_its_own_forecasts():
    """Teacher forcing with the model's own point forecasts as the 'truth' gives the free-running forecast."""
    torch.manual_seed(2)
    model = ForecastNetwork(
        n_targets=1, n_calendar=1, input_length=6, horizon=4, backbone=TINY, head="recursive", instance_norm="last"
    ).eval()
    x, future = torch.randn(2, 6, 2), torch.rand(2, 4, 1)
    with torch.no_grad():
        free = model(x, future)["point"]
        forced = model(x, future, y=free)["point"]
    assert torch.allclose(free, forced, atol=1e-5)


# ---- learning, metrics, checkpoints --------------------------------------------------------------------------


def sine_module(tmp_path, **kw):
    return ForecastingDataModule(
        path=str(sine_csv(tmp_path / "sine.csv", **kw)),
        target="y",
        split=[300, 50, 50],
        input_length=24,
        horizon=6,
        season=12,
        batch_size=32,
    )


def test_learns_a_sine_wave_to_low_error(tmp_path):
    torch.manual_seed(0)
    dm = sine_module(tmp_path, noise=0.0)
    dm.setup("fit")
    model = TaskModule(
        "forecasting",
        **dm.model_kwargs(),
        backbone={"cell": "lstm", "hidden_size": 16, "bidirectional": False},
        head="direct",
        instance_norm="none",
        optimizer={"_target_": "torch.optim.Adam", "lr": 0.02},
    )
    trainer(max_epochs=25, enable_checkpointing=False).fit(model, datamodule=dm)
    metrics = trainer().validate(model, datamodule=dm, verbose=False)[0]
    assert metrics["val/mse"] < 0.01, metrics  # the scaled series has variance 1
    assert metrics["val/naive/mse"] > 0.5
    assert metrics["val/seasonal_naive/mse"] < 1e-8  # the period is 12 exactly
    assert metrics["val/rmse_orig"] < 0.1 * 3  # original units: amplitude 3


@pytest.mark.parametrize("ensemble", [1, 2])
def test_checkpoint_round_trip_with_weights_only(tmp_path, ensemble):
    from seqkit import tasks
    from seqkit.app.checkpoint import load
    from seqkit.app.evaluate import metrics_of

    torch.manual_seed(0)
    dm = sine_module(tmp_path, noise=0.1)
    dm.setup("fit")
    model = TaskModule("forecasting", **dm.model_kwargs(), backbone=TINY, loss="quantile", ensemble=ensemble)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best", monitor="val/mse")
    trainer(max_epochs=1, callbacks=[ckpt]).fit(model, datamodule=dm)
    raw = torch.load(ckpt.best_model_path, weights_only=True)
    assert raw["ForecastingDataModule"]["scaler"] == dm.scaler.to_dict()
    assert raw["seqkit"]["codec"]["scaler"] == dm.scaler.to_dict() and raw["seqkit"]["shape"] == "forecasting"
    assert bool(raw["state_dict"]["network.linear.fitted"])
    restored, codec = load(ckpt.best_model_path)  # (network, codec), no Lightning
    assert codec.scaler.to_dict() == dm.scaler.to_dict()
    windows = codec.evaluation_set("test")
    batch = next(iter(codec.batches(windows)))
    model.eval()
    with torch.no_grad():
        assert torch.equal(restored(batch.x, batch.future)["quantiles"], model(batch.x, batch.future)["quantiles"])
        assert torch.equal(restored.linear.weight, model.network.linear.weight)
    scores = metrics_of(restored, codec, windows, tasks.get("forecasting"))
    tested = {f"test/{k}": float(v) for k, v in scores.items()}
    assert 0.0 <= tested["test/coverage"] <= 1.0 and tested["test/pinball"] > 0
    assert tested["test/ratio_mse"] == pytest.approx(
        tested["test/mse"] / min(tested[f"test/{b}/mse"] for b in ("naive", "seasonal_naive", "linear")), rel=1e-4
    )


# ---- seed ensemble ------------------------------------------------------------------------------------------

ENSEMBLE_KW = dict(n_targets=1, n_calendar=2, input_length=10, horizon=5, backbone=TINY, instance_norm="last")


def single_member(model: ForecastNetwork, k: int, **kw) -> ForecastNetwork:
    """A one-member ForecastNetwork holding member k's weights."""
    single = ForecastNetwork(**ENSEMBLE_KW, **kw).eval()
    encoder, head, highway = model._members()[k]
    single.encoder.load_state_dict(encoder.state_dict())
    getattr(single, HEAD_ATTRIBUTES[kw.get("head", "direct")]).load_state_dict(head.state_dict())
    if highway is not None:
        single.highway.load_state_dict(highway.state_dict())
    return single


@pytest.mark.parametrize(
    "head, loss, highway",
    [("direct", "mse", "linear"), ("recursive", "quantile", "none"), ("seq2seq", "gaussian", "seasonal_naive")],
)
def test_an_ensembles_forecast_is_the_mean_of_its_members_forecasts(head, loss, highway):
    torch.manual_seed(0)
    kw = dict(head=head, loss=loss, highway=highway, season=4)
    model = ForecastNetwork(**ENSEMBLE_KW, ensemble=3, **kw).eval()
    singles = [single_member(model, k, **kw) for k in range(3)]
    x, future = torch.randn(4, 10, 3), torch.rand(4, 5, 2)
    with torch.no_grad():
        out, parts = model(x, future), [s(x, future) for s in singles]
    points = torch.stack([p["point"] for p in parts])
    assert torch.allclose(out["point"], points.mean(0), atol=1e-6)
    assert (points[0] - points[1]).abs().max() > 1e-3  # members start from different weights
    if loss == "quantile":
        assert torch.allclose(out["quantiles"], torch.stack([p["quantiles"] for p in parts]).mean(0), atol=1e-6)
        assert (out["quantiles"].diff(dim=-1) >= 0).all()
    if loss == "gaussian":  # the equal mixture's variance: mean variance + variance of the means
        var = torch.stack([p["std"] ** 2 for p in parts]).mean(0) + points.var(0, unbiased=False)
        assert torch.allclose(out["std"], var.sqrt(), atol=1e-5)


def test_each_ensemble_member_trains_on_its_own_error():
    """The training loss is the mean of the members' own losses (not the loss of their average), so a
    member's gradient is the one it would get alone, divided by the number of members."""
    torch.manual_seed(1)
    model = ForecastNetwork(**ENSEMBLE_KW, ensemble=2)
    singles = [single_member(model, k).train() for k in range(2)]
    x, future, y = torch.randn(6, 10, 3), torch.rand(6, 5, 2), torch.randn(6, 5, 1)
    batch = type(
        "Batch",
        (),
        {"x": x, "future": future, "y": y, "mask": torch.ones(6, 5, dtype=torch.bool), "__len__": lambda self: 6},
    )()
    loss = model.loss(batch)["loss"]
    alone = [torch.nn.functional.mse_loss(s(x, future)["point"], y) for s in singles]
    assert loss.item() == pytest.approx((alone[0] + alone[1]).item() / 2, rel=1e-5)
    ensemble_error = torch.nn.functional.mse_loss(model(x, future)["point"], y)
    assert loss.item() > ensemble_error.item() + 1e-4  # averaging helps: not the loss that was minimised
    loss.backward()
    alone[1].backward()
    member_grad = model.members[0]["encoder"].rnn.weight_hh_l0.grad
    assert torch.allclose(member_grad, singles[1].encoder.rnn.weight_hh_l0.grad / 2, atol=1e-6)


def test_ensemble_size_is_checked():
    with pytest.raises(ValueError, match="model.ensemble must be a whole number"):
        ForecastNetwork(**ENSEMBLE_KW, ensemble=0)
    assert not any(k.startswith("members.") for k in ForecastNetwork(**ENSEMBLE_KW).state_dict())
