"""A long file of several series (``data.series_column``, issue 27): one global model across two stores, each
store split in time order and scaled by its own training rows, per-series metrics equal to each store's alone,
predictions keyed by store, and the refusals (no series_column, an unknown store, gaps without a fill rule)."""

import json
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqkit.app.evaluate import metrics_of
from seqkit.data.errors import DataError
from seqkit.tasks import registry
from seqkit.tasks.forecasting.codec import ForecastingCodec
from seqkit.tasks.forecasting.network import ForecastNetwork

REPO = Path(__file__).resolve().parents[1]
STORES = {"north": 100.0, "south": 1000.0}  # level of each store's sales: the scalers must differ


def sales(store, i):
    """Store ``store``'s sales on day ``i``: its level, a weekly pattern and a trend."""
    return STORES[store] + STORES[store] / 10 * math.sin(2 * math.pi * i / 7) + 0.1 * i


def long_file(path, days=100, stores=STORES, skip=()):
    """A user's long file: ``date,store,sales``, the stores one after another, each in time order."""
    rows = ["date,store,sales"]
    for store in stores:
        rows += [
            f"{date(2023, 1, 1) + timedelta(days=i)},{store},{sales(store, i):.4f}"
            for i in range(days)
            if i not in skip
        ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def one_store(path, store, days=100):
    """The same store's rows as a file of its own (``date,sales``)."""
    rows = ["date,sales"] + [f"{date(2023, 1, 1) + timedelta(days=i)},{sales(store, i):.4f}" for i in range(days)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def codec(path, stage="fit", **settings):
    c = ForecastingCodec(path=str(path), **settings)
    c.setup(stage)
    return c


def test_a_long_file_without_series_column_says_what_to_set(tmp_path):
    path = long_file(tmp_path / "stores.csv")
    with pytest.raises(DataError) as e:
        codec(path)
    assert str(e.value).endswith(
        "the file holds several series; set data.series_column=store to train one model across them"
    )


def test_each_series_is_split_and_scaled_on_its_own_training_rows(tmp_path):
    c = codec(long_file(tmp_path / "stores.csv"), series_column="store")
    assert c.series_ids == ["north", "south"]
    assert c.series_rows["north"] == c.series_rows["south"] == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}
    for store in STORES:
        train = torch.tensor([round(sales(store, i), 4) for i in range(70)], dtype=torch.float64)
        scaler = c.series_scalers[store]
        assert scaler.shift == pytest.approx([train.mean().item()])  # the training rows only, not val/test
        assert scaler.scale == pytest.approx([train.std(unbiased=False).item()])
    # training windows from both stores, each reading its own store's rows only (inverse: that store's values)
    windows = c.datasets["train"]
    batch = c.collate(windows)
    assert batch.series.unique().tolist() == [0, 1] and len(windows) == 2 * (70 - 28 - 14 + 1)
    for row, window in enumerate(windows):
        store = c.series_ids[window.series]
        got = c.series_scaler(store).inverse(batch.x[row, :, 0].double())
        origin = window.origin - (0 if store == "north" else c.frames["train"].scaled.size(0) // 2)
        expected = torch.tensor([sales(store, i) for i in range(origin - 28, origin)], dtype=torch.float64)
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)
    assert c.state_dict()["series"]["south"]["scaler"]["shift"] == c.series_scalers["south"].shift  # plain Python


def test_per_series_metrics_equal_each_series_alone_and_their_mean_is_reported(tmp_path):
    torch.manual_seed(0)
    both = codec(long_file(tmp_path / "stores.csv"), stage="test", series_column="store")
    network = ForecastNetwork(**both.network_kwargs(), backbone={"hidden_size": 3}).eval()
    shape = registry.get("forecasting")
    together = metrics_of(network, both, both.datasets["test"], shape)
    for store in STORES:
        alone = codec(one_store(tmp_path / f"{store}.csv", store), stage="test")
        network.target_scaler = alone.target_scaler  # the store's own model: the same weights, its scaler
        figures = metrics_of(network, alone, alone.datasets["test"], shape)
        for key in ("mse", "mase", "smape_orig", "rmse_orig", "naive/mase", "seasonal_naive/smape_orig"):
            assert together[f"series/{store}/{key}"] == pytest.approx(figures[key], rel=1e-4), key
        # the naive baseline by hand: each test origin's last value repeated over the 14 days
        y = [round(sales(store, i), 4) for i in range(100)]
        scale = sum(abs(y[t] - y[t - 7]) for t in range(7, 70)) / 63
        errors = [abs(y[o + h] - y[o - 1]) for o in range(80, 100 - 14 + 1) for h in range(14)]
        assert together[f"series/{store}/naive/mase"] == pytest.approx(sum(errors) / len(errors) / scale, rel=1e-4)
    for key in ("mase", "smape_orig", "naive/mase"):
        mean = sum(together[f"series/{s}/{key}"] for s in STORES) / 2
        assert together[key] == pytest.approx(mean, rel=1e-6)


def test_a_history_with_gaps_for_a_model_trained_without_fill_says_to_fill_the_file(tmp_path):
    c = codec(long_file(tmp_path / "stores.csv"), series_column="store")
    restored = ForecastingCodec(**dict(c.hparams))
    restored.load_state_dict(c.state_dict())
    history = long_file(tmp_path / "history.csv", days=40, skip=(30,))
    lines = list(enumerate(history.read_text().splitlines(), 1))
    with pytest.raises(DataError) as e:
        restored.set_predict_input(lines, str(history))
    assert "1 missing timestamp(s) (2023-01-31)" in str(e.value) and "fill them in the file" in str(e.value)
    unknown = tmp_path / "west.csv"
    unknown.write_text("date,store,sales\n" + "".join(f"2023-02-{d:02d},west,5\n" for d in range(1, 29)))
    with pytest.raises(DataError, match=r"west.csv:2: series 'west' \(column 'store'\) is not one the model"):
        restored.set_predict_input(list(enumerate(unknown.read_text().splitlines(), 1)), str(unknown))


def test_two_stores_train_evaluate_per_store_and_predict_each_store(tmp_path, capsys):
    from seqkit.app.evaluate import evaluate
    from seqkit.app.export import export_checkpoint
    from seqkit.app.predict import predict
    from seqkit.app.train import train

    path = long_file(tmp_path / "stores.csv")
    overrides = [
        "task=forecast",
        f"data.path={path}",
        "data.series_column=store",
        "model.ensemble=1",
        "backbone.hidden_size=4",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "trainer.enable_progress_bar=false",
        "++trainer.num_sanity_val_steps=0",
        "threads=1",
        f"paths.output_dir={tmp_path / 'run'}",
    ]
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        train(compose("train", overrides=overrides))
        ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
        capsys.readouterr()
        metrics = evaluate(compose("evaluate", overrides=[f"ckpt_path={ckpt}", "threads=1"]))
        table = capsys.readouterr().err
        history = long_file(tmp_path / "history.csv", days=40)
        out = tmp_path / "forecast.jsonl"
        predict(compose("predict", overrides=[f"ckpt_path={ckpt}", f"input={history}", f"output={out}", "threads=1"]))
    assert {"test/mase", "test/series/north/mase", "test/series/south/seasonal_naive/mase"} <= set(metrics)
    assert "the mean over 2 series" in table and "series south" in table
    assert (tmp_path / "run" / "forecast_test.png").exists()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["store"], r["timestamp"]) for r in rows] == [
        (s, str(date(2023, 2, 10) + timedelta(days=k))) for s in STORES for k in range(14)
    ]
    north, south = (sum(r["value"] for r in rows if r["store"] == s) / 14 for s in STORES)
    assert north < 500 < south  # each store's forecast in its own units
    with pytest.raises(ValueError, match="global model across several series .* is not exported"):
        export_checkpoint(str(ckpt), "onnx", output=str(tmp_path / "model"))


