"""A user's own series with task=forecast (issue 27): settings follow the file, not AirPassengers; gaps and empty
cells are refused with their dates or filled by ``data.fill``; ``data.date_format``; ``data.log`` on
non-positive values; a long file with several series; the fractional split in time order; and the scale-free
metrics of issue 26 (MASE, sMAPE, MAPE only away from zero) against hand-computed values."""

import json
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from seqkit.data.errors import DataError
from seqkit.data.timeseries import split_bounds
from seqkit.tasks.forecasting.codec import PRESETS, ForecastingCodec
from seqkit.tasks.forecasting.datamodule import ForecastingDataModule
from seqkit.tasks.forecasting.metrics import _Sums, mape_is_defined, mase, mase_scale, smape

REPO = Path(__file__).resolve().parents[1]


def daily_sales(path, days=120, skip=(), empty=(), start=date(2023, 1, 1), fmt="%Y-%m-%d", store=None, base=100.0):
    """A daily sales CSV (weekly pattern plus a trend); ``skip``: days left out (gaps); ``empty``: empty cells."""
    rows = ["date," + ("store," if store else "") + "sales"]
    for i in range(days):
        if i in skip:
            continue
        value = "" if i in empty else f"{base + 10 * math.sin(2 * math.pi * i / 7) + 0.1 * i:.4f}"
        rows.append(f"{(start + timedelta(days=i)).strftime(fmt)}," + (f"{store}," if store else "") + value)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def codec(path, **settings):
    c = ForecastingCodec(path=str(path), **settings)
    c.setup("fit")
    return c


def hint_parses(message):
    """Every ``data.x=value`` a message suggests is an override Hydra parses."""
    hints = [w.strip(",;()") for w in message.split() if w.startswith("data.") and "=" in w]
    OverridesParser.create().parse_overrides(hints)
    return hints


# ---- settings from the file ---------------------------------------------------------------------------------


def test_a_users_daily_file_gets_its_own_settings_and_every_row_in_time_order(tmp_path, capsys):
    c = codec(daily_sales(tmp_path / "sales.csv", days=101))
    hp = c.hparams
    assert (hp.time_column, hp.target, hp.log, hp.split) == ("date", "sales", False, [0.7, 0.1, 0.2])
    assert (hp.season, hp.calendar, hp.input_length, hp.horizon) == (7, ["weekday"], 28, 14)
    assert c.rows == {"train": (0, 71), "val": (71, 81), "test": (81, 101)}  # every row, oldest first
    err = capsys.readouterr().err
    assert "daily series (inferred)" in err
    assert "train 2023-01-01..2023-03-12 (71 rows), val 2023-03-13..2023-03-22 (10 rows), " in err
    assert "test 2023-03-23..2023-04-11 (20 rows)" in err and "unused" not in err
    # what the file decided is saved with the data module's settings (the checkpoint's)
    dm = ForecastingDataModule(path=str(tmp_path / "sales.csv"))
    assert dm.hparams["season"] is None
    dm.setup("fit")
    assert (dm.hparams["season"], dm.hparams["horizon"], dm.hparams["target"]) == (7, 14, "sales")


def test_given_settings_win_over_the_frequency_and_airpassengers_keeps_its_preset(tmp_path):
    c = codec(daily_sales(tmp_path / "sales.csv"), season=0, horizon=7, calendar=[], split=[80, 20, 20])
    assert (c.hparams.season, c.hparams.horizon, c.hparams.calendar, c.hparams.input_length) == (0, 7, [], 28)
    assert c.rows["test"] == (100, 120)
    air = ForecastingCodec(builtin="airpassengers")
    assert {k: air.hparams[k] for k in PRESETS["airpassengers"]} == PRESETS["airpassengers"]
    assert PRESETS["airpassengers"]["split"] == [108, 12, 24] and PRESETS["airpassengers"]["log"] is True


@pytest.mark.parametrize("n", [10, 99, 101, 1000])
def test_fractions_summing_to_one_cover_every_row(n):
    bounds = split_bounds(n, [0.7, 0.1, 0.2])
    assert bounds["train"][0] == 0 and bounds["test"][1] == n
    assert bounds["train"][1] == bounds["val"][0] and bounds["val"][1] == bounds["test"][0]


