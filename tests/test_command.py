"""The ``seqkit`` command (seqkit.app.command): dispatch to the scripts' code, ``--help`` in a screenful, one-line
errors, a user's config folder beside the shipped configs, run directories under the current folder. In-process
and fast: nothing is trained (tests/test_wheel.py runs the installed command end to end)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from seqkit.app import command, usage
from seqkit.app.config import CONFIG_PATH, CONFIGS, compose

REPO = Path(__file__).resolve().parents[1]
TASKS = sorted(p.stem for p in (CONFIGS / "task").glob("*.yaml"))
USER_TASK = """# @package _global_
# Marker sentences from my own files, mean pooling
defaults:
  - sentiment
model:
  pooling: mean
"""


@pytest.fixture
def user_configs(tmp_path):
    """A user's config folder holding one task of an existing shape, task=my_task."""
    folder = tmp_path / "my_configs"
    (folder / "task").mkdir(parents=True)
    (folder / "task" / "my_task.yaml").write_text(USER_TASK, encoding="utf-8")
    return folder


@pytest.fixture
def hydra_runner():
    """Hydra's application runner in this process: its global state and the logging it configures are put back."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    root = logging.getLogger()
    handlers, level, argv = list(root.handlers), root.level, list(sys.argv)
    yield
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None  # as before any run: HydraConfig.get() raises again
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.argv[:] = argv


def test_the_configs_are_the_package_s_own():
    assert CONFIGS == REPO / "seqkit" / "configs" and (CONFIGS / "train.yaml").is_file()
    assert (CONFIGS / "__init__.py").is_file()  # Hydra's pkg:// reads a package
    assert CONFIG_PATH == "pkg://seqkit.configs"
    assert compose("predict", ["ckpt_path=x"]).ckpt_path == "x"  # composed through pkg://seqkit.configs


def test_help_names_the_commands_tasks_groups_and_where_the_configs_live(capsys):
    assert command.main(["--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= usage.WIDTH  # a screenful, not Hydra's tree
    for name in ("train", "evaluate", "predict", "generate", "export", "serve"):
        assert f"  {name} " in out and f"seqkit {name} " in out
    for task in TASKS:
        assert f"  {task} " in out, task
    assert str(CONFIGS) in out and "pkg://seqkit.configs" in out and "--config-dir" in out
    assert "backbone" in out and "--hydra-help" in out and "--cfg job" in out
    assert command.main(["-h"]) == 0 and capsys.readouterr().out == out
    assert command.main(["help"]) == 0 and capsys.readouterr().out == out
    assert command.main(["help", "predict"]) == 0 and capsys.readouterr().out.startswith("usage: seqkit predict ")


def test_train_help_lists_every_group_s_choices_with_the_default_and_a_user_folder(capsys, user_configs):
    assert command.main(["train", "--help", "--config-dir", str(user_configs)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("usage: seqkit train ")
    assert len(lines) <= 40 and max(map(len, lines)) <= usage.WIDTH
    for task in TASKS:
        assert f"  {task} " in out
    assert "  my_task         (yours) Marker sentences from my own files, mean pooling" in out
    assert "lstm*" in out and "adam*" in out and "csv*" in out and "default*" in out
    assert f"configs: {user_configs} (yours)" in out
    assert "outputs/<task>/runs/" in out
    # the same from the script's --help, named as the script is called
    from seqkit.app.usage import command_help

    assert command_help("train", ["--help"], "python scripts/train.py").startswith("usage: python scripts/train.py ")


def test_a_searchpath_override_names_a_user_folder_too(user_configs):
    argv = [f"hydra.searchpath=[file://{user_configs}]", "--help"]
    assert usage.user_config_dirs(argv) == [user_configs.resolve()]
    assert usage.user_config_dirs(["-cd", str(user_configs)]) == [user_configs.resolve()]
    assert usage.user_config_dirs([f"--config-dir={user_configs}"]) == [user_configs.resolve()]
    assert "my_task" in usage.overview(argv)


@pytest.mark.parametrize("name", ["predict", "evaluate", "generate", "export", "serve"])
def test_a_command_s_help_lists_its_settings(name, capsys):
    assert command.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: seqkit {name} ")
    assert "  ckpt_path=???" in out and "plugins=[]" in out
    assert "run.dir" not in out and "enable_progress_bar" not in out  # Hydra's and the accelerator's: --cfg job
    assert len(out.splitlines()) <= 30


def test_help_imports_neither_lightning_nor_torch(tmp_path):
    probe = (
        "import sys; from seqkit.app.command import main; main(['train', '--help']);"
        f" open({str(tmp_path / 'modules.txt')!r}, 'w').write('\\n'.join(sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules = set((tmp_path / "modules.txt").read_text().split())
    assert not modules & {"torch", "pytorch_lightning", "seqkit.app.train"}


def test_an_unknown_command_is_one_line_and_exit_status_2(capsys):
    assert command.main(["trian", "task=sentiment"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: unknown command 'trian': did you mean 'seqkit train'? the commands are train, evaluate, predict, "
        "generate, export, serve (seqkit --help)"
    ]
    assert command.main(["task=sentiment"]) == 2
    assert capsys.readouterr().err.startswith("error: 'task=sentiment' comes before a command: the commands are")
    assert command.main([]) == 2  # no command: the overview, on stderr
    assert "usage: seqkit <command>" in capsys.readouterr().err


def test_each_command_runs_the_script_s_code_with_the_rest_of_the_line(monkeypatch):
    calls = []
    app_main = types.ModuleType("seqkit.app.main")
    app_main.main = lambda name, argv, prog: calls.append((name, argv, prog))
    app_train = types.ModuleType("seqkit.app.train")
    app_train.main = lambda argv, prog: calls.append(("train", argv, prog))
    monkeypatch.setitem(sys.modules, "seqkit.app.main", app_main)
    monkeypatch.setitem(sys.modules, "seqkit.app.train", app_train)
    for name in ("train", "evaluate", "predict", "generate", "export"):
        assert command.main([name, "ckpt_path=x", "--cfg", "job"]) == 0
    assert calls == [
        (name, ["ckpt_path=x", "--cfg", "job"], f"seqkit {name}")
        for name in ("train", "evaluate", "predict", "generate", "export")
    ]


def test_python_dash_m_seqkit_is_the_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "seqkit", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"seqkit 0.1.0 ({REPO / 'seqkit'})", done
    done = subprocess.run(
        [sys.executable, "-m", "seqkit", "bogus"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith("error: unknown command 'bogus'")


def test_a_user_config_folder_comes_beside_the_shipped_configs(user_configs, hydra_runner, capsys):
    cfg = compose("train", [f"hydra.searchpath=[file://{user_configs}]", "task=my_task"])
    assert cfg.model.pooling == "mean" and cfg.model.shape == "classification" and cfg.monitor.metric == "val/acc"
    assert compose("train", ["task=my_task"]) is None  # not without the folder (Hydra's runner then says why)

    command.main(["train", "--config-dir", str(user_configs), "task=my_task", "--cfg", "job"])
    job = OmegaConf.create(capsys.readouterr().out)
    assert job.model.pooling == "mean" and job.task_name == "my_task"


def test_run_directories_are_relative_to_the_current_folder():
    """Never inside the installed package: Hydra makes a relative run directory under the current folder."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="seqkit.configs", version_base="1.3"):
        cfg = hydra_compose("train", overrides=["task=sentiment"], return_hydra_config=True)
    run = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
    sweep = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["dir"]
    assert run.startswith("outputs/${task_name}/runs/") and sweep.startswith("outputs/${task_name}/multiruns/")
    assert not cfg.hydra.job.chdir


def test_seqkit_train_leaves_sys_argv_as_ddp_workers_repeat_it(tmp_path, monkeypatch, hydra_runner, capsys):
    """Hydra parses ``train``'s arguments from sys.argv; training sees the process's own sys.argv again (Lightning's
    DDP launcher starts its workers with it: ``seqkit train ...``), and the resume hint names ``seqkit train``."""
    import seqkit.app.train as app_train

    seen = {}

    def fake_train(cfg):
        seen["argv"], seen["task"] = list(sys.argv), cfg.task_name
        seen["resume"] = app_train._resume_command("last.ckpt")
        return {"val/acc": 0.5}

    monkeypatch.setattr(app_train, "train", fake_train)
    monkeypatch.setattr(app_train, "_prog", app_train.SCRIPT)
    argv = ["/venv/bin/seqkit", "train", "task=sentiment", f"hydra.run.dir={tmp_path / 'run'}"]
    monkeypatch.setattr(sys, "argv", list(argv))
    assert command.main() == 0
    assert seen["argv"] == argv and seen["task"] == "sentiment"
    assert seen["resume"] == "seqkit train task=sentiment ckpt_path=last.ckpt"  # the task overrides (not hydra.*)
    assert sys.argv == argv and (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