def test_a_store_id_of_numbers_is_named_too_once_the_target_is_set(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(long_file(tmp_path / "named.csv", days=70).read_text().replace("north", "1").replace("south", "2"))
    with pytest.raises(DataError, match="which column to forecast"):
        codec(path)
    with pytest.raises(DataError, match="set data.series_column=store to train one model across them"):
        codec(path, target="sales")
    assert codec(path, target="sales", series_column="store").series_ids == ["1", "2"]


def test_a_long_history_given_to_a_one_series_model_says_to_give_one_series(tmp_path):
    c = codec(one_store(tmp_path / "north.csv", "north"))
    restored = ForecastingCodec(**dict(c.hparams))
    restored.load_state_dict(c.state_dict())
    history = long_file(tmp_path / "history.csv", days=40)
    lines = list(enumerate(history.read_text().splitlines(), 1))
    with pytest.raises(DataError, match="the model was trained on one series: give one series' rows"):
        restored.set_predict_input(lines, str(history))


def test_predict_reads_a_long_history_whole_however_many_lines(tmp_path):
    from seqkit.app.predict_stream import stream_predictions

    c = codec(long_file(tmp_path / "stores.csv"), series_column="store")
    restored = ForecastingCodec(**dict(c.hparams))
    restored.load_state_dict(c.state_dict())
    network = ForecastNetwork(**restored.network_kwargs(), backbone={"hidden_size": 3})
    history, out = long_file(tmp_path / "history.csv", days=40), tmp_path / "out.jsonl"
    stream_predictions(network, restored, str(history), str(out), {}, chunk_lines=16, chunk_tokens=16)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["store"] for r in rows] == ["north"] * 14 + ["south"] * 14  # one forecast a store, not a chunk


def test_stores_of_different_frequencies_are_refused_naming_the_store(tmp_path):
    path = tmp_path / "stores.csv"
    daily = long_file(tmp_path / "daily.csv", days=100, stores={"north": 100.0}).read_text().splitlines()
    weekly = [f"{date(2023, 1, 1) + timedelta(weeks=i)},south,{5 + i}" for i in range(100)]
    path.write_text("\n".join(daily + weekly) + "\n")
    with pytest.raises(DataError) as e:
        codec(path, series_column="store")
    assert str(e.value) == (
        f"{path} [store=south]: weekly rows where the series before are daily: the series of one file share one "
        "frequency (train this one from a file of its own)"
    )
