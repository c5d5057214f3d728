"""GPU benchmark: each shape's training step on the cuDNN path, in fp32 and in 16-bit mixed precision, against the CPU.

    python scripts/bench_gpu.py                                   # every shape (needs a CUDA GPU)
    python scripts/bench_gpu.py --shapes lm,seq2seq --batches 100 --cpu-threads 1,16
    python scripts/bench_gpu.py --quick                           # classifier and forecast, toy run: does it run?

(scripts/bench_gpu.py runs ``main``; each shape's child process is ``python -m seqkit.benchmark.gpu --one SHAPE``.)

Each shape's recipe is composed from seqkit/configs/ as ``train.py <overrides>`` composes it (the same ones as
``bench_speed.py``: task=sentiment, task=ner without GloVe, task=lm, task=g2p, experiment=etth1 on a generated
series). One process per shape (so that the CPU's peak memory is that shape's), which trains the same initial
weights on the same pre-made batches with the recipe's ``pl.Trainer`` under each mode:

  cpu-<T>          accelerator=cpu, 32-true, T torch threads (--cpu-threads; its batches: --cpu-batches)
  cuda-32          accelerator=gpu, 32-true (cuDNN RNNs, fp32; TF32 as torch leaves it: off for matmuls)
  cuda-16-mixed    accelerator=gpu, 16-mixed (fp16 autocast, gradient scaling): ``trainer=gpu``
  cuda-bf16-mixed  accelerator=gpu, bf16-mixed (bf16 autocast, no scaling)
  ... xK           the two mixed modes again with data.batch_size multiplied by K (--batch-scale; 0: skip)

A mode runs 1 + --rounds epochs over its batches; the first is the warm-up (cuDNN plans, allocator) and the
figure is the median of the others: tokens/s (the real, non-pad tokens; seq2seq: target tokens; forecast:
windows), with the GPU synchronised at each epoch's edges. Memory: the CUDA allocator's peak (tensors) for GPU
modes, the growth of the process's peak resident set during training for the CPU. "loss" is the mean training
loss of the last epoch: the modes start from the same weights and see the same batches, so it should agree to
about a percent between precisions (mixed precision trains the same model). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Sequence

import torch

from seqkit.benchmark.loops import TRAINING_ONLY, batches_loader, epoch_batches, real_tokens, target_tokens, windows_of
from seqkit.benchmark.recipes import LM_OVERRIDES, TAGGER_OVERRIDES, describe_model, forecast_recipe, section_recipe
from seqkit.benchmark.timing import median, quiet_lightning, set_threads

ROOT = str(Path(__file__).resolve().parents[2])  # the seqkit this process runs: the child imports the same one
SHAPES: Dict[str, Dict[str, Any]] = {
    "classifier": {"overrides": ["task=sentiment"], "count": real_tokens, "unit": "tokens"},
    "tagger": {"overrides": ["task=ner", *TAGGER_OVERRIDES], "count": real_tokens, "unit": "tokens"},
    "lm": {"overrides": ["task=lm", *LM_OVERRIDES], "count": real_tokens, "unit": "tokens"},
    "seq2seq": {"overrides": ["task=g2p"], "count": target_tokens, "unit": "target tokens"},
    "forecast": {"overrides": None, "count": windows_of, "unit": "windows"},  # recipes.forecast_recipe
}


QUICK_SHAPES = ["classifier", "forecast"]  # --quick: a README-test smoke run (the others read more data)


def recipe_for(shape: str, args, extra: Sequence[str] = ()):
    ns = SimpleNamespace(quick=args.quick, override=[], seed=args.seed, ett=None)
    if shape == "forecast":
        return forecast_recipe(ns, extra)[0]
    return section_recipe(ns, shape, [*SHAPES[shape]["overrides"], *extra])


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def fit_mode(
    recipe,
    init: Dict[str, torch.Tensor],
    batches: Sequence[Any],
    units: int,
    *,
    accelerator: str,
    precision: str,
    rounds: int,
) -> Dict[str, Any]:
    """Train ``init`` on ``batches`` for 1 + rounds epochs with the recipe's Trainer -> figures of the mode."""
    import pytorch_lightning as pl

    from seqkit.app.train import build_trainer

    cuda = accelerator == "gpu"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    class Probe(pl.Callback):
        """Wall clock of each epoch (GPU synchronised at its edges) and the last epoch's training losses."""

        def __init__(self):
            self.seconds: List[float] = []
            self.losses: List[torch.Tensor] = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.losses = []
            sync()
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.losses.append(loss.detach())

        def on_train_epoch_end(self, trainer, pl_module):
            sync()
            self.seconds.append(time.perf_counter() - self._start)

    model = recipe.model(init)
    probe = Probe()
    trainer = build_trainer(
        recipe.trainer_cfg,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=1 + rounds,
        callbacks=[probe],
        **TRAINING_ONLY,
    )
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    rss, peak_before = rss_mb(), peak_rss_mb()
    trainer.fit(model, train_dataloaders=batches_loader(batches))
    if cuda:
        memory = {"peak_mb": torch.cuda.max_memory_allocated() / 2**20, "what": "CUDA allocator peak"}
    else:
        grown = peak_rss_mb() - max(rss, 0.0)
        memory = {
            "peak_mb": max(grown, 0.0),
            "what": "peak RSS growth"
            + ("" if peak_rss_mb() > peak_before else " (at most; the peak predates training)"),
        }
    timed = probe.seconds[1:]
    loss = float(torch.stack([x.float() for x in probe.losses]).mean().cpu())
    return {
        "units_per_s": units / median(timed),
        "rounds_units_per_s": [round(units / s, 1) for s in timed],
        "batches": len(batches),
        "units_per_epoch": units,
        "memory": memory,
        "loss": loss,
        "finite": bool(torch.isfinite(torch.tensor(loss))),
    }