def test_weekly_and_monthly_files_follow_their_frequency(tmp_path):
    weekly = daily_sales(tmp_path / "w.csv", days=200)  # every 7th day below
    lines = weekly.read_text().splitlines()
    weekly.write_text("\n".join([lines[0]] + lines[1::7]) + "\n")
    c = codec(weekly, split=[20, 4, 5], input_length=8, horizon=2)
    assert (c.step, c.hparams.season, c.hparams.calendar) == ({"seconds": 7 * 86400}, 52, ["month"])
    monthly = tmp_path / "m.csv"
    monthly.write_text("month,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{i + 1}\n" for i in range(100)))
    c = codec(monthly)
    assert (c.step, c.hparams.season, c.hparams.calendar, c.hparams.horizon) == ({"months": 1}, 12, ["month"], 12)


# ---- gaps, empty cells, dates, logs, long files -------------------------------------------------------------


def test_gaps_stop_with_their_dates_or_are_filled_by_the_chosen_rule(tmp_path, capsys):
    path = daily_sales(tmp_path / "sales.csv", skip=(10, 11, 50))
    with pytest.raises(DataError) as e:
        codec(path)
    message = str(e.value)
    assert message == (
        f"{path}: 3 missing timestamp(s) (2023-01-11..2023-01-12, 2023-02-20): fill them with data.fill=linear "
        "(or previous, zero), or give every value"
    )
    assert hint_parses(message) == ["data.fill=linear"]
    full = codec(daily_sales(tmp_path / "full.csv")).frames["train"].series.values[:, 0]
    capsys.readouterr()
    linear = codec(path, fill="linear").frames["train"].series.values[:, 0]
    assert "3 missing timestamp(s) and 0 empty cell(s) filled by data.fill=linear" in capsys.readouterr().err
    assert len(linear) == 120  # the gaps are rows again: seasonal baselines stay in phase
    torch.testing.assert_close(linear[10], full[9] + (full[12] - full[9]) / 3)
    torch.testing.assert_close(linear[11], full[9] + 2 * (full[12] - full[9]) / 3)
    previous = codec(path, fill="previous").frames["train"].series.values[:, 0]
    assert previous[10] == previous[11] == full[9] and previous[50] == full[49]
    zero = codec(path, fill="zero").frames["train"].series.values[:, 0]
    assert zero[10] == zero[11] == zero[50] == 0 and zero[12] == full[12]


def test_empty_cells_follow_the_same_rule(tmp_path):
    path = daily_sales(tmp_path / "sales.csv", empty=(30,))
    with pytest.raises(DataError) as e:
        codec(path)
    assert str(e.value) == (
        f"{path}:32: 1 empty cell(s) (the first here, column 'sales'): fill them with data.fill=linear "
        "(or previous, zero), or give every value"
    )
    full = codec(daily_sales(tmp_path / "full.csv")).frames["train"].series.values[:, 0]
    filled = codec(path, fill="linear").frames["train"].series.values[:, 0]
    torch.testing.assert_close(filled[30], (full[29] + full[31]) / 2)
    first_empty = daily_sales(tmp_path / "first.csv", empty=(0,))
    with pytest.raises(DataError, match=r"first.csv:2: column 'sales': no value to fill from .*data.fill=zero"):
        codec(first_empty, fill="previous")


def test_a_date_format_reads_day_first_dates(tmp_path):
    path = daily_sales(tmp_path / "sales.csv", fmt="%d/%m/%Y")
    with pytest.raises(DataError) as e:
        codec(path)
    assert "'01/01/2023' is not a timestamp" in str(e.value) and str(e.value).startswith(f"{path}:2: column 1")
    assert hint_parses(str(e.value)) == ["data.date_format=%d/%m/%Y"]
    c = codec(path, date_format="%d/%m/%Y")
    assert c.frames["train"].series.times[31] == c.frames["train"].series.times[0].replace(month=2)
    assert c.step == {"seconds": 86400} and c.time_format == "%d/%m/%Y"


def test_logs_of_a_non_positive_series_are_refused_naming_data_log(tmp_path):
    path = daily_sales(tmp_path / "temperature.csv", base=5.0)  # dips below zero
    with pytest.raises(DataError) as e:
        codec(path, log=True)
    assert "data.log=true needs positive values; column 'sales' has -" in str(e.value)
    assert hint_parses(str(e.value)) == ["data.log=true", "data.log=false"]
    assert codec(path).scaler.log is False  # a user's file: no logs unless asked


def test_a_long_file_says_it_holds_several_series_naming_the_id_column(tmp_path):
    a = daily_sales(tmp_path / "a.csv", days=60, store="north").read_text().splitlines()
    b = daily_sales(tmp_path / "b.csv", days=60, store="south").read_text().splitlines()
    path = tmp_path / "stores.csv"
    path.write_text("\n".join(a + b[1:]) + "\n")
    with pytest.raises(DataError) as e:
        codec(path)
    assert str(e.value) == (
        f"{path}:62: timestamp '2023-01-01' goes back to line 61's (2023-03-01) where column 'store' changes "
        "from 'north' to 'south': the file holds several series; one series per file"
    )


