"""Issue #25's forecasting shape: the figures TaskModule logs are the application's evaluation of the same
checkpoint (with the table of baselines on stderr), a backtest and predictions equal the Lightning path's, a
new checkpoint round-trips through the Lightning-free loader, and predicting imports no Lightning."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from seqkit import tasks

REPO = Path(__file__).resolve().parents[1]


def _compose(name, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def _series(path: Path, n: int) -> Path:
    rows = ["t,y"] + [f"{i},{10 + 3 * math.sin(2 * math.pi * i / 12) + 0.1 * math.cos(i):.4f}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """task=forecast (quantile loss, an ensemble of 2, the least-squares highway) trained by scripts/train.py's
    function on a generated series -> (best checkpoint, folder, logged metrics)."""
    from seqkit.app.train import train

    folder = tmp_path_factory.mktemp("forecast")
    series = _series(folder / "series.csv", 90)
    cfg = _compose(
        "train",
        "task=forecast",
        "data.builtin=null",
        f"data.path={series}",
        "data.time_column=null",
        "data.target=y",
        "data.calendar=[]",
        "data.split=[55,15,20]",
        "data.input_length=12",
        "data.horizon=4",
        "data.season=12",
        "data.eval_batch_size=7",
        "model.loss=quantile",
        "model.ensemble=2",
        "model.highway=least_squares",
        "backbone.hidden_size=6",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "++trainer.num_sanity_val_steps=0",
        "threads=1",
        "~callbacks.forecast_plot",
        f"paths.output_dir={folder / 'run'}",
    )
    metrics = train(cfg)
    return folder / "run" / "checkpoints" / "best.ckpt", folder, metrics


def test_the_shape_is_registered_with_the_old_classes():
    shape = tasks.get("forecasting")
    assert shape.legacy_models == ("seqkit.models.forecaster.Forecaster",)
    assert shape.legacy_datamodules == ("seqkit.data.forecasting.TimeSeriesDataModule",)


def test_logged_figures_are_the_app_evaluation_of_the_checkpoints_own_series(trained, capsys):
    from seqkit.app.evaluate import evaluate

    ckpt, _, logged = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["seqkit"]["shape"] == "forecasting" and all(
        k.startswith("network.") for k in checkpoint["state_dict"]
    )
    capsys.readouterr()
    got = evaluate(_compose("evaluate", f"ckpt_path={ckpt}", "threads=1"))  # no data.test_path: its own test rows
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1]) == got
    assert "[seqkit] test: 17 window(s) of 12 -> 4" in err and "model / best baseline by rmse_orig" in err
    names = {
        "loss",
        "mse",
        "mae",
        "rmse_orig",
        "mae_orig",
        "mase",
        "smape_orig",
        "mape_orig",  # the series (10 +- 3.1) stays away from zero
        "pinball",
        "coverage",
        "ratio_mse",
        "ratio_rmse_orig",
        *(
            f"{b}/{k}"
            for b in ("naive", "seasonal_naive", "linear")
            for k in ("mse", "mae", "rmse_orig", "mae_orig", "mase", "smape_orig", "mape_orig")
        ),
    }
    assert set(got) == {f"test/{n}" for n in names}
    assert {f"test/{n}" for n in names} <= set(logged) and {f"val/{n}" for n in names} <= set(logged)
    for name in names:  # Lightning logs float32: equal to its rounding
        assert got[f"test/{name}"] == pytest.approx(logged[f"test/{name}"], abs=2e-6), name


def test_a_backtest_prints_its_table_and_json_and_csv_predictions_agree(trained, tmp_path, capsys):
    from seqkit.app.evaluate import evaluate
    from seqkit.app.predict import predict

    ckpt, folder, _ = trained
    args = [
        f"ckpt_path={ckpt}",
        f"data.test_path={folder / 'series.csv'}",
        "options.backtest=true",
        "options.stride=3",
        "threads=1",
    ]
    capsys.readouterr()
    metrics = evaluate(_compose("evaluate", *args))
    table = capsys.readouterr().err
    assert metrics and all(k.startswith("test/") for k in metrics)
    assert "seasonal_naive" in table or "naive" in table  # the model next to its baselines
    history = _series(tmp_path / "history.csv", 30)
    outs = {}
    for name, options in (("json", []), ("csv", ["options.output_format=csv"])):
        outs[name] = tmp_path / f"{name}.out"
        predict(
            _compose("predict", f"ckpt_path={ckpt}", f"input={history}", f"output={outs[name]}", "threads=1", *options)
        )
    rows = [json.loads(line) for line in outs["json"].read_text(encoding="utf-8").splitlines()]
    lines = outs["csv"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) + 1 and [line.split(",")[0] for line in lines[1:]] == [r["timestamp"] for r in rows]


def test_a_new_checkpoint_loads_through_the_app_as_through_lightning(trained):
    """The app's loader (no Lightning) rebuilds the codec the checkpoint recorded and a network that forecasts
    exactly as the TaskModule Lightning restores from the same file."""
    from seqkit.app.checkpoint import load
    from seqkit.training.module import TaskModule

    ckpt, _, _ = trained
    network, codec = load(ckpt)
    assert codec.state_dict() == torch.load(ckpt, weights_only=True)["seqkit"]["codec"] and bool(network.linear.fitted)
    module = TaskModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True).eval()
    with torch.inference_mode():
        for batch in codec.batches(codec.evaluation_set("test")):
            got, want = network.predict(batch), module.network.predict(batch)
            assert all(torch.equal(got[k], want[k]) for k in ("index", "point", "lower", "upper"))


def test_predicting_and_evaluating_a_forecaster_import_no_lightning(trained, tmp_path):
    ckpt, folder, _ = trained
    history = _series(tmp_path / "history.csv", 30)
    probe = (
        "import sys\n"
        "from seqkit.app.main import main\n"
        "from seqkit.app.evaluate import evaluate\n"
        "from seqkit.app.predict import predict\n"
        f"assert main('predict', ['ckpt_path={ckpt}', 'input={history}', 'output={tmp_path / 'out.jsonl'}', "
        "'threads=1']) is not None\n"
        f"assert main('evaluate', ['ckpt_path={ckpt}', 'threads=1', 'options.backtest=true']) is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'lightning_fabric', 'torchmetrics')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["timestamp"] for r in rows] == ["30", "31", "32", "33"] and all("interval" in r for r in rows)