def run_shape(shape: str, args) -> Dict[str, Any]:
    """Every mode of one shape, in this process."""
    import pytorch_lightning as pl

    quiet_lightning()
    spec = SHAPES[shape]
    recipe = recipe_for(shape, args)
    _, init = recipe.initial_model(args.seed)
    n_params = sum(v.numel() for v in init.values())
    out: Dict[str, Any] = {
        "recipe": recipe.overrides,
        "model": describe_model(recipe),
        "parameters": n_params,
        "batch_size": int(recipe.cfg.data.batch_size),
        "unit": spec["unit"],
        "modes": {},
    }
    gpu_batches = epoch_batches(recipe.datamodule, None, args.batches)
    cpu_batches = gpu_batches[: args.cpu_batches]
    for threads in args.cpu_threads:  # CPU first: its peak RSS is measured against this process's
        set_threads(threads)
        out["modes"][f"cpu-{threads}"] = fit_mode(
            recipe,
            init,
            cpu_batches,
            spec["count"](cpu_batches),
            accelerator="cpu",
            precision="32-true",
            rounds=args.rounds,
        )
    if not torch.cuda.is_available():
        out["gpu"] = None
        return out
    out["gpu"] = torch.cuda.get_device_name()
    units = spec["count"](gpu_batches)
    for name, precision in (("cuda-32", "32-true"), ("cuda-16-mixed", "16-mixed"), ("cuda-bf16-mixed", "bf16-mixed")):
        out["modes"][name] = fit_mode(
            recipe, init, gpu_batches, units, accelerator="gpu", precision=precision, rounds=args.rounds
        )
    if args.batch_scale > 1:
        size = int(recipe.cfg.data.batch_size) * args.batch_scale
        big = recipe_for(shape, args, [f"data.batch_size={size}"])
        big_batches = epoch_batches(big.datamodule, None, max(args.batches // args.batch_scale, 4))
        units = spec["count"](big_batches)
        for name, precision in (("cuda-32", "32-true"), ("cuda-bf16-mixed", "bf16-mixed")):
            out["modes"][f"{name} x{args.batch_scale}"] = fit_mode(
                big, init, big_batches, units, accelerator="gpu", precision=precision, rounds=args.rounds
            )
    out["lightning"] = pl.__version__
    return out


def print_table(shape: str, fig: Dict[str, Any], cpu_ref: str) -> None:
    print(
        f"== {shape}: {fig['model']}, {fig['parameters']:,} parameters, batch {fig['batch_size']}; "
        f"{fig.get('gpu') or 'no GPU'}"
    )
    print(f"   recipe: train.py {' '.join(fig['recipe'])}")
    print(f"   {'mode':<22} {'batches':>7} {fig['unit'] + '/s':>16} {'x ' + cpu_ref:>10} {'peak MB':>9} {'loss':>8}")
    base = fig["modes"].get(cpu_ref, {}).get("units_per_s")
    for name, m in fig["modes"].items():
        times = f"{m['units_per_s'] / base:>9.1f}x" if base else f"{'':>10}"
        print(
            f"   {name:<22} {m['batches']:>7} {m['units_per_s']:>16,.0f} {times} {m['memory']['peak_mb']:>9,.1f} "
            f"{m['loss']:>8.4f}{'' if m['finite'] else '  NOT FINITE'}"
        )
    sys.stdout.flush()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--shapes",
        default=None,
        help=f"comma-separated, from: {', '.join(SHAPES)} (default: all; with --quick: {','.join(QUICK_SHAPES)})",
    )
    p.add_argument("--batches", type=int, default=100, help="training batches an epoch on the GPU")
    p.add_argument("--cpu-batches", type=int, default=20, help="of those, the ones an epoch on the CPU")
    p.add_argument("--cpu-threads", default="1", help="comma-separated torch thread counts of the CPU modes")
    p.add_argument("--rounds", type=int, default=3, help="timed epochs a mode (after one warm-up epoch)")
    p.add_argument("--batch-scale", type=int, default=8, help="GPU modes again with batch_size x this (0/1: skip)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 round of 3 batches (CPU: 2), no batch scaling, "
        "the shapes in this process, the two with the least data unless --shapes says (figures meaningless)",
    )
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: one shape, JSON to stdout
    args = p.parse_args(argv)
    args.shapes = [
        s.strip() for s in (args.shapes or ",".join(QUICK_SHAPES if args.quick else SHAPES)).split(",") if s.strip()
    ]
    unknown = [s for s in args.shapes if s not in SHAPES]
    if unknown:
        p.error(f"unknown shape(s) {unknown}; choose from {list(SHAPES)}")
    args.cpu_threads = [int(t) for t in args.cpu_threads.split(",") if t.strip()]
    if args.quick:
        args.rounds, args.batches, args.cpu_batches, args.batch_scale, args.cpu_threads = 1, 3, 2, 0, [1]
    if min([args.batches, args.cpu_batches, args.rounds, *args.cpu_threads]) < 1:
        p.error("--batches, --cpu-batches, --rounds and --cpu-threads must be >= 1")
    return args


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    if args.one:
        print("FIGURES " + json.dumps(run_shape(args.one, args), default=float), flush=True)
        return {}
    print(
        f"seqkit GPU benchmark: torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version() if torch.cuda.is_available() else None}), python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, GPU: "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'none (CPU modes only)'}"
    )
    print(
        ("QUICK mode (figures meaningless); " if args.quick else "")
        + f"{1 + args.rounds} epochs a mode (first = warm-up); {args.batches} batches an epoch on the GPU, "
        f"{args.cpu_batches} on the CPU; CPU threads {args.cpu_threads}"
    )
    summary: Dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "shapes": {}}
    cpu_ref = f"cpu-{args.cpu_threads[0]}"
    for shape in args.shapes:
        start = time.perf_counter()
        if args.quick:
            summary["shapes"][shape] = fig = run_shape(shape, args)
            print_table(shape, fig, cpu_ref)
            continue
        child = [a for a in (argv if argv is not None else sys.argv[1:])]
        path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, "-m", "seqkit.benchmark.gpu", *child, "--one", shape],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("FIGURES ")]
        if done.returncode or not lines:
            print(f"== {shape}: FAILED (exit {done.returncode})\n{done.stderr[-3000:]}", flush=True)
            summary["shapes"][shape] = {"error": done.stderr[-3000:]}
            continue
        fig = json.loads(lines[-1][len("FIGURES ") :])
        fig["seconds"] = round(time.perf_counter() - start, 1)
        summary["shapes"][shape] = fig
        print_table(shape, fig, cpu_ref)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=float) + "\n", encoding="utf-8")
    print(json.dumps(summary, default=float), flush=True)
    return summary


if __name__ == "__main__":
    main()
