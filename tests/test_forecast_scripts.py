"""The forecasting commands end to end: train.py (task=forecast, with the plot), then evaluate (backtest) and
predict (JSON lines, CSV, plot, a bad history) in-process from its checkpoint."""

import csv
import json
import sys
from datetime import datetime, timedelta

import pytest
from test_scripts import composed_script_config, last_json, ok, run_script


def hourly_csv(path, n, start=datetime(2020, 1, 1)):
    """An ETT-like file: date, two columns, target OT = a daily cycle plus a slow drift."""
    import math

    rows = ["date,HUFL,OT"]
    for i in range(n):
        t = start + timedelta(hours=i)
        ot = 20 + 0.01 * i + 5 * math.sin(2 * math.pi * i / 24)
        rows.append(f"{t:%Y-%m-%d %H:%M:%S},{math.cos(i / 5):.4f},{ot:.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_train_evaluate_backtest_and_predict(tmp_path, capsys, monkeypatch):
    hourly_csv(tmp_path / "series.csv", 300)
    run_dir = tmp_path / "run"
    result = ok(
        run_script(
            "train.py",
            "task=forecast",
            "data.builtin=null",
            f"data.root={tmp_path}",
            "data.path=series.csv",
            "data.time_column=date",
            "data.target=OT",
            "data.features=MS",
            "data.calendar=[hour]",
            "data.split=[200,50,50]",
            "data.input_length=24",
            "data.horizon=6",
            "data.season=24",
            "data.log=false",
            "model.head=seq2seq",
            "model.loss=quantile",
            "backbone.hidden_size=8",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
            "threads=1",
        )
    )
    summary = last_json(result.stdout)
    assert {
        "val/mse",
        "val/linear/mse",
        "val/seasonal_naive/mse",
        "val/ratio_mse",
        "test/rmse_orig",
        "test/coverage",
        "test/pinball",
    } <= set(summary)
    assert "model / best baseline" in result.stderr
    assert (run_dir / "forecast_test.png").stat().st_size > 1000 and (run_dir / "forecast_val.png").is_file()
    ckpt = summary["best_checkpoint"]

    # evaluate needs no file: the checkpoint names the series (root + path, resolved) and its test split
    from seqkit.app.cli import report_errors
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict

    same = evaluate(composed_script_config("evaluate", f"ckpt_path={ckpt}"))
    assert same["test/mse"] == pytest.approx(summary["test/mse"], rel=1e-5)
    capsys.readouterr()
    backtest = evaluate(
        composed_script_config("evaluate", f"ckpt_path={ckpt}", "options.backtest=true", "options.stride=10")
    )
    assert "5 window(s) of 24 -> 6" in capsys.readouterr().err  # origins 200, 210, ..., 240 over the 50 test rows
    assert set(backtest) >= {"test/mse", "test/naive/mse", "test/ratio_rmse_orig"}

    # predict: the 6 hours after the history's last row, in original units, with an 80% interval
    history = hourly_csv(tmp_path / "history.csv", 30)
    predict(
        composed_script_config("predict", f"ckpt_path={ckpt}", f"input={history}", f"options.plot={tmp_path / 'f.png'}")
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["timestamp"] for r in rows] == [f"2020-01-02 {h:02d}:00:00" for h in range(6, 12)]
    for r in rows:
        assert set(r) == {"timestamp", "value", "interval"}
        assert r["interval"][0] <= r["value"] <= r["interval"][1]
        assert 5 < r["value"] < 40  # original units (OT lies in 15..26), not scaled ones
    assert (tmp_path / "f.png").stat().st_size > 1000
    out = tmp_path / "pred.csv"
    predict(
        composed_script_config(
            "predict", f"ckpt_path={ckpt}", f"input={history}", "options.output_format=csv", f"output={out}"
        )
    )
    table = list(csv.DictReader(out.open()))
    assert list(table[0]) == ["timestamp", "value", "lower", "upper"] and len(table) == 6
    assert float(table[0]["value"]) == pytest.approx(rows[0]["value"])

    monkeypatch.delenv("SEQKIT_DEBUG", raising=False)
    short = hourly_csv(tmp_path / "short.csv", 10)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        report_errors(predict)(composed_script_config("predict", f"ckpt_path={ckpt}", f"input={short}"))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {short}: the history has 10 rows; the model reads the last input_length = 24"
    )


def test_forecast_configs_compose():
    cfg = composed_script_config("train", "task=forecast")
    assert cfg.data.builtin == "airpassengers" and cfg.data.split is None and cfg.data.season is None
    from seqkit.tasks.forecasting.codec import ForecastingCodec  # null: the built-in series' preset fills them

    preset = ForecastingCodec(**{k: v for k, v in cfg.data.items() if k != "_target_"}).hparams
    assert (preset.split, preset.season, preset.horizon, preset.log) == ([108, 12, 24], 12, 24, True)
    assert cfg.model._target_ == "seqkit.training.TaskModule" and cfg.model.shape == "forecasting"
    assert cfg.data._target_ == "seqkit.tasks.forecasting.datamodule.ForecastingDataModule"
    assert (
        cfg.callbacks.forecast_plot._target_ == "seqkit.training.callbacks.ForecastPlot"
        and cfg.model.backbone.bidirectional is False
    )
    assert cfg.model.head == "direct" and cfg.model.highway == "none"  # chosen by the backtest (README)
    assert cfg.model.backbone.cell == "gru" and cfg.model.backbone.hidden_size == 64 and cfg.model.ensemble == 10
    assert composed_script_config("train", "task=forecast", "backbone=lstm").model.backbone.cell == "lstm"
    ett = composed_script_config("train", "experiment=etth1", "data.root=../shared/data/ett", "data.horizon=96")
    assert ett.data.split == [8640, 2880, 2880] and ett.data.target == "OT" and ett.data.input_length == 96
    assert ett.data.horizon == 96 and ett.task_name == "etth1"
    assert ett.model.backbone.cell == "lstm" and ett.model.backbone.hidden_size == 64  # its README figures' model
    assert ett.model.ensemble == 1
    assert composed_script_config("evaluate", "ckpt_path=x", "options.backtest=true").options.backtest is True


def test_bench_forecast_section_runs_quick(capsys):
    """bench_speed.py --sections forecast on a generated series: both tables and the JSON figures (timings are
    never asserted)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_speed.py"
    spec = importlib.util.spec_from_file_location("seqkit_bench_speed", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
        summary = bench.main(["--quick", "--sections", "forecast", "--threads", "1"])
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert "ratio seqkit/plain (Trainer/plain)" in out and "ratio predict/bare" in out
    figures = summary["sections"]["forecast"]
    assert figures["trainer_vs_plain"]["ratio"] > 0 and figures["predict"]["forecasts_per_s"] > 0
    assert json.loads(out.strip().splitlines()[-1])["sections"]["forecast"]["batches"] == 6
