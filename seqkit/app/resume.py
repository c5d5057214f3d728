"""Continue an interrupted training run, in its own run directory: ``scripts/train.py ... ckpt_path=last``.

``ckpt_path`` may be ``last`` (this run directory's ``checkpoints/last.ckpt`` if it has one, else the most
recently written one among its sibling runs that no process is still training in, i.e. this task's latest
run), a run directory, or a checkpoint file. A run another process is training in (seqkit.app.run_dir.run_lock)
is refused. Output then goes to the run being resumed (the fresh directory Hydra made for this command is
folded into it as ``.hydra/resume-<name>``). Lightning restores the weights, optimiser, schedulers, callbacks and
epoch; seqkit.training.callbacks.EpochSeed makes the epochs after it what they would have been without the stop.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytorch_lightning as pl
from hydra.utils import get_class
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from seqkit import tasks
from seqkit.app.run_dir import in_use_reason, is_running, made_by_this_command
from seqkit.checkpoint import check_model_class, class_path, read_checkpoint, seqkit_metadata
from seqkit.data.errors import DataError
from seqkit.data.pretrained import vectors_source
from seqkit.training.checkpoint_io import LAST


@dataclass
class ResumePoint:
    checkpoint: Path
    run_dir: Path
    state: Dict[str, Any]  # the checkpoint's contents (weights_only)
    finished: Optional[str]  # why nothing is left to train, or None

    def check_fits(self, model: pl.LightningModule) -> None:
        """DataError unless every weight of the checkpoint has the shape ``model`` expects (same settings)."""
        saved, wanted = self.state.get("state_dict", {}), model.state_dict()
        for name in sorted(set(saved) | set(wanted)):
            a, b = saved.get(name), wanted.get(name)
            if a is None or b is None or tuple(a.shape) != tuple(b.shape):
                raise DataError(
                    self.checkpoint,
                    None,
                    f"does not fit this configuration: {name} is {_shape(a)} in the "
                    f"checkpoint, {_shape(b)} here; resume with the settings the run was "
                    f"started with (see {self.run_dir / '.hydra' / 'overrides.yaml'})",
                )


def _shape(tensor: Any) -> str:
    return "absent" if tensor is None else str(list(tensor.shape))


def resume_point(cfg: DictConfig) -> Optional[ResumePoint]:
    """Resolve ``cfg.ckpt_path``; when resuming, point ``cfg.paths.output_dir`` at the run being resumed."""
    spec = cfg.get("ckpt_path")
    if not spec:
        return None
    out_dir = Path(cfg.paths.output_dir)
    lead = rank_zero_only.rank == 0  # DDP: the other ranks follow rank 0 into the run it holds the lock of
    checkpoint, run_dir = _locate(str(spec), out_dir, skip_running=lead)
    if lead and is_running(run_dir):
        raise DataError(run_dir, None, in_use_reason(run_dir))
    state = read_checkpoint(checkpoint)
    meta = seqkit_metadata(state, checkpoint)
    if not meta.get("shape") and tasks.registry.legacy_shape(meta) is not None:
        raise DataError(
            checkpoint,
            None,
            "was written before seqkit's per-shape layout: predict.py, evaluate.py, generate.py and export.py read "
            "it, but training resumes only from a checkpoint of this seqkit (start the run again)",
        )
    check_model_class(meta, checkpoint, class_path(get_class(cfg.model._target_)), "this configuration trains")
    _check_shape(meta, checkpoint, cfg)
    check_callback_paths(state, checkpoint, run_dir)
    _check_vectors(state, meta, checkpoint, cfg)
    if run_dir.resolve() != out_dir.resolve():
        _fold_into(out_dir, run_dir)
        cfg.paths.output_dir = str(run_dir)
    point = ResumePoint(checkpoint, run_dir, state, _finished(state, cfg))
    if point.finished is None:
        print(
            f"[seqkit] resuming {run_dir} from {checkpoint.name} (epoch {state.get('epoch', 0) + 1}, "
            f"step {state.get('global_step', 0)})",
            flush=True,
        )
    return point


def _check_shape(meta: Dict[str, Any], checkpoint: Path, cfg: DictConfig) -> None:
    """DataError unless the checkpoint trains the configuration's shape (``model.shape``)."""
    wanted = cfg.model.get("shape")
    if wanted is not None and meta.get("shape") != wanted:
        raise DataError(
            checkpoint,
            None,
            f"is a {meta.get('shape')} checkpoint, but this configuration trains a {wanted} model: resume with the "
            f"settings the run was started with",
        )


# the files a ModelCheckpoint callback's state names (Lightning restores them on resume), besides best_k_models
_FILE_KEYS = ("best_model_path", "last_model_path", "kth_best_model_path")


def check_callback_paths(state: Dict[str, Any], checkpoint: Path, run_dir: Path) -> None:
    """DataError unless every file the checkpoint's ModelCheckpoint states name lies inside this run's checkpoints
    directory: Lightning restores them, then validates and tests the best one and deletes one that a better
    checkpoint replaces. A copied or moved run (its states' ``dirpath`` is another directory, so Lightning restores
    only ``best_model_path``) may name files directly in that directory; ``..`` is refused anywhere."""
    home = (run_dir / "checkpoints").resolve()
    for key, callback in (state.get("callbacks") or {}).items():
        if not isinstance(callback, dict) or "best_model_path" not in callback:
            continue
        dirpath = callback.get("dirpath")
        if dirpath is not None and not _plain_path(dirpath):
            _refuse_path(checkpoint, key, dirpath, home)
        own = dirpath is None or Path(dirpath).resolve() == home
        ranked = callback.get("best_k_models") or {}
        for path in [callback.get(k) for k in _FILE_KEYS] + list(ranked if isinstance(ranked, dict) else [ranked]):
            if path in (None, ""):
                continue
            if not _plain_path(path):
                _refuse_path(checkpoint, key, path, home)
            inside = home in Path(path).resolve().parents
            written_elsewhere = not own and Path(path).parent == Path(dirpath)  # a copied or moved run's own file
            if not (inside or written_elsewhere):
                _refuse_path(checkpoint, key, path, home)


