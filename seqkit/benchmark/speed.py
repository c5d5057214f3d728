"""Training-speed benchmarks: every figure is a ratio against a baseline measured in the same run.

    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections classifier,tagger,lm,seq2seq,forecast --threads 1
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections classifier --sst2 ../shared/data/sst2
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections tagger --conll2003 ../shared/data/conll2003
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections gradient_flow --epochs 2
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections predict
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections export
    python scripts/bench_speed.py --quick            # a few batches of the built-in data: does it run?

Absolute tokens/s depend on the machine and on whatever else runs on it, so each section compares two
ways of doing the same work, measured alternately (A B, B A, A B, ...) after a warm-up, and reports the
median of each and their ratio. Only the timing lives in seqkit.benchmark: every section's model, data, optimiser,
gradient clipping and Trainer settings are composed from seqkit/configs/ (``seqkit.benchmark.recipes``: Hydra's compose
API, then ``seqkit.app.train.build`` as train.py builds them); the benchmark adds only overrides (strings: the ``recipe:``
line each section prints, ``QUICK_OVERRIDES``, ``--override SECTION:KEY=VALUE``). The plain loop's loss is the
network's own (``module.network.loss(batch)``, ``seqkit.benchmark.loops``).

Every training section (classifier, tagger, lm, seq2seq, forecast) reports, in one run on --threads threads:
Lightning Trainer vs a plain PyTorch loop (target >= 0.95); the achieved GFLOP/s of both against a square fp32
GEMM timed in the same process (step FLOPs counted with FlopCounterMode, ``seqkit.benchmark.flops``); and an
inference throughput (``figures["inference"]`` in the JSON line).

Sections (``--sections``, comma-separated; one module of seqkit.benchmark each, registered in ``SECTIONS``):
  classifier  task=sentiment (built-in data), or its model on all of SST-2 train (``--sst2 DIR``):
              1. Lightning Trainer vs a plain PyTorch loop (same model, batches, optimiser, clipping); 1b. GFLOP/s
              2. bucketed vs shuffled (unbucketed) batches, plain loop
              3. fused (packed nn.LSTM) vs cell (Python loop over nn.LSTMCell) backbone, plain loop
              4. inference: eval-mode forward over the validation split in the recipe's eval batches
  tagger      experiment=conll2003 (``--conll2003 DIR``) or task=ner (built-in WNUT-17), embedding.pretrained=null
              (word 100 trained from scratch + char CNN, BiLSTM 200, constrained CRF, batch 16, Adam lr 0.002):
              1. Lightning Trainer vs a plain PyTorch BiLSTM-CRF loop (the same --tagger-batches pre-made
                 batches); 1p. with seqkit[bench], a Flair BiLSTM-CRF of the same size on the same batches
                 (seqkit.benchmark.flair_peer; goal seqkit/Flair >= 5); 1b. GFLOP/s
              2. the CRF's share of a training step (CRF nll forward+backward alone on the step's emissions,
                 over the full step: forward, nll, backward, clip, Adam)
              3. decoding the validation set (the recipe's eval batches): Viterbi sentences/s on precomputed
                 emissions against argmax (the softmax head's decode); the full model decode (the inference figure)
  tagger_sparse  the tagger's step with dense for-loop Adam, fused Adam, and embedding.sparse=true (lazy Adam on
              the word rows a batch uses): tokens/s, the optimiser's share, a torch.profiler table (scripts/bench_sparse.py)
  gradient_flow  the classifier section's model and batches under pl.Trainer with callbacks=gradient_flow
              (records every --gradient-flow-every steps, pictures at the end of fit) vs without (target >= 0.9)
  forecast    experiment=etth1 with model.highway=none (LSTM 64, direct head, last-value norm; input 96 -> 24,
              batch 64) on ETTh1 (``--ett DIR``) or a generated hourly series of the same shape:
              1. Lightning Trainer vs a plain PyTorch loop on the same --forecast-batches windows; 1b. GFLOP/s
              2. forecasts/s: Trainer.predict (predict.py's path) against the bare forward, validation windows
  lm          task=lm with model.sample_length=0 (char level, 2-layer LSTM 512, 32 streams x 64 steps):
              1. Lightning Trainer (truncated BPTT, state carried and detached) vs a plain PyTorch TBPTT loop over
                 the same --lm-batches chunks; 1b. GFLOP/s
              2. greedy generation of --lm-generate-tokens characters with incremental state (one step a token)
                 vs recomputing the whole prefix for every token (the same tokens, checked)
              3. fused (packed nn.LSTM) vs cell (nn.LSTMCell loop) backbone, plain TBPTT loop
  predict     scripts/predict.py with a task=sentiment checkpoint (``--predict-ckpt``, or the recipe trained a few steps):
              1. start-up: wall clock of a fresh process answering 10 sentences, compose API vs @hydra.main vs
                 importing torch alone
              2. sentences/s once started (file -> JSON lines) vs the bare network's predict
  seq2seq     task=g2p (BiLSTM 128, dot attention, batch 256) on the built-in CMU dictionary:
              1. Lightning Trainer vs a plain PyTorch loop (the same --seq2seq-batches batches); 1b. GFLOP/s
              2. beam search (beam 5) over the validation words: batched (batch x beam rows a step) vs one
                 sentence at a time (--seq2seq-single words), and beam 5 vs greedy
  export      inference of the classifier section's model and the tagger section's (eval mode, length-sorted
              batches of --export-batch-size training sentences): eager PyTorch vs TorchScript vs onnxruntime
              (scripts/export.py's graphs, one thread), sentences/s; the tagger also decoded (eager Viterbi vs
              onnxruntime emissions + seqkit.export.runtime's numpy Viterbi). Needs seqkit[export].

The output is a compact table per section and, as the last line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from typing import Any, Callable, Dict, Optional, Sequence

import torch

from seqkit.benchmark.timing import quiet_lightning, set_threads, threads_line

# section -> "module:function" of seqkit.benchmark (imported when the section runs)
SECTIONS: Dict[str, str] = {
    "classifier": "classifier:bench_classifier",
    "tagger": "tagger:bench_tagger",
    "tagger_sparse": "sparse:bench_tagger_sparse",
    "gradient_flow": "gradient_flow:bench_gradient_flow",
    "forecast": "forecast:bench_forecast",
    "lm": "lm:bench_lm",
    "seq2seq": "seq2seq:bench_seq2seq",
    "predict": "predict:bench_predict",
    "export": "export:bench_export",
}


def section(name: str) -> Callable[[argparse.Namespace], Dict[str, Any]]:
    """The function of section ``name``."""
    module, function = SECTIONS[name].split(":")
    return getattr(importlib.import_module(f"seqkit.benchmark.{module}"), function)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--sections", default="classifier", help=f"comma-separated sections to run, from: {', '.join(SECTIONS)}"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (on a busy 2-core machine two threads can stall in OpenMP)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rounds", type=int, default=3, help="alternating measurements of each side; median reported")
    p.add_argument("--epochs", type=int, default=1, help="epochs a round (sections 1 and 2)")
    p.add_argument("--warmup-batches", type=int, default=20, help="batches of the warm-up run before timing")
    p.add_argument("--cell-batches", type=int, default=50, help="batches timed for fused vs cell (cell is slow)")
    p.add_argument(
        "--max-batches",
        type=int,
        default=None,
        help="cap on the batches of every training comparison (None: the whole epoch; seq2seq: also "
        "decodes one validation batch only)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 round, 6 batches an epoch, 3 cell batches, 2 warm-up batches, toy sizes",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="SECTION:KEY=VALUE",
        help="a Hydra override of one section's recipe, e.g. classifier:backbone.cell=gru or "
        "tagger:data.batch_size=32 (repeatable; sizes live in seqkit/configs/, not here)",
    )
    p.add_argument(
        "--flop-batches",
        type=int,
        default=8,
        help="batches (spread over the timed ones) whose step FLOPs are counted with FlopCounterMode",
    )
    g = p.add_argument_group("classifier")
    g.add_argument(
        "--sst2", default=None, help="directory holding stsa.binary.train (None: the built-in sentiment data)"
    )
    g = p.add_argument_group("gradient_flow (the classifier options above choose its model and data)")
    g.add_argument("--gradient-flow-every", type=int, default=50, help="GradientFlow records every this many steps")
    g = p.add_argument_group("tagger")
    g.add_argument(
        "--conll2003", default=None, help="directory holding train.txt and valid.txt (None: built-in WNUT-17)"
    )
    g.add_argument(
        "--tagger-batches",
        type=int,
        default=300,
        help="training batches timed in tagger section 1 (300: ~2.5 min of the section on an idle core)",
    )
    g.add_argument(
        "--tagger-step-batches",
        type=int,
        default=100,
        help="training batches (the first of section 1's) timed for the CRF's share of a step",
    )
    g.add_argument("--no-peer", action="store_true", help="skip the Flair peer even when flair is installed")
    g = p.add_argument_group("forecast")
    g.add_argument("--ett", default=None, help="directory holding ETTh1.csv (None: a generated hourly series)")
    g.add_argument("--forecast-batches", type=int, default=100, help="training batches timed (of 64 windows)")
    g = p.add_argument_group("lm")
    g.add_argument("--lm-batches", type=int, default=20, help="truncated-BPTT chunks timed in lm section 1")
    g.add_argument("--lm-generate-tokens", type=int, default=500, help="characters generated in lm section 2")
    g = p.add_argument_group("seq2seq")
    g.add_argument("--seq2seq-batches", type=int, default=100, help="training batches (of 256 words) timed")
    g.add_argument("--seq2seq-single", type=int, default=300, help="validation words decoded one at a time")
    g = p.add_argument_group("predict")
    g.add_argument(
        "--predict-ckpt",
        default=None,
        help="a classifier checkpoint (None: the task=sentiment recipe, "
        "trained --predict-train-steps steps on the built-in data)",
    )
    g.add_argument("--predict-train-steps", type=int, default=20, help="training steps of that checkpoint")
    g.add_argument("--predict-sentences", type=int, default=30_000, help="sentences predicted for throughput")
    g = p.add_argument_group("export (the classifier and tagger options above choose the models and data)")
    g.add_argument("--export-batch-size", type=int, default=256, help="sentences a batch (predict.py's eval batches)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.max_batches, args.cell_batches, args.warmup_batches = 1, 6, 3, 2
        args.tagger_batches, args.tagger_step_batches = 6, 3
        args.forecast_batches = 6
        args.lm_generate_tokens, args.flop_batches = 40, 2
        args.seq2seq_single = 20
        args.predict_sentences, args.predict_train_steps = 500, 2
        args.export_batch_size = 32
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown or not args.sections:
        p.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    if (
        min(
            args.rounds,
            args.epochs,
            args.threads,
            args.cell_batches,
            args.warmup_batches,
            args.flop_batches,
            args.tagger_batches,
            args.tagger_step_batches,
        )
        < 1
    ):
        p.error(
            "--rounds, --epochs, --threads, --cell-batches, --warmup-batches, --flop-batches, --tagger-batches "
            "and --tagger-step-batches must be >= 1"
        )
    bad = [o for o in args.override if ":" not in o or o.split(":", 1)[0] not in SECTIONS or "=" not in o]
    if bad:
        p.error(f"--override {bad[0]!r}: give SECTION:KEY=VALUE with SECTION one of {list(SECTIONS)}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    import pytorch_lightning as pl

    quiet_lightning()  # after the import: importing pytorch_lightning sets its logger's level to INFO

    print(
        f"seqkit speed benchmark: torch {torch.__version__}, pytorch-lightning {pl.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"{threads_line(threads)}; sections: {', '.join(args.sections)}; "
        f"{args.rounds} round(s), median reported" + ("; QUICK mode (figures meaningless)" if args.quick else "")
    )
    summary: Dict[str, Any] = {
        "torch": torch.__version__,
        "lightning": pl.__version__,
        **threads,
        "quick": args.quick,
        "sections": {},
    }
    start = time.perf_counter()
    for name in args.sections:
        print(f"== {name} " + "=" * (78 - len(name)))
        section_start = time.perf_counter()
        summary["sections"][name] = section(name)(args)
        summary["sections"][name]["seconds"] = round(time.perf_counter() - section_start, 1)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(f"total {summary['seconds']:.0f} s; ratios are medians over rounds, by wall clock (CPU time beside it)")
    print(json.dumps(summary, default=float), flush=True)
    return summary
