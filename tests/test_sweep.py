"""``hparams_search=<task>_optuna``: every search space names real settings of its task, the direction follows the
task's monitor.mode, and a tiny sweep (2 trials) runs and reports the trial with the best returned metric."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import marker_examples, write_tab_file
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the optional extra seqkit[sweep]")

REPO = Path(__file__).resolve().parents[1]
SEARCHES = {"sentiment": "maximize", "ner": "maximize", "lm": "minimize", "forecast": "minimize"}


@pytest.mark.parametrize("task,direction", SEARCHES.items())
def test_search_space_names_real_settings_and_direction_follows_the_monitor(task, direction):
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"task={task}", f"hparams_search={task}_optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == direction == {"min": "minimize", "max": "maximize"}[cfg.monitor.mode]
    assert len(sweeper.params) >= 4
    for key, space in sweeper.params.items():
        assert OmegaConf.select(cfg, key) is not None, f"{task}_optuna searches {key}, which {task} does not have"
    assert "tag(log, interval(" in sweeper.params["optimizer.lr"]  # learning rates: log-uniform


@pytest.mark.slow
def test_a_tiny_sweep_runs_and_reports_the_trial_with_the_best_returned_metric(tmp_path):
    write_tab_file(tmp_path / "train.tsv", marker_examples(64, seed=1, min_len=3, max_len=10))
    write_tab_file(tmp_path / "val.tsv", marker_examples(32, seed=2, min_len=3, max_len=10))
    sweep_dir = tmp_path / "sweep"
    args = [
        "task=sentiment",
        "hparams_search=sentiment_optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={sweep_dir}",
        f"data.root={tmp_path}",
        "data.train_path=train.tsv",
        "data.val_path=val.tsv",
        "test=false",
        "embedding.dim=8",
        "backbone.hidden_size=8",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "threads=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    trials = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(trials) == 2
    result = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    accuracies = [t["val/acc"] for t in trials]
    assert result["best_value"] == pytest.approx(max(accuracies))  # val/acc, maximised (task=sentiment: mode max)
    best = accuracies.index(max(accuracies))
    overrides = yaml.safe_load((sweep_dir / str(best) / ".hydra" / "overrides.yaml").read_text())
    for key, value in result["best_params"].items():
        assert f"{key}={value}" in overrides  # the reported parameters are those of the best trial
    chosen = [
        dict(o.split("=", 1) for o in yaml.safe_load((sweep_dir / str(k) / ".hydra" / "overrides.yaml").read_text()))
        for k in range(2)
    ]
    assert chosen[0]["optimizer.lr"] != chosen[1]["optimizer.lr"]  # two points of the search space, not one twice