def _plain_path(path: Any) -> bool:
    return isinstance(path, str) and "\0" not in path and ".." not in Path(path).parts


def _refuse_path(checkpoint: Path, callback: str, path: Any, home: Path) -> None:
    name = str(callback).split("{", 1)[0]
    raise DataError(
        checkpoint,
        None,
        f"its {name} state names the file {path!r:.200}, outside this run's checkpoints "
        f"directory {home}; refused (resuming would validate with that file or delete it)",
    )


def _check_vectors(state: Dict[str, Any], meta: Dict[str, Any], checkpoint: Path, cfg: DictConfig) -> None:
    """A run trained with a vectors file resumes only where the command line names the file again."""
    data_state = state.get(str(meta.get("datamodule_class") or "").rsplit(".", 1)[-1])
    if isinstance(data_state, dict) and "pretrained" in data_state:
        vectors_source(
            data_state["pretrained"],
            (cfg.get("data") or {}).get("pretrained"),
            checkpoint,
            override="embedding.pretrained",
        )


def _locate(spec: str, out_dir: Path, skip_running: bool = True) -> Tuple[Path, Path]:
    """-> (checkpoint file, its run directory). ``last`` passes over sibling runs that a process is still
    training in (seqkit.app.run_dir.run_lock) when ``skip_running``."""
    if spec == "last":
        own = out_dir / "checkpoints" / LAST
        if own.is_file():
            return own, out_dir
        return _latest_sibling(out_dir, skip_running)
    path = Path(spec).expanduser()
    if path.is_dir():
        for candidate, run_dir in ((path / "checkpoints" / LAST, path), (path / LAST, path.parent)):
            if candidate.is_file():
                return candidate, run_dir
        raise DataError(path, None, f"nothing to resume: no checkpoints/{LAST} in this directory (no epoch finished?)")
    if not path.exists():
        raise DataError(path, None, "checkpoint not found (ckpt_path takes last, a run directory or a .ckpt file)")
    return path, (path.parent.parent if path.parent.name == "checkpoints" else out_dir)


def _latest_sibling(out_dir: Path, skip_running: bool) -> Tuple[Path, Path]:
    """The most recently written ``*/checkpoints/last.ckpt`` beside ``out_dir``, of a run no process is training."""
    runs = [p for p in out_dir.parent.glob(f"*/checkpoints/{LAST}") if p.parent.parent.resolve() != out_dir.resolve()]
    running = [p for p in runs if skip_running and is_running(p.parent.parent)]
    runs = [p for p in runs if p not in running]
    if not runs:
        if running:
            names = ", ".join(sorted(p.parent.parent.name for p in running))
            raise DataError(
                out_dir.parent,
                None,
                f"no run to resume: every run here with a checkpoints/{LAST} is still "
                f"training ({names}); wait for it to end, or give ckpt_path=<run dir>",
            )
        raise DataError(
            out_dir.parent, None, f"no run to resume: no */checkpoints/{LAST} here (give ckpt_path=<run dir>)"
        )
    latest = max(runs, key=lambda p: p.stat().st_mtime)
    return latest, latest.parent.parent


def _fold_into(fresh: Path, run_dir: Path) -> None:
    """Keep this command's Hydra record inside the resumed run. Remove the fresh directory only if Hydra created
    it for this command and nothing but log files is left in it: never a folder that existed before (the user's
    ``hydra.run.dir``), never a file this command did not write."""
    if not fresh.is_dir():
        return
    made_here = made_by_this_command(fresh)
    record = fresh / ".hydra"
    if record.is_dir():
        target = run_dir / ".hydra" / f"resume-{fresh.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if made_here:
            shutil.move(str(record), str(target))
        else:  # a folder that existed: copy what Hydra wrote there, leave the folder as it is
            target.mkdir(exist_ok=True)
            for path in record.iterdir():
                if path.is_file():
                    shutil.copy2(path, target / path.name)
    left = list(fresh.iterdir())
    if made_here and all(p.suffix == ".log" and p.is_file() for p in left):
        with contextlib.suppress(OSError):  # something appeared meanwhile: keep it
            for path in left:
                path.unlink()
            fresh.rmdir()


def _finished(state: Dict[str, Any], cfg: DictConfig) -> Optional[str]:
    """Why the run in ``state`` has nothing left to do under ``cfg.trainer``, or None."""
    progress = state.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    epochs = int(progress.get("processed", state.get("epoch", 0)))  # training epochs run to their end
    steps = int(state.get("global_step", 0))
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps") or -1
    run = Path(cfg.paths.output_dir)
    if max_steps > 0 and steps >= max_steps:
        return f"{run} has finished: {steps} of trainer.max_steps={max_steps} steps done; nothing to resume"
    if max_epochs is not None and max_epochs >= 0 and epochs >= max_epochs and max_steps <= 0:
        return (
            f"{run} has finished: {epochs} of trainer.max_epochs={max_epochs} epochs done; nothing to resume "
            f"(raise trainer.max_epochs to train on)"
        )
    for key, callback_state in state.get("callbacks", {}).items():
        if key.startswith("EarlyStopping") and callback_state.get("stopped_epoch", 0) > 0:
            return f"{run} has finished: early stopping ended it at epoch {callback_state['stopped_epoch'] + 1}; nothing to resume"
    return None