def test_which_column_to_forecast_is_asked_when_several_hold_numbers(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("day,sales,visits\n2023-01-01,1,2\n2023-01-02,3,4\n")
    with pytest.raises(DataError) as e:
        codec(path)
    assert str(e.value).startswith(f"{path}:1: which column to forecast? set data.target, e.g. data.target=sales")
    assert hint_parses(str(e.value)) == ["data.target=sales"]


# ---- metrics (issue 26) -------------------------------------------------------------------------------------


def test_mase_is_scaled_by_the_seasonal_naive_in_sample_error():
    train = torch.tensor([[1.0], [2.0], [4.0], [1.0], [3.0], [7.0]])
    # season 3: |1 - 1|, |3 - 2|, |7 - 4| -> mean 4/3; naive (season None): 1, 2, 3, 2, 4 -> 12/5
    torch.testing.assert_close(mase_scale(train, 3), torch.tensor([4 / 3]))
    torch.testing.assert_close(mase_scale(train, None), torch.tensor([12 / 5]))
    torch.testing.assert_close(mase_scale(train, 6), torch.tensor([12 / 5]))  # no whole season before: naive
    # absolute errors 1 and 3 over two steps: MAE 2, scale 4/3 -> 1.5
    torch.testing.assert_close(mase(torch.tensor([4.0]), 2, [4 / 3]), torch.tensor(1.5))


def test_smape_and_mape_by_hand_and_mape_left_out_near_zero():
    pred, actual = torch.tensor([[110.0], [90.0]]), torch.tensor([[100.0], [100.0]])
    torch.testing.assert_close(smape(pred, actual) / 2, torch.tensor((20 / 210 + 20 / 190) / 2))
    sums = _Sums()
    sums.update(pred, actual, pred, actual)
    got = sums.compute([5.0])
    torch.testing.assert_close(got["smape_orig"], torch.tensor((20 / 210 + 20 / 190) / 2))
    torch.testing.assert_close(got["mape_orig"], torch.tensor(0.1))
    torch.testing.assert_close(got["mase"], torch.tensor(2.0))  # MAE 10 over scale 5
    crossing = torch.tensor([[2.0], [-0.01], [-3.0]])  # crosses zero: MAPE would divide by 0.01
    sums = _Sums()
    sums.update(crossing + 1, crossing, crossing + 1, crossing)
    got = sums.compute(None)
    assert "mape_orig" not in got and "mase" not in got and math.isfinite(float(got["smape_orig"]))
    assert mape_is_defined(min_abs=10.0, mean_abs=100.0) and not mape_is_defined(min_abs=9.9, mean_abs=100.0)


# ---- end to end: a user's daily file with gaps, trained, evaluated, predicted -------------------------------


def test_a_daily_file_with_gaps_trains_evaluates_and_predicts(tmp_path, capsys):
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict
    from seqkit.app.train import train

    path = daily_sales(tmp_path / "sales.csv", days=110, skip=(20,), empty=(40,))
    overrides = [
        "task=forecast",
        f"data.path={path}",
        "data.fill=linear",
        "model.ensemble=1",
        "backbone.hidden_size=4",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "trainer.enable_progress_bar=false",
        "++trainer.num_sanity_val_steps=0",
        "threads=1",
        "~callbacks.forecast_plot",
        f"paths.output_dir={tmp_path / 'run'}",
    ]
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        train(compose("train", overrides=overrides))
        ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
        capsys.readouterr()
        metrics = evaluate(compose("evaluate", overrides=[f"ckpt_path={ckpt}", "threads=1"]))
        table = capsys.readouterr().err
        history = daily_sales(tmp_path / "history.csv", days=40, skip=(35,))
        out = tmp_path / "forecast.jsonl"
        predict(
            compose(
                "predict",
                overrides=[f"ckpt_path={ckpt}", f"input={history}", f"output={out}", "threads=1"],
            )
        )
    assert {"test/mase", "test/smape_orig", "test/mape_orig", "test/seasonal_naive/mase"} <= set(metrics)
    assert "mase" in table and "seasonal_naive" in table
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["timestamp"] for r in rows] == [str(date(2023, 2, 10) + timedelta(days=k)) for k in range(14)]
