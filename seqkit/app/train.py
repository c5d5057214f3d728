"""Training, as a plain function over a Hydra config (``seqkit train``, ``scripts/train.py``): build the data module,
the model and Lightning's Trainer from the config, fit, then validate and test the best checkpoint.

``train(cfg)`` is kept apart from the command line so tests and notebooks can call it with a composed config;
``main(argv)`` is the command: Hydra's application runner on ``seqkit/configs/train.yaml``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl
import torch
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.callbacks import StochasticWeightAveraging
from pytorch_lightning.utilities import rank_zero_only

from seqkit import tasks
from seqkit.app.cli import quiet_product_tips, report_errors
from seqkit.app.cli import set_threads as _set_threads
from seqkit.app.config import CONFIG_PATH
from seqkit.app.console_log import tee_console
from seqkit.app.resume import resume_point
from seqkit.app.run_dir import run_lock
from seqkit.app.usage import command_help, show, wants_help
from seqkit.training.checkpoint_io import AtomicCheckpointIO, last_checkpoint


def build(node: Any, **extra: Any) -> Any:
    """Call ``node["_target_"]`` (a class, or a factory function) with plain-Python arguments (no DictConfig
    reaches our classes)."""
    kwargs = {**_plain(node), **extra}  # extra (sizes learnt from the data) wins over the config
    return get_object(kwargs.pop("_target_"))(**kwargs)


def _plain(node: Any) -> Dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _build_all(group: Optional[DictConfig]) -> List[Any]:
    built = (build(node) for node in (group or {}).values() if node is not None and "_target_" in node)
    return [obj for obj in built if obj is not None]  # a factory may decline (e.g. progress output turned off)


CUDA_HINT = (
    "install a CUDA build of torch on a machine with an NVIDIA GPU: pick the build for its driver at "
    "https://pytorch.org/get-started/locally/ and install it with pip's --index-url, "
    "e.g. pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
)


def check_accelerator(trainer_cfg: DictConfig) -> None:
    """``trainer=gpu`` without a usable CUDA device is one clear error, before any data is read."""
    if str(trainer_cfg.get("accelerator")) in ("gpu", "cuda") and not torch.cuda.is_available():
        build_kind = (
            f"this torch {torch.__version__} is a CPU-only build"
            if torch.version.cuda is None
            else f"this torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU"
        )
        raise ValueError(f"trainer=gpu needs a CUDA GPU, and {build_kind}; use trainer=default (CPU), or {CUDA_HINT}")


def check_not_a_ddp_sweep(trainer_cfg: DictConfig) -> None:
    """DDP's launcher starts each extra process by re-running the command line: inside a Hydra multirun every
    process would run the whole sweep. One clear error instead."""
    if "ddp" not in str(trainer_cfg.get("strategy") or ""):
        return
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # called without Hydra
        return
    if multirun:
        raise ValueError(
            "trainer=ddp trains one run on several processes and does not combine with a sweep "
            "(-m or hparams_search=...): sweep with one process per trial, then train the best with trainer=ddp"
        )


def build_trainer(trainer_cfg: DictConfig, **extra: Any) -> pl.Trainer:
    check_accelerator(trainer_cfg)
    return build(trainer_cfg, **extra)


def _with_atomic_checkpoints(plugins: Any) -> List[Any]:
    """``trainer.plugins`` plus the checkpoint writer that never leaves a half-written checkpoint
    (seqkit.training.checkpoint_io): every training run saves through it."""
    given = (
        OmegaConf.to_container(plugins, resolve=True)
        if isinstance(plugins, ListConfig)
        else [plugins]
        if plugins
        else []
    )
    return [*given, AtomicCheckpointIO()]


def train(cfg: DictConfig) -> Dict[str, float]:
    """Fit on train, pick the best checkpoint on validation, test it; returns the final metrics.

    Everything the run prints also goes to ``<run dir>/train.log``. With ``callbacks=swa`` the averaged
    model, saved as ``checkpoints/swa.ckpt``, is the one validated, tested and reported."""
    _set_threads(cfg)
    quiet_product_tips()
    tasks.registry.import_plugins(cfg.get("plugins"))  # shapes registered outside seqkit (configs' plugins: [...])
    resume = resume_point(cfg)  # ckpt_path=last | <run dir> | <file>: continue that run, in its own directory
    if resume is not None and resume.finished:
        print(f"[seqkit] {resume.finished}", flush=True)
        return {}
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rank = rank_zero_only.rank  # DDP: set from the launcher's environment (RANK, LOCAL_RANK, SLURM_PROCID)
    lock = run_lock(out_dir) if rank == 0 else contextlib.nullcontext()  # the other ranks train under rank 0's
    with lock, tee_console(out_dir / ("train.log" if rank == 0 else f"train.rank{rank}.log")):
        return _train(cfg, out_dir, resume)


def _train(cfg: DictConfig, out_dir: Path, resume) -> Dict[str, float]:
    check_accelerator(cfg.trainer)
    check_not_a_ddp_sweep(cfg.trainer)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    model.monitor = cfg.monitor.metric  # one home: the config (the checkpoint callback reads it there too)
    if resume is not None:
        resume.check_fits(model)
    print(f"[seqkit] run directory: {out_dir.resolve()}", flush=True)
    trainer = build_trainer(
        cfg.trainer,
        callbacks=_build_all(cfg.get("callbacks")),
        logger=_build_all(cfg.get("logger")) or False,
        default_root_dir=str(out_dir),
        plugins=_with_atomic_checkpoints(cfg.trainer.get("plugins")),
    )
    try:
        trainer.fit(
            model,
            datamodule=datamodule,
            ckpt_path=None if resume is None else str(resume.checkpoint),
            weights_only=True,
        )
    except SystemExit:  # Lightning's graceful Ctrl-C: it stops, tears down, then exits
        if trainer.interrupted:
            _report_interrupt(trainer)
            sys.exit(130)
        raise
    best = evaluation_checkpoint(trainer, out_dir)
    ckpt = best or None
    metrics: Dict[str, float] = {}
    for result in trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False):
        metrics.update(result)
    if cfg.get("test", True) and "test" in datamodule.datasets:
        for result in trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False):
            metrics.update(result)
    metrics = {k: round(float(v), 6) for k, v in sorted(metrics.items())}
    summary = {"best_checkpoint": best, **metrics}
    if trainer.is_global_zero:  # DDP: every rank has the same metrics (each evaluates all of the data)
        print(json.dumps(summary), flush=True)
    return metrics


def evaluation_checkpoint(trainer: pl.Trainer, out_dir: Path) -> str:
    """The checkpoint to validate and test after fitting: the best on validation, or with stochastic
    weight averaging the averaged model (Lightning swaps it in at the end of fit, but no checkpoint holds
    it), saved here as ``checkpoints/swa.ckpt``. Only a file the callback wrote in its own directory: a resumed
    run's restored path (a copied run's, which names its old directory) is not read."""
    if any(isinstance(cb, StochasticWeightAveraging) for cb in trainer.callbacks):
        path = out_dir / "checkpoints" / "swa.ckpt"
        trainer.save_checkpoint(path, weights_only=True)
        return str(path.resolve())
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback and callback.dirpath else ""
    return best if best and Path(best).resolve().parent == Path(callback.dirpath).resolve() else ""


def _report_interrupt(trainer: pl.Trainer) -> None:
    """After Ctrl-C: where the best checkpoint so far is, and the command that continues from it."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback else ""
    last = last_checkpoint(trainer)
    print(f"[seqkit] interrupted in epoch {trainer.current_epoch} (step {trainer.global_step})", file=sys.stderr)
    if not best:
        print("[seqkit] no checkpoint was saved yet: nothing to resume from", file=sys.stderr, flush=True)
        return
    score = callback.best_model_score
    print(
        f"[seqkit] best checkpoint so far: {best}"
        + (f" ({callback.monitor} {float(score):.4f})" if score is not None else ""),
        file=sys.stderr,
    )
    print(f"[seqkit] resume with: {_resume_command(last or best)}", file=sys.stderr, flush=True)


