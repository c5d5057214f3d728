"""What the scripts do, as plain functions over a Hydra config: train, evaluate, predict.

Kept out of ``scripts/`` so tests and notebooks can call them with a composed config.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytorch_lightning as pl
import torch
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.callbacks import StochasticWeightAveraging
from pytorch_lightning.utilities import rank_zero_only

from seqkit import tasks
from seqkit.app.checkpoint import given_vectors  # noqa: F401 (generation imports it from here)
from seqkit.checkpoint import read_checkpoint, seqkit_metadata, weights_misfit
from seqkit.checkpoint_io import AtomicCheckpointIO
from seqkit.cli import _init_parameters, quiet_libraries, quiet_product_tips, report_errors, unknown_option_message  # noqa: F401 (scripts import them here)  # noqa: F401 (tests import it from here)
from seqkit.cli import set_threads as _set_threads
from seqkit.console_log import tee_console
from seqkit.data.errors import DataError
from seqkit.data.pretrained import vectors_source
from seqkit.predict_stream import stream_predictions
from seqkit.registry import DATA_MODULE, MODEL, checkpoint_class
from seqkit.resume import last_checkpoint, resume_point
from seqkit.run_dir import run_lock

# the paths a data module reads at training time; cleared when a checkpoint's data module is rebuilt (pretrained
# vectors: read again only from the packaged set or a file the user names, see seqkit.data.pretrained.vectors_source)
_TRAINING_SOURCES = {
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "builtin": None,
    "root": None,
    "pretrained": None,
}


def build(node: Any, **extra: Any) -> Any:
    """Call ``node["_target_"]`` (a class, or a factory function) with plain-Python arguments (no DictConfig
    reaches our classes)."""
    kwargs = {**_plain(node), **extra}  # extra (sizes learnt from the data) wins over the config
    return get_object(kwargs.pop("_target_"))(**kwargs)


def _plain(node: Any) -> Dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _set(node: Any) -> Dict[str, Any]:
    """The keys of a config node that were given a value (null means: keep the default)."""
    return {k: v for k, v in _plain(node).items() if v is not None}


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
    (seqkit.checkpoint_io): every training run saves through it."""
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
        return f"python scripts/train.py <your overrides> ckpt_path={ckpt}"
    return " ".join(["python scripts/train.py", *map(shlex.quote, overrides), f"ckpt_path={shlex.quote(ckpt)}"])


def load_checkpoint(ckpt_path: str, **data_overrides: Any) -> Tuple[pl.LightningModule, pl.LightningDataModule]:
    """Rebuild the model and its data module (vocabularies, labels, tokeniser, pretrained vectors) from one checkpoint file."""
    path = Path(ckpt_path)
    checkpoint = read_checkpoint(path)
    meta = seqkit_metadata(checkpoint, path)  # clear errors: missing, truncated, pickled objects, newer format
    if not meta.get("datamodule_class"):
        raise DataError(
            path,
            None,
            "holds no data module (trained without one, not by scripts/train.py): it has no "
            "vocabularies or label maps to predict with",
        )
    model_class = checkpoint_class(meta["model_class"], MODEL, path)  # registered classes only, checked before import
    datamodule_class = checkpoint_class(meta["datamodule_class"], DATA_MODULE, path)
    taken = _init_parameters(datamodule_class)  # generated data (task=adding) reads no files
    if "pretrained" not in taken:
        data_overrides.pop("pretrained", None)  # data.pretrained given for a data module without vectors
    state = checkpoint.get(datamodule_class.__qualname__)  # where Lightning keeps the data module's state
    record = state.get("pretrained") if isinstance(state, dict) else None
    if record is not None:  # which vectors file is read: the user's choice, never the checkpoint's
        vectors_source(record, data_overrides.get("pretrained"), path)
    overrides = {**{k: v for k, v in _TRAINING_SOURCES.items() if k in taken}, **data_overrides}
    datamodule = datamodule_class.load_from_checkpoint(path, weights_only=True, **overrides)
    try:
        model = model_class.load_from_checkpoint(
            path, map_location="cpu", weights_only=True, **datamodule.embedding_kwargs()
        )  # pretrained vectors
    except TypeError as e:  # hyper-parameters of another model class (an edited "seqkit" entry)
        raise DataError(
            path,
            None,
            f"its hyper-parameters do not build its model class {model_class.__name__} "
            f"({e}): the file was edited or mixes two models",
        ) from None
    except RuntimeError as e:
        misfit = weights_misfit(e, path)
        if misfit is None:
            raise
        raise misfit from None
    model.eval()
    return model, datamodule


def _plain_trainer(cfg: DictConfig) -> pl.Trainer:
    quiet_libraries()  # evaluate, predict: only seqkit's notices on stderr
    return build_trainer(cfg.trainer, logger=False, enable_checkpointing=False, enable_model_summary=False)


def evaluate(cfg: DictConfig) -> Dict[str, float]:
    """Metrics of the checkpoint on ``data.test_path`` (or the ``split`` of shipped ``data.builtin``), printed as
    one JSON line (the last line)."""
    _set_threads(cfg)
    split = str(cfg.get("split") or "test")
    if split not in ("test", "val"):
        raise ValueError(
            f"split={split}: give split=test (data.test_path, or the shipped data's test split) or split=val"
        )
    overrides = {k: v for k, v in _set(cfg.data).items() if v != "???"}
    if overrides.get("builtin") and overrides.get("test_path"):
        raise ValueError("give data.test_path=<file> or data.builtin=<name>, not both")
    if split == "val" and not overrides.get("builtin"):
        raise ValueError(
            "split=val scores the validation split of shipped data: give data.builtin=<name> too "
            "(for your own validation file: data.test_path=<file>)"
        )
    model, datamodule = load_checkpoint(cfg.ckpt_path, **overrides)
    if not (overrides.get("test_path") or overrides.get("builtin")) and not getattr(
        datamodule, "keeps_its_series", False
    ):
        raise ValueError("give the file to evaluate: data.test_path=<file> (or data.builtin=<name> for shipped data)")
    options = _set(cfg.get("options"))
    if options:  # data-module specific (forecasters: backtest, stride; conditional LMs: flip_condition)
        if not hasattr(datamodule, "set_evaluate_options"):
            raise ValueError(
                f"options.{next(iter(options))}: a {type(model).__name__} checkpoint takes no evaluate options"
            )
        datamodule.set_evaluate_options(**options)
    datamodule.setup("test" if split == "test" else "validate")
    trainer = _plain_trainer(cfg)
    run_split = trainer.test if split == "test" else trainer.validate
    results = run_split(model, datamodule=datamodule, verbose=False)
    metrics = {k: round(float(v), 6) for r in results for k, v in sorted(r.items())}
    print(json.dumps(metrics), flush=True)
    return metrics


def predict(cfg: DictConfig) -> int:
    """Predict every example of ``input`` (a file, or - for stdin), streaming: one JSON object a line, written
    chunk by chunk (seqkit.predict_stream). -> the number of examples."""
    _set_threads(cfg)
    model, datamodule = load_checkpoint(cfg.ckpt_path, **given_vectors(cfg))
    options = _set(cfg.get("options"))
    if hasattr(model, "predict_options"):  # the model keeps its own settings (seq2seq: beam_size, n_best)
        options = model.predict_options(options)
    vectors = getattr(datamodule, "vectors", None)
    reads = {"checkpoint": str(cfg.ckpt_path), "pretrained vectors": vectors.source if vectors is not None else None}
    return stream_predictions(
        model, datamodule, _plain_trainer(cfg), str(cfg.input), cfg.get("output"), options, reads=reads
    )