def _resume_command(ckpt: str) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("ckpt_path=")]
    except ValueError:  # called without Hydra (a notebook, a test): the overrides are unknown
        return f"{_prog} <your overrides> ckpt_path={ckpt}"
    return " ".join([_prog, *map(shlex.quote, overrides), f"ckpt_path={shlex.quote(ckpt)}"])


SCRIPT = "python scripts/train.py"
_prog = SCRIPT  # how this process was called, for the resume hint: SCRIPT or "seqkit train" (set by main)


def main(argv: Optional[List[str]] = None, prog: str = SCRIPT) -> None:
    """``seqkit train`` and ``scripts/train.py``: Hydra's application runner on ``train.yaml`` with ``argv`` (by
    default ``sys.argv[1:]``) -> None; ``--help`` prints the tasks and groups (seqkit.app.usage).

    Hydra reads ``sys.argv``, so it is given ``[program, *argv]`` while it parses, and the process's own
    ``sys.argv`` is back before training starts: what DDP re-runs in its worker processes (Lightning repeats
    ``sys.argv``: ``seqkit train ...``, ``python -m seqkit train ...`` or ``scripts/train.py ...``)."""
    global _prog
    own = list(sys.argv)
    argv = own[1:] if argv is None else list(argv)
    if wants_help(argv):
        show(command_help("train", argv, prog))
        return
    import hydra

    _prog = prog

    @functools.wraps(_run)
    def run(cfg: DictConfig) -> Any:
        sys.argv[:] = own
        return _run(cfg)

    sys.argv[:] = [own[0] if own else prog, *argv]
    try:
        hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")(run)()
    finally:
        sys.argv[:] = own
        _prog = SCRIPT  # the hint of a later in-process train() (a notebook, a test) is the script's again


@report_errors
def _run(cfg: DictConfig) -> Any:
    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric") or cfg.monitor.metric)  # the value Hydra sweepers optimise
