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
median of each and their ratio. Only the timing lives here: every section's model, data, optimiser, gradient
clipping and Trainer settings are composed from configs/ (``seqkit.benchmark.recipes``: Hydra's compose API, then
``seqkit.run.build`` as train.py builds them); the benchmark adds only overrides (strings: the ``recipe:`` line
each section prints, ``QUICK_OVERRIDES``, ``--override SECTION:KEY=VALUE``).

Every training section (classifier, tagger, lm, seq2seq, forecast) reports, in one run on --threads threads:
Lightning Trainer vs a plain PyTorch loop (target >= 0.95); the achieved GFLOP/s of both against a square fp32
GEMM timed in the same process (step FLOPs counted with FlopCounterMode, ``seqkit.benchmark.flops``); and an
inference throughput (``figures["inference"]`` in the JSON line).

Sections (``--sections``, comma-separated; one function each, registered in ``SECTIONS``):
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
              1. start-up: wall clock of a fresh process answering 10 sentences, fast path vs Lightning path
              2. sentences/s once started (file -> JSON lines), fast path vs Trainer.predict, and the bare forward
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
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
# --quick: the sections' recipes at toy sizes (overrides, as on a train.py command line)
QUICK_OVERRIDES: Dict[str, List[str]] = {
    "lm": ["data.batch_size=8", "data.bptt=32", "backbone.hidden_size=32"],
}


# ================================================================================================
# Shared helpers (any section may use them)
# ================================================================================================

def section_overrides(args, section: str) -> List[str]:
    """The ``--override SECTION:KEY=VALUE`` options for ``section``, as ``KEY=VALUE`` strings."""
    return [o.split(":", 1)[1] for o in args.override if o.split(":", 1)[0] == section]


def section_recipe(args, section: str, overrides: Sequence[str]):
    """The section's recipe composed from configs/ as ``train.py <overrides>`` would compose it, then the
    benchmark's own overrides (``--quick`` sizes, ``--override SECTION:KEY=VALUE``); data set up for fit."""
    from seqkit.benchmark.recipes import Recipe

    recipe = Recipe.load(CONFIGS, [*overrides, *(QUICK_OVERRIDES.get(section, []) if args.quick else []),
                                   *section_overrides(args, section)], seed=args.seed)
    print(f"recipe: train.py {recipe.describe()}")
    return recipe


def hydra_path(path: Path) -> str:
    """A path as a quoted Hydra override value (safe with spaces, '=' or ',')."""
    return "'" + str(Path(path).expanduser().resolve()).replace("\\", "\\\\").replace("'", "\\'") + "'"


def set_threads(threads: int) -> Dict[str, Any]:
    """Pin torch's intra-op (and, if still possible, inter-op) thread count; -> what is in effect."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before any inter-op work has started
        pass
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def quiet_lightning() -> None:
    """Keep stdout to our table: Lightning's info lines and the warnings a bare benchmark Trainer raises."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (".*does not have many workers.*", ".*val_dataloader.*", ".*validation_step.*",
                    ".*GPU available but not used.*", ".*smaller than the logging interval.*",
                    ".*LeafSpec.*", ".*batch_size.*"):
        warnings.filterwarnings("ignore", message=pattern)


def real_tokens(batches: Sequence[Any]) -> int:
    """Non-pad tokens: the sum of the batches' true lengths."""
    return int(sum(int(b.lengths.sum()) for b in batches))


def padded_positions(batches: Sequence[Any]) -> int:
    return int(sum(b.tokens.numel() for b in batches))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Rate:
    """Tokens a second by wall clock and by this process's CPU time. With one thread, CPU time leaves out
    the time the process waited for a core, so on a shared machine it is the steadier of the two."""
    wall: float
    cpu: float


class Clock:
    """``with Clock() as c: ...`` then ``c.wall``, ``c.cpu`` (seconds); ``c.rate(tokens)`` -> Rate."""

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

    def rate(self, tokens: int) -> Rate:
        return Rate(tokens / self.wall, tokens / self.cpu)


def ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _identity(x):
    return x


def plain_train(model: torch.nn.Module, batches: Sequence[Any], loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
                recipe, epochs: int = 1) -> Clock:
    """The baseline loop: forward + loss, backward, clip_grad_norm_, step, zero_grad, with the recipe's optimiser
    (``cfg.optimizer``) and clipping (``cfg.trainer.gradient_clip_val``). -> time of the steps."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = recipe.optimizer(params)
    clip = recipe.clip
    with Clock() as clock:
        for _ in range(epochs):
            for batch in batches:
                loss = loss_fn(model, batch)
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
                optimizer.zero_grad()
    return clock


def lightning_train(model, batches: Sequence[Any], recipe, epochs: int = 1,
                    callbacks: Sequence[Any] = ()) -> Tuple[Clock, Clock]:
    """Fit ``model`` with the recipe's pl.Trainer (``cfg.trainer``: clipping, precision, logging interval), training
    only (no logger, checkpoints or validation), plus ``callbacks``, on exactly ``batches`` (already collated).

    -> (time inside the training epochs, time of the whole Trainer construction + fit call)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from seqkit.run import build_trainer

    class EpochTimer(pl.Callback):
        def __init__(self):
            self.epochs = Clock()
            self.epochs.wall = self.epochs.cpu = 0.0
            self._clock = Clock()

        def on_train_epoch_start(self, trainer, pl_module):
            self._clock.__enter__()

        def on_train_epoch_end(self, trainer, pl_module):
            self._clock.__exit__()
            self.epochs.wall += self._clock.wall
            self.epochs.cpu += self._clock.cpu

    timer = EpochTimer()
    whole = Clock().__enter__()
    trainer = build_trainer(
        recipe.trainer_cfg, accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[timer, *callbacks],
    )
    loader = DataLoader(list(batches), batch_size=None, shuffle=False, collate_fn=_identity)
    trainer.fit(model, train_dataloaders=loader)
    whole.__exit__()
    if trainer.global_step != len(batches) * epochs:
        raise RuntimeError(f"Lightning ran {trainer.global_step} steps, expected {len(batches) * epochs}")
    return timer.epochs, whole


def alternate(runs: Dict[str, Callable[[], Any]], rounds: int) -> Dict[str, List[Any]]:
    """Call each measurement once a round, reversing the order every other round (drift hits both alike)."""
    results: Dict[str, List[Any]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            results[name].append(runs[name]())
    return results


def compare(a: Sequence[Rate], b: Sequence[Rate]) -> Dict[str, float]:
    """Median of a over median of b, by wall clock and by CPU time."""
    return {"wall": ratio(median([r.wall for r in a]), median([r.wall for r in b])),
            "cpu": ratio(median([r.cpu for r in a]), median([r.cpu for r in b]))}


def summary_of(rates: Sequence[Rate], unit: str = "tokens") -> Dict[str, Any]:
    """For the JSON line: median <unit>/s (wall, CPU) and every round's wall figure."""
    return {f"{unit}_per_s": median([r.wall for r in rates]), f"cpu_{unit}_per_s": median([r.cpu for r in rates]),
            f"rounds_{unit}_per_s": [round(r.wall, 1) for r in rates]}


class Table:
    """Rows of (label, median tokens/s by wall clock, each round's, median by CPU time) and ratio rows."""

    def __init__(self, title: str, unit: str = "tokens/s"):
        self.title = title
        self.lines = [f"  {'':<40} {unit:>11}         {'by CPU time':>11}   rounds (wall)"]

    def rate(self, label: str, rates: Sequence[Rate], note: str = "") -> None:
        rounds = " ".join(f"{r.wall:,.0f}" for r in rates)
        self.lines.append(f"  {label:<40} {median([r.wall for r in rates]):>11,.0f}         "
                          f"{median([r.cpu for r in rates]):>11,.0f}   [{rounds}]{('  ' + note) if note else ''}")

    def ratio(self, label: str, value: Dict[str, float], target: Optional[float] = None) -> None:
        goal = ""
        if target is not None:
            goal = f"   target >= {target:g}: {'met' if value['wall'] >= target else 'NOT met'}"
        self.lines.append(f"  {label:<40} {value['wall']:>11.3f}x        {value['cpu']:>11.3f}x{goal}")

    def text(self, line: str = "") -> None:
        self.lines.append(f"  {line}" if line else "")

    def print(self) -> None:
        print(f"-- {self.title} " + "-" * max(0, 76 - len(self.title)))
        for line in self.lines:
            print(line)
        sys.stdout.flush()


def report_trainer_vs_plain(args, title: str, res: Dict[str, List[Rate]], whole_fit: List[Rate], batches: int,
                            tokens: int) -> Dict[str, Any]:
    """Print the Trainer-vs-plain table of a section (``res``: "plain" and "lightning" rounds) -> its figures."""
    if torch.get_num_threads() != args.threads:
        print(f"warning: torch's thread count changed to {torch.get_num_threads()} during the run")
    r1, r1_fit = compare(res["lightning"], res["plain"]), compare(whole_fit, res["plain"])
    table = Table(title)
    table.rate("plain loop", res["plain"])
    table.rate("pl.Trainer (epoch time)", res["lightning"])
    table.rate("pl.Trainer (whole fit() incl. setup)", whole_fit)
    table.ratio("ratio seqkit/plain (Trainer/plain)", r1, 0.95)
    table.ratio("ratio seqkit/plain incl. fit() setup", r1_fit)
    table.print()
    return {"batches": batches, "real_tokens_per_round": tokens, "ratio": r1["wall"], "ratio_cpu": r1["cpu"],
            "ratio_incl_fit_setup": r1_fit["wall"], "target": 0.95, "plain": summary_of(res["plain"]),
            "trainer": summary_of(res["lightning"]), "trainer_whole_fit": summary_of(whole_fit)}



def report_flops(args, title: str, model, batches: Sequence[Any], loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
                 count: Callable[[Sequence[Any]], int], res: Dict[str, List[Rate]], hidden_size: int,
                 unit: str = "token") -> Dict[str, Any]:
    """Achieved GFLOP/s of the section's training loops against a square fp32 GEMM timed now, in this process.

    FLOPs a ``unit`` (token, window) are counted with FlopCounterMode on --flop-batches batches spread over
    ``batches`` (forward + loss + backward; see seqkit.benchmark.flops) and multiplied by each loop's units/s."""
    from seqkit.benchmark.flops import comparable_gemm_size, gemm_rate, sample, step_flops

    probe = sample(batches, args.flop_batches)
    per_unit = step_flops(model, probe, loss_fn) / max(count(probe), 1)
    gemm = gemm_rate(comparable_gemm_size(hidden_size), repeats=3 if args.quick else 5,
                     min_seconds=0.02 if args.quick else 0.2)
    table = Table(title, unit="GFLOP/s")
    table.text(f"a training step: {per_unit / 1e6:,.2f} MFLOP a {unit} (FlopCounterMode, forward + backward, "
               f"{len(probe)} batches)")
    achieved: Dict[str, Dict[str, float]] = {}
    for name, label in (("plain", "plain loop"), ("lightning", "pl.Trainer (epoch time)"), ("flair", "Flair peer")):
        if name in res:
            rates = [Rate(r.wall * per_unit / 1e9, r.cpu * per_unit / 1e9) for r in res[name]]
            achieved[name] = {"gflops": median([r.wall for r in rates]), "gflops_cpu": median([r.cpu for r in rates])}
            table.lines.append(f"  {label:<40} {achieved[name]['gflops']:>11.2f}         {achieved[name]['gflops_cpu']:>11.2f}")
    table.lines.append(f"  {'GEMM ' + str(gemm['n']) + 'x' + str(gemm['n']) + ' fp32 (torch.mm), this run':<40} "
                       f"{gemm['gflops']:>11.2f}         {gemm['gflops_cpu']:>11.2f}")
    fraction = {name: {"wall": a["gflops"] / gemm["gflops"], "cpu": a["gflops_cpu"] / gemm["gflops_cpu"]}
                for name, a in achieved.items()}
    for name in achieved:
        table.ratio(f"{'Trainer' if name == 'lightning' else name} / GEMM", fraction[name])
    table.print()
    return {"flops_per_" + unit: per_unit, "flop_batches": len(probe), "gemm": gemm,
            **{name: {**a, "fraction_of_gemm": fraction[name]["wall"], "fraction_of_gemm_cpu": fraction[name]["cpu"]}
               for name, a in achieved.items()}}


def inference_figure(what: str, rates: Sequence[Rate], unit: str) -> Dict[str, Any]:
    """Every section's inference throughput under one key (``figures["inference"]``)."""
    return {"what": what, "unit": unit, f"{unit}_per_s": median([r.wall for r in rates]),
            f"cpu_{unit}_per_s": median([r.cpu for r in rates])}


# ================================================================================================
# Section: classifier
# ================================================================================================

def classifier_recipe(args) -> Tuple[Any, str]:
    """task=sentiment as configured (the built-in data), or its model on all of SST-2 train (``--sst2 DIR``:
    nothing held out, nothing is evaluated here). -> (recipe, a one-line description of the data)."""
    if args.sst2:
        path = Path(args.sst2).expanduser() / "stsa.binary.train"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--sst2 takes the directory holding stsa.binary.train)")
        overrides = ["task=sentiment", "data.builtin=null", f"data.root={hydra_path(path.parent)}",
                     "data.train_path=stsa.binary.train", "data.format=label_space_text",
                     "data.tokenizer.mode=whitespace", "data.split=[1.0,0.0,0.0]"]
        what = f"SST-2 train ({path}), whitespace tokenizer, lowercase"
    else:
        overrides, what = ["task=sentiment"], "built-in sentiment_labelled, train split (80%), words tokenizer, lowercase"
    return section_recipe(args, "classifier", overrides), what


def epoch_batches(dm, bucketing: bool, limit: Optional[int]) -> List[Any]:
    """One epoch of the data module's training loader, collated; the first ``limit`` batches if given."""
    dm.bucketing = bucketing
    try:
        batches = []
        for batch in dm.train_dataloader():
            batches.append(batch)
            if limit and len(batches) >= limit:
                break
        return batches
    finally:
        dm.bucketing = True


def classifier_loss(model, batch) -> torch.Tensor:
    return F.cross_entropy(model(batch.tokens, batch.lengths), batch.labels)


def describe_model(recipe) -> str:
    """One line: the composed model's class, backbone, optimiser and clipping, parameters."""
    cfg = recipe.cfg
    b = cfg.backbone
    return (f"{cfg.model._target_.rsplit('.', 1)[-1]}, {'bidirectional ' if b.get('bidirectional') else ''}"
            f"{b.cell.upper()} {b.num_layers} x {b.hidden_size} ({b.impl}); {cfg.optimizer._target_.rsplit('.', 1)[-1]} "
            f"lr {recipe.lr:g}, clip {recipe.clip}")


def eval_batches(dm, limit: Optional[int]) -> Tuple[List[Any], str]:
    """The validation split in the recipe's eval batches (length-sorted), or training data when nothing is held out."""
    split = "val" if len(dm.datasets.get("val") or []) else "train"
    batches = list(dm.loader(dm.datasets[split], train=False))
    return (batches[:limit] if limit else batches), split


def bench_classifier(args) -> Dict[str, Any]:
    seed_all(args.seed)
    recipe, what = classifier_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model = recipe.model(seed=args.seed)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    figures: Dict[str, Any] = {
        "data": "sst2" if args.sst2 else "builtin:sentiment_labelled", "train_sentences": len(dm.datasets["train"]),
        "vocab": len(dm.vocab), "recipe": recipe.overrides,
        "model": {"cell": cfg.backbone.cell, "bidirectional": bool(cfg.backbone.bidirectional),
                  "hidden_size": cfg.backbone.hidden_size, "embedding_dim": cfg.model.embedding_dim,
                  "pooling": cfg.model.pooling, "parameters": n_params},
        "batch_size": cfg.data.batch_size, "epochs_per_round": args.epochs, "rounds": args.rounds,
    }
    print(f"data:  {what}: {len(dm.datasets['train']):,} sentences, vocabulary {len(dm.vocab):,}")
    print(f"model: {describe_model(recipe)}; embedding {cfg.model.embedding_dim}, pooling {cfg.model.pooling}, "
          f"{n_params:,} parameters; batch {cfg.data.batch_size}")

    def reset(m):
        m.load_state_dict(init_state)
        return m

    # ---- 1. Lightning Trainer vs plain loop: same model init, same batches, same optimiser ----------
    batches = epoch_batches(dm, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    plain_model, pl_model = recipe.model(init_state), recipe.model(init_state)
    warm = batches[: args.warmup_batches]
    plain_train(reset(plain_model), warm, classifier_loss, recipe)
    lightning_train(reset(pl_model), warm, recipe)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epochs, whole = lightning_train(reset(pl_model), batches, recipe, args.epochs)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)

    res = alternate({"plain": lambda: plain_train(reset(plain_model), batches, classifier_loss, recipe,
                                                  args.epochs).rate(tokens),
                     "lightning": run_lightning}, args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain loop ({len(batches)} bucketed batches x {args.epochs} epoch(s), "
              f"{tokens:,} real tokens a round)", res, whole_fit, len(batches), tokens)
    figures["flops"] = report_flops(args, "1b. achieved FLOP rate vs a GEMM in this run", reset(plain_model), batches,
                                    classifier_loss, real_tokens, res, cfg.backbone.hidden_size)

    # ---- 2. bucketed vs unbucketed (shuffled) batches, plain loop, fresh epoch each round ----------
    padding: Dict[str, List[float]] = {"bucketed": [], "shuffled": []}

    def run_batching(bucketing: bool) -> Rate:
        name = "bucketed" if bucketing else "shuffled"
        flat = [b for _ in range(args.epochs) for b in epoch_batches(dm, bucketing, args.max_batches)]
        padding[name].append(real_tokens(flat) / padded_positions(flat))
        return plain_train(reset(plain_model), flat, classifier_loss, recipe).rate(real_tokens(flat))

    res2 = alternate({"bucketed": lambda: run_batching(True), "shuffled": lambda: run_batching(False)}, args.rounds)
    r2 = compare(res2["bucketed"], res2["shuffled"])
    t2 = Table(f"2. bucketed vs unbucketed batches (plain loop, fresh batches every round, {args.epochs} epoch(s))")
    t2.rate("bucketed (BucketBatchSampler)", res2["bucketed"], f"real/padded {median(padding['bucketed']):.0%}")
    t2.rate("unbucketed (shuffled random batches)", res2["shuffled"], f"real/padded {median(padding['shuffled']):.0%}")
    t2.ratio("ratio bucketed/unbucketed", r2, 1.3)
    t2.print()
    figures["bucketed_vs_unbucketed"] = {
        "ratio": r2["wall"], "ratio_cpu": r2["cpu"], "target": 1.3,
        "bucketed": {**summary_of(res2["bucketed"]), "real_fraction": median(padding["bucketed"])},
        "unbucketed": {**summary_of(res2["shuffled"]), "real_fraction": median(padding["shuffled"])},
    }

    # ---- 3. fused vs cell backbone: same weights, same (fixed number of) batches --------------------
    few = batches[: args.cell_batches]
    few_tokens = real_tokens(few)
    fused_model = recipe.model(init_state)
    cell_model = recipe.model(init_state, extra=["backbone.impl=cell"])
    plain_train(cell_model, few[: max(1, args.warmup_batches // 4)], classifier_loss, recipe)
    res3 = alternate({"fused": lambda: plain_train(reset(fused_model), few, classifier_loss, recipe).rate(few_tokens),
                      "cell": lambda: plain_train(reset(cell_model), few, classifier_loss, recipe).rate(few_tokens)},
                     args.rounds)
    r3 = compare(res3["fused"], res3["cell"])
    cell = str(cfg.backbone.cell).upper()
    t3 = Table(f"3. fused vs cell backbone impl (plain loop, the same {len(few)} batches, {few_tokens:,} real tokens)")
    t3.rate(f"fused (packed nn.{cell})", res3["fused"])
    t3.rate(f"cell (loop over nn.{cell}Cell)", res3["cell"])
    t3.ratio("ratio fused/cell", r3)
    t3.print()
    figures["fused_vs_cell"] = {
        "batches": len(few), "real_tokens": few_tokens, "ratio": r3["wall"], "ratio_cpu": r3["cpu"],
        "fused": summary_of(res3["fused"]), "cell": summary_of(res3["cell"]),
    }

    # ---- 4. inference: eval-mode forward over the recipe's eval batches ---------------------------------------
    model = reset(recipe.model()).eval()
    val, split = eval_batches(dm, args.max_batches)
    sentences = sum(len(b) for b in val)

    def forward() -> Rate:
        with torch.inference_mode(), Clock() as clock:
            for b in val:
                model(b.tokens, b.lengths)
        return clock.rate(sentences)

    forward()  # warm-up
    res4 = alternate({"forward": forward}, args.rounds)
    t4 = Table(f"4. inference: eval-mode forward, {split} split ({sentences:,} sentences, {len(val)} length-sorted "
               f"batches of <= {dm.eval_batch_size})", unit="sentences/s")
    t4.rate("forward (inference_mode)", res4["forward"])
    t4.print()
    figures["inference"] = inference_figure(f"eval-mode forward, {split} split, batches of {dm.eval_batch_size}",
                                            res4["forward"], "sentences")
    return figures


# ================================================================================================
# Section: tagger
# ================================================================================================

# the word table is trained from scratch at embedding.dim (100), as the Flair peer's: no GloVe lookups
TAGGER_OVERRIDES = ["embedding.pretrained=null"]


def tagger_recipe(args) -> Tuple[Any, str]:
    """experiment=conll2003 (``--conll2003 DIR``) or task=ner (built-in WNUT-17), with TAGGER_OVERRIDES.
    -> (recipe, a one-line description of the data)."""
    if args.conll2003:
        root = Path(args.conll2003).expanduser()
        for name in ("train.txt", "valid.txt"):
            if not (root / name).is_file():
                sys.exit(f"error: {root / name} not found (--conll2003 takes the directory holding train.txt, valid.txt)")
        overrides = ["experiment=conll2003", f"data.root={hydra_path(root)}", *TAGGER_OVERRIDES]
        what = f"CoNLL-2003 train/valid ({root}), zero_digits"
    else:
        overrides = ["task=ner", *TAGGER_OVERRIDES]
        what = "built-in WNUT-17 train/dev (no --conll2003 given; task=ner's default data)"
    return section_recipe(args, "tagger", overrides), what


def tagger_loss(model, batch) -> torch.Tensor:
    """The training objective, from the network's own loss (seqkit.tasks.tagging: CRF nll, mean over sentences)."""
    return model.network.loss(batch)["loss"]


def bench_tagger(args) -> Dict[str, Any]:
    from seqkit.benchmark.flair_peer import FlairPeer, flair_version

    seed_all(args.seed)
    recipe, what = tagger_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model = recipe.model(seed=args.seed)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    n_train, n_val = len(dm.datasets["train"]), len(dm.datasets["val"])
    word_dropout = float(cfg.model.word_dropout)
    print(f"data:  {what}: {n_train:,} training sentences, {n_val:,} validation")
    print(f"model: {describe_model(recipe)}; word {cfg.model.embedding_dim} + char {cfg.model.char_encoder} "
          f"{model.network.chars.output_dim}, {cfg.model.head} over {len(dm.tags)} tags, word dropout {word_dropout:g}, "
          f"{n_params:,} parameters; batch {cfg.data.batch_size}")
    figures: Dict[str, Any] = {
        "data": "conll2003" if args.conll2003 else "builtin:wnut17", "train_sentences": n_train, "val_sentences": n_val,
        "tags": len(dm.tags), "parameters": n_params, "batch_size": int(cfg.data.batch_size), "lr": recipe.lr,
        "word_dropout": word_dropout, "rounds": args.rounds, "recipe": recipe.overrides,
    }

    def reset(m):
        m.load_state_dict(init_state)
        return m

    def train_plain(m, batches) -> Clock:
        return plain_train(reset(m), batches, tagger_loss, recipe)

    # ---- 1. Lightning Trainer vs plain BiLSTM-CRF loop (and the Flair peer): same batches, optimiser -------
    batches = epoch_batches(dm, bucketing=True, limit=args.tagger_batches)
    tokens = real_tokens(batches)
    plain_model, pl_model = recipe.model(init_state), recipe.model(init_state)
    warm = batches[: args.warmup_batches]
    train_plain(plain_model, warm)
    lightning_train(reset(pl_model), warm, recipe)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epoch, whole = lightning_train(reset(pl_model), batches, recipe)
        whole_fit.append(whole.rate(tokens))
        return epoch.rate(tokens)

    runs: Dict[str, Callable[[], Rate]] = {"plain": lambda: train_plain(plain_model, batches).rate(tokens),
                                           "lightning": run_lightning}
    version = flair_version() if not args.no_peer else None
    if version is not None:
        peer = FlairPeer(recipe, batches)
        warm_peer = FlairPeer(recipe, warm)
        flair_params = sum(p.numel() for p in peer.tagger(args.seed).parameters())
        if peer.tokens() != tokens:
            raise RuntimeError(f"the Flair batches hold {peer.tokens()} tokens, seqkit's {tokens}")
        tagger = peer.tagger(args.seed)
        warm_peer.train(tagger, recipe.optimizer(tagger.parameters()), recipe.clip)

        def run_flair() -> Rate:
            tagger = peer.tagger(args.seed)
            optimizer = recipe.optimizer(tagger.parameters())
            with Clock() as clock:
                peer.train(tagger, optimizer, recipe.clip)
            return clock.rate(tokens)

        runs["flair"] = run_flair
    res = alternate(runs, args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain BiLSTM-CRF loop ({len(batches)} bucketed batches, {tokens:,} real tokens)",
        {k: res[k] for k in ("plain", "lightning")}, whole_fit, len(batches), tokens)
    if version is None:
        why = "--no-peer given" if args.no_peer else 'flair is not installed (pip install -e ".[bench]")'
        print(f"-- 1p. peer: Flair BiLSTM-CRF: skipped, {why}")
        figures["flair"] = {"skipped": why}
    else:
        r_peer = compare(res["lightning"], res["flair"])
        tp = Table(f"1p. peer: Flair {version} BiLSTM-CRF of the same size ({flair_params:,} parameters), the same "
                   f"{len(batches)} batches, {recipe.cfg.optimizer._target_.rsplit('.', 1)[-1]} lr {recipe.lr:g}")
        tp.rate("seqkit (pl.Trainer, epoch time)", res["lightning"])
        tp.rate("Flair (forward_loss, backward, clip, step)", res["flair"])
        tp.ratio("ratio seqkit/Flair", r_peer, 5.0)
        tp.print()
        figures["flair"] = {"version": version, "parameters": flair_params, "ratio": r_peer["wall"],
                            "ratio_cpu": r_peer["cpu"], "target": 5.0, "flair": summary_of(res["flair"])}
    figures["flops"] = report_flops(args, "1b. achieved FLOP rate vs a GEMM in this run", reset(plain_model), batches,
                                    tagger_loss, real_tokens, {k: res[k] for k in ("plain", "lightning")},
                                    cfg.backbone.hidden_size)

    # ---- 2. the CRF's share of a training step: (a) the full step, (b) the CRF nll forward + backward alone
    # on the emissions of the same batches (detached leaves: nothing flows back into the encoder) ---------
    steps = batches[: args.tagger_step_batches]
    step_tokens = real_tokens(steps)
    step_model = recipe.model(init_state).train()
    with torch.no_grad():
        emissions = [step_model.network.scores(b).float() for b in steps]  # training mode: as the step sees them

    def crf_only() -> Rate:
        crf = step_model.network.crf
        with Clock() as clock:
            for e, b in zip(emissions, steps):
                crf.nll(e.detach().requires_grad_(), b.labels, b.mask, reduction="mean").backward()
        step_model.zero_grad(set_to_none=True)  # the CRF's gradients must not leak into the next full step
        return clock.rate(step_tokens)

    res2 = alternate({"step": lambda: train_plain(step_model, steps).rate(step_tokens), "crf": crf_only}, args.rounds)
    # (tokens/s of the step) / (tokens/s of the CRF alone) = CRF time / step time
    share = {k: ratio(median([getattr(r, k) for r in res2["step"]]), median([getattr(r, k) for r in res2["crf"]]))
             for k in ("wall", "cpu")}
    t2 = Table(f"2. the CRF's share of a training step ({len(steps)} batches, {step_tokens:,} real tokens)")
    t2.rate("(a) full step (fwd+nll+bwd+clip+Adam)", res2["step"])
    t2.rate("(b) CRF nll forward + backward alone", res2["crf"])
    t2.text(f"CRF share of a step (b/a by time): {share['wall']:.1%} (by CPU time {share['cpu']:.1%})")
    t2.print()
    figures["crf_share_of_step"] = {"batches": len(steps), "real_tokens": step_tokens, "share": share["wall"],
                                    "share_cpu": share["cpu"], "step": summary_of(res2["step"]),
                                    "crf": summary_of(res2["crf"])}

    # ---- 3. decoding the validation set (the recipe's length-sorted eval batches): Viterbi vs argmax on the
    # same precomputed emissions, and the whole model (forward + Viterbi) in eval mode ----------------------
    model = reset(recipe.model()).eval().network
    val = list(dm.val_dataloader())
    sentences = sum(len(b) for b in val)
    with torch.no_grad():
        val_emissions = [model.scores(b).float() for b in val]

    def decode(fn) -> Rate:
        with torch.no_grad(), Clock() as clock:
            for e, b in zip(val_emissions, val):
                fn(e, b.mask)
        return clock.rate(sentences)

    def full_decode() -> Rate:
        with torch.no_grad(), Clock() as clock:
            for b in val:
                model.decode(model.scores(b), b.mask)
        return clock.rate(sentences)

    res3 = alternate({"viterbi": lambda: decode(lambda e, m: model.crf.viterbi(e, m)[0]),
                      # what the softmax head decodes: argmax of softmax = argmax of the emissions
                      "argmax": lambda: decode(lambda e, m: e.argmax(-1).masked_fill(~m, 0)),
                      "model": full_decode}, args.rounds)
    r3 = compare(res3["viterbi"], res3["argmax"])
    viterbi_share = {k: ratio(median([getattr(r, k) for r in res3["model"]]), median([getattr(r, k) for r in res3["viterbi"]]))
                     for k in ("wall", "cpu")}
    t3 = Table(f"3. decoding the validation set ({sentences:,} sentences, {len(val)} length-sorted eval batches of "
               f"<= {dm.eval_batch_size})", unit="sentences/s")
    t3.rate("Viterbi (CRF) on precomputed emissions", res3["viterbi"])
    t3.rate("argmax (softmax head), same emissions", res3["argmax"])
    t3.rate("full model: forward + Viterbi (no_grad)", res3["model"])
    t3.ratio("ratio Viterbi/argmax", r3)
    t3.text(f"Viterbi share of the full model decode: {viterbi_share['wall']:.1%} "
            f"(by CPU time {viterbi_share['cpu']:.1%})")
    t3.print()
    figures["decode"] = {
        "sentences": sentences, "batches": len(val),
        "viterbi_sentences_per_s": median([r.wall for r in res3["viterbi"]]),
        "argmax_sentences_per_s": median([r.wall for r in res3["argmax"]]),
        "model_sentences_per_s": median([r.wall for r in res3["model"]]),
        "ratio_viterbi_argmax": r3["wall"], "ratio_viterbi_argmax_cpu": r3["cpu"],
        "viterbi_share_of_model_decode": viterbi_share["wall"], "viterbi_share_of_model_decode_cpu": viterbi_share["cpu"],
        **{name: summary_of(res3[name], "sentences") for name in ("viterbi", "argmax", "model")},
    }
    figures["inference"] = inference_figure("forward + Viterbi, validation split", res3["model"], "sentences")
    return figures


# ================================================================================================
# Section: gradient_flow
# ================================================================================================

def bench_gradient_flow(args) -> Dict[str, Any]:
    """The classifier section's model and batches, trained by pl.Trainer with callbacks=gradient_flow
    (GradientFlow recording every --gradient-flow-every steps) against without it."""
    import tempfile

    from seqkit.callbacks import GradientFlow

    seed_all(args.seed)
    recipe, what = classifier_recipe(args)
    model = recipe.model(seed=args.seed)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    batches = epoch_batches(recipe.datamodule, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    every = args.gradient_flow_every
    print(f"data:  {what}: {len(batches)} bucketed batches x {args.epochs} epoch(s), {tokens:,} real tokens a round")
    print(f"model: {describe_model(recipe)}; GradientFlow every {every} steps, pictures at the end of fit")

    def reset():
        model.load_state_dict(init_state)
        return model

    lightning_train(reset(), batches[: args.warmup_batches], recipe)
    whole_fit: Dict[str, List[Rate]] = {"off": [], "on": []}
    records: List[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        def run(on: bool) -> Rate:
            callbacks = [GradientFlow(every_n_steps=every, dirpath=tmp)] if on else []
            epochs, whole = lightning_train(reset(), batches, recipe, args.epochs, callbacks)
            if on:
                records.append(len(callbacks[0].records))
            whole_fit["on" if on else "off"].append(whole.rate(tokens))
            return epochs.rate(tokens)

        res = alternate({"off": lambda: run(False), "on": lambda: run(True)}, args.rounds)
    r, r_fit = compare(res["on"], res["off"]), compare(whole_fit["on"], whole_fit["off"])
    table = Table(f"gradient flow callback on (every {every} steps, {records[0]} records a round) vs off")
    table.rate("pl.Trainer, no callback (epoch time)", res["off"])
    table.rate("pl.Trainer + GradientFlow (epoch time)", res["on"])
    table.ratio("ratio on/off", r, 0.9)
    table.ratio("ratio on/off incl. fit() and pictures", r_fit)
    table.print()
    return {"batches": len(batches), "epochs": args.epochs, "every_n_steps": every, "records_per_round": records[0],
            "real_tokens_per_round": tokens, "ratio": r["wall"], "ratio_cpu": r["cpu"],
            "ratio_incl_fit_and_pictures": r_fit["wall"], "target": 0.9,
            "off": summary_of(res["off"]), "on": summary_of(res["on"])}


# ================================================================================================
# Section: forecast
# ================================================================================================

# the least-squares highway is solved outside the training step (at the start of fit), so a plain loop has no
# step of it: the benchmark times the recurrent model alone
FORECAST_OVERRIDES = ["model.highway=none"]


def forecast_recipe(args) -> Tuple[Any, str]:
    """experiment=etth1 (OT, input 96 -> 24, batch 64) on ``--ett DIR``, or on a generated 3,000-hour series of the
    same shape (a daily cycle plus noise, split 2000/500/500) when no folder is given."""
    import math
    import tempfile
    from datetime import datetime, timedelta

    if args.ett:
        path = Path(args.ett).expanduser() / "ETTh1.csv"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--ett takes the directory holding ETTh1.csv)")
        overrides, what = ["experiment=etth1", f"data.root={hydra_path(path.parent)}"], f"ETTh1 OT ({path})"
    else:
        rng = random.Random(args.seed)
        start = datetime(2020, 1, 1)
        rows = ["date,OT"] + [f"{start + timedelta(hours=i):%Y-%m-%d %H:%M:%S},"
                              f"{10 + 3 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.3):.4f}" for i in range(3000)]
        folder = Path(tempfile.mkdtemp(prefix="seqkit-bench-forecast-"))
        (folder / "ETTh1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        overrides = ["experiment=etth1", f"data.root={hydra_path(folder)}", "data.split=[2000,500,500]"]
        what = "generated hourly series"
    return section_recipe(args, "forecast", [*overrides, *FORECAST_OVERRIDES]), what


def forecaster_loss(model, batch) -> torch.Tensor:
    """The forecasting network's own training loss (seqkit.tasks.forecasting: what TaskModule.training_step runs)."""
    return model.network.loss(batch)["loss"]


def windows_of(batches: Sequence[Any]) -> int:
    return sum(len(b) for b in batches)


def bench_forecast(args) -> Dict[str, Any]:
    import pytorch_lightning as pl

    seed_all(args.seed)
    recipe, what = forecast_recipe(args)
    dm, cfg = recipe.datamodule, recipe.cfg
    model = recipe.model(seed=args.seed)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    batches = epoch_batches(dm, bucketing=False, limit=args.forecast_batches)
    windows = windows_of(batches)
    print(f"data:  {what}: {len(dm.datasets['train']):,} training windows of {cfg.data.input_length} -> "
          f"{cfg.data.horizon}, {len(dm.datasets['val']):,} validation")
    print(f"model: {describe_model(recipe)}; {cfg.model.head} head, {cfg.model.instance_norm} instance norm, "
          f"{cfg.model.loss}, {sum(p.numel() for p in model.parameters()):,} parameters; batch {cfg.data.batch_size}")
    figures: Dict[str, Any] = {"data": "etth1" if args.ett else "generated", "batches": len(batches), "rounds": args.rounds,
                               "recipe": recipe.overrides}

    def reset(m):
        m.load_state_dict(init_state)
        return m

    # ---- 1. Lightning Trainer vs plain loop, same windows (as the training steps see them) -------------
    plain_model, pl_model = recipe.model(init_state), recipe.model(init_state)
    warm = batches[: args.warmup_batches]
    plain_train(reset(plain_model), warm, forecaster_loss, recipe)
    lightning_train(reset(pl_model), warm, recipe)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epoch, whole = lightning_train(reset(pl_model), batches, recipe)
        whole_fit.append(whole.rate(windows))
        return epoch.rate(windows)

    res = alternate({"plain": lambda: plain_train(reset(plain_model), batches, forecaster_loss, recipe).rate(windows),
                     "lightning": run_lightning}, args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain loop ({len(batches)} batches, {windows:,} windows; rates in windows/s)",
        res, whole_fit, len(batches), windows)
    figures["flops"] = report_flops(args, "1b. achieved FLOP rate vs a GEMM in this run (rates from windows/s)",
                                    reset(plain_model), batches, forecaster_loss, windows_of, res,
                                    cfg.backbone.hidden_size, unit="window")

    # ---- 2. forecasts a second: Trainer.predict (what predict.py runs) vs the bare forward, validation windows
    model = reset(recipe.model()).eval()
    loader = dm.val_dataloader()
    n = len(dm.datasets["val"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)

    def bare() -> Rate:
        with torch.no_grad(), Clock() as clock:
            for batch in loader:
                model(batch.x, batch.future)
        return clock.rate(n)

    def predict() -> Rate:
        with Clock() as clock:
            trainer.predict(model, dataloaders=loader)
        return clock.rate(n)

    res2 = alternate({"predict": predict, "bare": bare}, args.rounds)
    r2 = compare(res2["predict"], res2["bare"])
    t2 = Table(f"2. forecasting the validation windows ({n:,} windows of {cfg.data.horizon} steps, batches of "
               f"{dm.eval_batch_size})", unit="forecasts/s")
    t2.rate("Trainer.predict (predict.py's path)", res2["predict"])
    t2.rate("bare forward under no_grad", res2["bare"])
    t2.ratio("ratio predict/bare", r2)
    t2.print()
    figures["predict"] = {"windows": n, "ratio_predict_bare": r2["wall"], **summary_of(res2["predict"], "forecasts"),
                          "bare": summary_of(res2["bare"], "forecasts")}
    figures["inference"] = inference_figure("Trainer.predict, validation windows", res2["predict"], "forecasts")
    return figures


# ================================================================================================
# Section: lm
# ================================================================================================

# the recipe prints a 300-character sample at every epoch's end: not training work
LM_OVERRIDES = ["model.sample_length=0"]


def lm_loss(model, batch) -> torch.Tensor:
    """A chunk's token-mean cross-entropy from a fresh state (the FLOPs of a TBPTT step)."""
    logits, _ = model(batch.tokens, batch.lengths)
    return F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)


def plain_tbptt(model, batches: Sequence[Any], recipe) -> Clock:
    """The baseline truncated-BPTT loop: carry the state, detach it, token-mean loss, clip, the recipe's optimiser."""
    from seqkit.nn import detach_state

    model.train()
    optimizer = recipe.optimizer(model.parameters())
    clip = recipe.clip
    state = None
    with Clock() as clock:
        for batch in batches:
            logits, state = model(batch.tokens, batch.lengths, detach_state(state))
            loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad()
    return clock


def bench_lm(args) -> Dict[str, Any]:
    """1. Trainer TBPTT vs a plain TBPTT loop on the same chunks; 2. generation with incremental state vs
    recomputing the prefix at every step; 3. fused vs cell-loop backbone (plain TBPTT loop)."""
    from seqkit.nn.decoding import greedy_choice

    seed_all(args.seed)
    recipe = section_recipe(args, "lm", ["task=lm", *LM_OVERRIDES])
    dm, cfg = recipe.datamodule, recipe.cfg
    n = min(args.lm_batches, args.max_batches or args.lm_batches)
    batches = [b for _, b in zip(range(n), dm.train_dataloader())]
    tokens = real_tokens(batches)
    print(f"tiny-shakespeare train, {n} chunks of {cfg.data.batch_size} streams x {cfg.data.bptt} characters; "
          f"model: {describe_model(recipe)}")
    initial = recipe.model(seed=args.seed).state_dict()
    plain_tbptt(recipe.model(initial), batches[: args.warmup_batches], recipe)  # warm-up

    def lightning_round():
        epochs, whole = lightning_train(recipe.model(initial), batches, recipe)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)
    whole_fit: List[Rate] = []
    res = alternate({"plain": lambda: plain_tbptt(recipe.model(initial), batches, recipe).rate(tokens),
                     "lightning": lightning_round}, args.rounds)
    figures = {"recipe": recipe.overrides,
               "trainer_vs_plain": report_trainer_vs_plain(args, "1. truncated BPTT: Trainer vs plain loop", res,
                                                           whole_fit, n, tokens)}
    figures["flops"] = report_flops(args, "1b. achieved FLOP rate vs a GEMM in this run", recipe.model(initial),
                                    batches, lm_loss, real_tokens, res, cfg.backbone.hidden_size)

    model = recipe.model(initial).eval()
    prompt = torch.tensor([dm.encode_prompt("ROMEO:")])
    new = args.lm_generate_tokens

    @torch.no_grad()
    def recompute():  # the naive generator: run the whole text again for every new token
        with Clock() as clock:
            ids = prompt
            for _ in range(new):
                logits, _ = model(ids, torch.tensor([ids.size(1)]))
                ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return clock.rate(new), ids[0, prompt.size(1):]

    def incremental():
        with Clock() as clock:
            ids = getattr(model, "network", model).generate(prompt, new, greedy_choice)[0]  # TaskModule: its network
        return clock.rate(new), ids
    gen = alternate({"incremental": incremental, "recompute": recompute}, args.rounds)
    if not all(torch.equal(a[1], b[1]) for a, b in zip(gen["incremental"], gen["recompute"])):
        raise RuntimeError("incremental and recomputed greedy generation differ")
    inc, rec = [r for r, _ in gen["incremental"]], [r for r, _ in gen["recompute"]]
    table = Table(f"2. generation of {new} characters (greedy, batch 1)", unit="tokens/s")
    table.rate("incremental state (step)", inc)
    table.rate("recompute the prefix every step", rec)
    table.ratio("ratio incremental/recompute", compare(inc, rec), 10.0)
    table.print()
    figures["generation"] = {"new_tokens": new, "ratio": compare(inc, rec)["wall"], "target": 10.0,
                             "incremental": summary_of(inc), "recompute": summary_of(rec)}
    figures["inference"] = inference_figure("greedy generation, incremental state, batch 1", inc, "tokens")

    cell_batches = batches[: args.cell_batches]
    cell_tokens = real_tokens(cell_batches)
    impl = alternate({"fused": lambda: plain_tbptt(recipe.model(initial), cell_batches, recipe).rate(cell_tokens),
                      "cell": lambda: plain_tbptt(recipe.model(initial, extra=["backbone.impl=cell"]), cell_batches,
                                                  recipe).rate(cell_tokens)},
                     args.rounds)
    table = Table(f"3. fused vs cell loop, plain TBPTT loop, {len(cell_batches)} chunks")
    table.rate("fused (nn.LSTM)", impl["fused"])
    table.rate("cell (nn.LSTMCell loop, same weights)", impl["cell"])
    table.ratio("ratio fused/cell", compare(impl["fused"], impl["cell"]))
    table.print()
    figures["fused_vs_cell"] = {"ratio": compare(impl["fused"], impl["cell"])["wall"], "fused": summary_of(impl["fused"]),
                                "cell": summary_of(impl["cell"])}
    return figures


# ================================================================================================
# Section: seq2seq
# ================================================================================================

def seq2seq_loss(model, batch) -> torch.Tensor:
    """The training objective TaskModule runs: the seq2seq network's own ``loss`` (teacher-forced token-mean CE)."""
    return model.network.loss(batch)["loss"]


def target_tokens(batches: Sequence[Any]) -> int:
    return sum(int((b.target_out != 0).sum()) for b in batches)


def bench_seq2seq(args) -> Dict[str, Any]:
    """task=g2p's model and data (the built-in CMU dictionary): 1. Trainer vs plain loop on the same training
    batches; 2. decoding the validation words: batched beam search (beam 5, one step call for batch x beam rows) vs
    the same search one sentence at a time, and beam 5 vs greedy, in the recipe's eval batches (untrained weights:
    the work per step is the same)."""
    from itertools import islice

    seed_all(args.seed)
    recipe = section_recipe(args, "seq2seq", ["task=g2p"])
    dm, cfg = recipe.datamodule, recipe.cfg
    limit = min(args.seq2seq_batches, args.max_batches or args.seq2seq_batches)
    batches = list(islice(dm.train_dataloader(), limit))
    tokens = target_tokens(batches)
    print(f"data:  built-in CMU dictionary, {len(dm.datasets['train']):,} training words, {len(batches)} batches of "
          f"{cfg.data.batch_size}; model: {describe_model(recipe)}, attention {cfg.model.attention}")

    def build():
        return recipe.model(seed=args.seed)

    plain_train(build(), batches[: args.warmup_batches], seq2seq_loss, recipe)
    whole_fit: List[Rate] = []

    def lightning():
        epochs, whole = lightning_train(build(), batches, recipe)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)

    res = alternate({"plain": lambda: plain_train(build(), batches, seq2seq_loss, recipe).rate(tokens),
                     "lightning": lightning}, args.rounds)
    figures = {"recipe": recipe.overrides,
               "train": report_trainer_vs_plain(args, "seq2seq 1: Lightning Trainer vs plain loop (target tokens/s)",
                                                res, whole_fit, len(batches), tokens)}
    figures["flops"] = report_flops(args, "seq2seq 1b. achieved FLOP rate vs a GEMM in this run (target tokens)",
                                    build(), batches, seq2seq_loss, target_tokens, res, cfg.backbone.hidden_size,
                                    unit="target_token")

    model = build().network.eval()  # the plain network inside TaskModule: its greedy and beam search
    val = list(dm.val_dataloader())
    if args.max_batches:
        val = val[:1]
    sentences = sum(len(b) for b in val)
    singles = [b for b in (dm.collate([e]) for e in dm.datasets["val"][: args.seq2seq_single])]

    def decode(fn, data, count):
        def run():
            with torch.no_grad(), Clock() as clock:
                for b in data:
                    fn(b.source, b.source_lengths)
            return clock.rate(count)
        return run

    res2 = alternate({"beam": decode(model.beam_decode, val, sentences),
                      "greedy": decode(model.greedy_decode, val, sentences),
                      "beam_single": decode(model.beam_decode, singles, len(singles))}, args.rounds)
    r_batch, r_cost = compare(res2["beam"], res2["beam_single"]), compare(res2["beam"], res2["greedy"])
    beam = cfg.model.decode.beam_size
    table = Table(f"seq2seq 2: decoding the validation words (beam {beam})", unit="sentences/s")
    table.rate(f"beam {beam}, batched ({dm.eval_batch_size} a batch)", res2["beam"])
    table.rate(f"beam {beam}, one sentence at a time", res2["beam_single"], f"({len(singles)} sentences)")
    table.rate("greedy, batched", res2["greedy"])
    table.ratio("ratio batched/per-sentence beam", r_batch, 5.0)
    table.ratio("ratio beam/greedy (speed)", r_cost)
    table.print()
    figures["decode"] = {"sentences": sentences, "ratio_batched_vs_single": r_batch["wall"],
                         "ratio_batched_vs_single_cpu": r_batch["cpu"], "ratio_beam_vs_greedy": r_cost["wall"],
                         **{name: summary_of(res2[name], "sentences") for name in res2}}
    figures["inference"] = inference_figure(f"batched beam search (beam {beam}), validation words", res2["beam"],
                                            "sentences")
    return figures


# ================================================================================================
# predict: scripts/predict.py's start-up and throughput (seqkit.app, no Lightning, vs the Lightning path)
# ================================================================================================

def sentiment_checkpoint(path: Path, steps: int) -> Path:
    """A checkpoint of the task=sentiment recipe (composed from configs/, built-in data) after ``steps`` training
    steps: prediction speed does not depend on how well it is trained."""
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir

    from seqkit.run import build

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["task=sentiment"])
    dm = build(cfg.data)
    dm.setup("fit")
    model = build(cfg.model, **dm.model_kwargs())
    trainer = pl.Trainer(max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(path, weights_only=True)
    return path


def sentiment_sentences(n: int) -> List[str]:
    """The built-in sentiment texts (labels cut off), repeated to ``n`` lines."""
    from seqkit.data.builtin import builtin_files
    from seqkit.data.labelled_text import read_labelled_text

    texts = [e.text for f in builtin_files("sentiment_labelled", "all") for e in read_labelled_text(f, "text_tab_label")]
    return [texts[i % len(texts)] for i in range(n)]


def bench_predict(args) -> Dict[str, Any]:
    """1. wall clock of ``python scripts/predict.py`` answering 10 sentences (a fresh process each time): the fast
    path (seqkit.app.predict: torch, no Lightning) vs the Lightning path (the script's hydra_main, seqkit.run.predict),
    and ``python -c "import torch"`` as the floor; 2. sentences/s once started, in this process: the fast path's
    streaming (read, tokenise, batch, forward, JSON out) vs the Lightning path's (Trainer.predict), and the bare
    forward on the same batches."""
    import tempfile

    from omegaconf import OmegaConf

    from seqkit.app.checkpoint import load
    from seqkit.app.predict import NetworkRunner
    from seqkit.predict_stream import stream_predictions

    from seqkit.run import _plain_trainer, load_checkpoint

    work = Path(tempfile.mkdtemp(prefix="seqkit-bench-predict-"))
    ckpt = Path(args.predict_ckpt) if args.predict_ckpt else sentiment_checkpoint(work / "sentiment.ckpt", args.predict_train_steps)
    sentences = sentiment_sentences(args.predict_sentences)
    ten, many, out = work / "ten.txt", work / "many.txt", work / "out.jsonl"
    ten.write_text("\n".join(sentences[:10]) + "\n", encoding="utf-8")
    many.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    threads = torch.get_num_threads()

    # 1. start-up: fresh processes, alternating
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(REPO / "scripts" / "predict.py"), f"ckpt_path={ckpt}", f"input={ten}",
               f"output={out}", f"threads={threads}"]

    def process(argv: List[str]) -> Callable[[], Rate]:
        def run() -> Rate:
            import resource

            def children_cpu() -> float:
                usage = resource.getrusage(resource.RUSAGE_CHILDREN)
                return usage.ru_utime + usage.ru_stime
            start, cpu = time.perf_counter(), children_cpu()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO)
            wall, cpu = time.perf_counter() - start, children_cpu() - cpu
            if proc.returncode != 0 or proc.stderr:
                sys.exit(f"error: {' '.join(argv)} failed or wrote to stderr:\n{proc.stderr[-2000:]}")
            return Rate(wall, cpu)  # seconds here, not rates: wall clock and the process's CPU time
        return run

    lightning = command + ["--config-name=predict"]  # a flag only @hydra.main takes: the script's Lightning path
    starts = alternate({"fast": process(command), "lightning": process(lightning),
                        "torch": process([sys.executable, "-c", "import torch"])}, args.rounds)
    secs = {name: median([r.wall for r in rates]) for name, rates in starts.items()}
    cpu_secs = {name: median([r.cpu for r in rates]) for name, rates in starts.items()}
    print(f"-- predict.py start-up: 10 sentences, a fresh process each time, threads={threads} " + "-" * 12)
    print(f"  {'':<40} {'wall':>8}     {'CPU time':>8}   rounds (wall)")
    for name, label in (("fast", "fast path (seqkit.app.predict)"), ("lightning", "Lightning path (seqkit.run.predict)"),
                        ("torch", "python -c 'import torch' (the floor)")):
        rounds = " ".join(f"{r.wall:.2f}" for r in starts[name])
        print(f"  {label:<40} {secs[name]:>8.2f} s   {cpu_secs[name]:>8.2f} s   [{rounds}]")
    goal = "met" if secs["fast"] <= 2.0 else "NOT met"
    print(f"  {'fast / Lightning':<40} {secs['fast'] / secs['lightning']:>8.3f}x   target: fast <= 2 s: {goal}")

    # 2. throughput once started
    network, reader = load(str(ckpt))
    model, datamodule = load_checkpoint(str(ckpt))
    trainer = _plain_trainer(OmegaConf.create({"trainer": {"_target_": "pytorch_lightning.Trainer", "accelerator": "cpu",
                                                           "enable_progress_bar": False}}))
    lines = list(enumerate(sentences, start=1))
    reader.set_predict_input(lines, str(many), input_format="text")
    batches = list(reader.predict_batches())

    def streamed(m, data, t) -> Callable[[], Rate]:
        def run() -> Rate:
            with Clock() as clock:
                stream_predictions(m, data, t, str(many), str(out), {"input_format": "text"})
            return clock.rate(len(sentences))
        return run

    def bare() -> Rate:
        with Clock() as clock, torch.inference_mode():
            for index, batch in enumerate(batches):
                network.predict(batch)
        return clock.rate(len(sentences))

    def packed_lstm() -> Rate:  # the network's forward: nn.LSTM over packed sequences (what predict_step ran before)
        with Clock() as clock, torch.inference_mode():
            for batch in batches:
                network(batch.tokens, batch.lengths).softmax(-1)
        return clock.rate(len(sentences))

    with torch.inference_mode():  # predict_step's looked-up LSTM against nn.LSTM, every sentence
        pairs = [(network.predict(b)["probabilities"], network(b.tokens, b.lengths).softmax(-1)) for b in batches]
    max_diff = max(float((a - b).abs().max()) for a, b in pairs)
    same_label = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in pairs)

    streamed(NetworkRunner(network), reader, None)()  # warm-up
    res = alternate({"fast": streamed(NetworkRunner(network), reader, None), "lightning": streamed(model, datamodule, trainer),
                     "forward": bare, "lstm": packed_lstm}, args.rounds)
    table = Table(f"predict throughput: {len(sentences):,} sentiment sentences, threads={threads}", "sentences/s")
    table.rate("fast path: file -> JSON lines", res["fast"])
    table.rate("Lightning path: Trainer.predict", res["lightning"])
    table.rate("bare predict_step (looked-up LSTM)", res["forward"])
    table.rate("bare forward with nn.LSTM (packed)", res["lstm"])
    table.ratio("fast / Lightning", compare(res["fast"], res["lightning"]))
    table.ratio("predict_step / nn.LSTM forward", compare(res["forward"], res["lstm"]))
    table.text(f"looked-up LSTM vs nn.LSTM: max |probability difference| {max_diff:.2e}, same label "
               f"{same_label:,}/{len(sentences):,}")
    fast = median([r.wall for r in res["fast"]])
    fast_cpu = median([r.cpu for r in res["fast"]])
    table.text(f"target >= 10,000 sentences/s (fast path): {'met' if fast >= 10_000 else 'NOT met'} by wall clock, "
               f"{'met' if fast_cpu >= 10_000 else 'NOT met'} by CPU time")
    table.print()
    return {"checkpoint": str(ckpt), "sentences": len(sentences),
            "startup_s": {name: round(v, 3) for name, v in secs.items()},
            "startup_cpu_s": {name: round(v, 3) for name, v in cpu_secs.items()},
            "startup_rounds_s": {name: [round(r.wall, 3) for r in rates] for name, rates in starts.items()},
            "fast_vs_lightning": compare(res["fast"], res["lightning"]),
            "predict_step_vs_lstm": compare(res["forward"], res["lstm"]),
            "lookup_vs_lstm": {"max_probability_diff": max_diff, "same_label": same_label},
            **{name: summary_of(res[name], "sentences") for name in res}}


# ================================================================================================
# Section: export
# ================================================================================================

def bench_export(args) -> Dict[str, Any]:
    """Inference throughput of the same model run eagerly, as TorchScript and through onnxruntime (one thread),
    for the classifier section's model and the tagger section's (emissions, then with Viterbi decoding)."""
    import tempfile

    import numpy as np

    from seqkit.export.exporter import write_graph
    from seqkit.export.runtime import onnx_session, viterbi
    from seqkit.tasks.classification.export import graphs as classifier_graphs
    from seqkit.tasks.tagging.export import graphs as tagger_graphs

    seed_all(args.seed)
    figures: Dict[str, Any] = {"rounds": args.rounds, "onnxruntime_threads": args.threads}
    folder = Path(tempfile.mkdtemp(prefix="seqkit-bench-export-"))
    (cls, cls_what), (tag, tag_what) = classifier_recipe(args), tagger_recipe(args)
    shapes = {"classifier": (cls.model(seed=args.seed).network.eval(), classifier_graphs, cls.datamodule, cls_what),
              "tagger": (tag.model(seed=args.seed).network.eval(), tagger_graphs, tag.datamodule, tag_what)}
    for shape, (model, graphs_of, dm, what) in shapes.items():
        graph = graphs_of(model)[0]
        write_graph(graph, folder / f"{shape}.onnx", "onnx")
        write_graph(graph, folder / f"{shape}.pt", "torchscript")
        scripted, session = torch.jit.load(str(folder / f"{shape}.pt")), onnx_session(folder / f"{shape}.onnx", args.threads)
        names = [p.name for p in graph.inputs]
        dm.eval_batch_size = args.export_batch_size
        batches = list(dm.loader(dm.datasets["train"], train=False))[: args.max_batches or None]
        inputs = [[getattr(b, n) for n in names] for b in batches]
        feeds = [{n: t.numpy() for n, t in zip(names, x)} for x in inputs]
        tokens, sentences = real_tokens(batches), sum(len(b) for b in batches)

        def eager(x):
            return model(*x)

        runs = {"eager": lambda: [eager(x) for x in inputs], "torchscript": lambda: [scripted(*x) for x in inputs],
                "onnxruntime": lambda: [session.run(None, f)[0] for f in feeds]}
        if shape == "tagger":
            decoding = model.crf._effective(torch.float32)
            crf = [t.detach().numpy() for t in decoding]
            runs["eager + Viterbi"] = lambda: [model.decode(eager(x), b.mask) for x, b in zip(inputs, batches)]
            runs["onnxruntime + numpy Viterbi"] = lambda: [viterbi(session.run(None, f)[0], f["lengths"], *crf)
                                                           for f in feeds]
        with torch.no_grad():
            worst = max(float(np.abs(session.run(None, f)[0] - eager(x).numpy()).max()) for f, x in zip(feeds, inputs))
            worst_ts = max(float((scripted(*x) - eager(x)).abs().max()) for x in inputs)
            for run in runs.values():  # warm-up
                run()

            def timed(run) -> Callable[[], Rate]:
                def measure() -> Rate:
                    with Clock() as clock:
                        run()
                    return clock.rate(sentences)
                return measure

            res = alternate({name: timed(run) for name, run in runs.items()}, args.rounds)
        table = Table(f"{shape}: {what}; {len(batches)} length-sorted batches of <= {args.export_batch_size}, "
                      f"{sentences:,} sentences, {tokens:,} tokens", unit="sentences/s")
        for name in runs:
            table.rate(name, res[name])
        for name in runs:
            if name != "eager" and "Viterbi" not in name:
                table.ratio(f"ratio {name}/eager", compare(res[name], res["eager"]))
        if shape == "tagger":
            table.ratio("ratio onnxruntime+numpy/eager (decoded)", compare(res["onnxruntime + numpy Viterbi"],
                                                                          res["eager + Viterbi"]))
        table.text(f"largest difference from eager: onnxruntime {worst:.2e}, TorchScript {worst_ts:.2e}")
        table.print()
        figures[shape] = {"sentences": sentences, "tokens": tokens, "batches": len(batches), "max_abs_diff_onnx": worst,
                          "max_abs_diff_torchscript": worst_ts,
                          **{f"ratio_{name}_vs_eager": compare(res[name], res["eager"])["wall"]
                             for name in ("torchscript", "onnxruntime")},
                          **{name.replace(" ", "_"): summary_of(res[name], "sentences") for name in runs}}
    return figures


def bench_tagger_sparse(args) -> Dict[str, Any]:
    """The optimiser's share of a tagger step: dense for-loop Adam vs fused Adam vs embedding.sparse=true
    (scripts/bench_sparse.py; it uses this module's helpers)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_sparse", Path(__file__).with_name("bench_sparse.py"))
    bench_sparse = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_sparse)
    return bench_sparse.run(args, sys.modules[__name__])


SECTIONS: Dict[str, Callable[[argparse.Namespace], Dict[str, Any]]] = {
    "classifier": bench_classifier,
    "tagger": bench_tagger,
    "tagger_sparse": bench_tagger_sparse,
    "gradient_flow": bench_gradient_flow,
    "forecast": bench_forecast,
    "lm": bench_lm,
    "seq2seq": bench_seq2seq,
    "predict": bench_predict,
    "export": bench_export,
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sections", default="classifier",
                   help=f"comma-separated sections to run, from: {', '.join(SECTIONS)}")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (on a busy 2-core machine two threads can stall in OpenMP)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rounds", type=int, default=3, help="alternating measurements of each side; median reported")
    p.add_argument("--epochs", type=int, default=1, help="epochs a round (sections 1 and 2)")
    p.add_argument("--warmup-batches", type=int, default=20, help="batches of the warm-up run before timing")
    p.add_argument("--cell-batches", type=int, default=50, help="batches timed for fused vs cell (cell is slow)")
    p.add_argument("--max-batches", type=int, default=None,
                   help="cap on the batches of every training comparison (None: the whole epoch; seq2seq: also "
                        "decodes one validation batch only)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round, 6 batches an epoch, 3 cell batches, 2 warm-up batches, toy sizes")
    p.add_argument("--override", action="append", default=[], metavar="SECTION:KEY=VALUE",
                   help="a Hydra override of one section's recipe, e.g. classifier:backbone.cell=gru or "
                        "tagger:data.batch_size=32 (repeatable; sizes live in configs/, not here)")
    p.add_argument("--flop-batches", type=int, default=8,
                   help="batches (spread over the timed ones) whose step FLOPs are counted with FlopCounterMode")
    g = p.add_argument_group("classifier")
    g.add_argument("--sst2", default=None, help="directory holding stsa.binary.train (None: the built-in sentiment data)")
    g = p.add_argument_group("gradient_flow (the classifier options above choose its model and data)")
    g.add_argument("--gradient-flow-every", type=int, default=50, help="GradientFlow records every this many steps")
    g = p.add_argument_group("tagger")
    g.add_argument("--conll2003", default=None, help="directory holding train.txt and valid.txt (None: built-in WNUT-17)")
    g.add_argument("--tagger-batches", type=int, default=300,
                   help="training batches timed in tagger section 1 (300: ~2.5 min of the section on an idle core)")
    g.add_argument("--tagger-step-batches", type=int, default=100,
                   help="training batches (the first of section 1's) timed for the CRF's share of a step")
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
    g.add_argument("--predict-ckpt", default=None, help="a classifier checkpoint (None: the task=sentiment recipe, "
                   "trained --predict-train-steps steps on the built-in data)")
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
    if min(args.rounds, args.epochs, args.threads, args.cell_batches, args.warmup_batches, args.flop_batches,
           args.tagger_batches, args.tagger_step_batches) < 1:
        p.error("--rounds, --epochs, --threads, --cell-batches, --warmup-batches, --flop-batches, --tagger-batches "
                "and --tagger-step-batches must be >= 1")
    bad = [o for o in args.override if ":" not in o or o.split(":", 1)[0] not in SECTIONS or "=" not in o]
    if bad:
        p.error(f"--override {bad[0]!r}: give SECTION:KEY=VALUE with SECTION one of {list(SECTIONS)}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    import pytorch_lightning as pl

    quiet_lightning()  # after the import: importing pytorch_lightning sets its logger's level to INFO

    print(f"seqkit speed benchmark: torch {torch.__version__}, pytorch-lightning {pl.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"torch threads: {threads['threads']} (inter-op {threads['interop_threads']}, "
          f"OMP_NUM_THREADS={threads['OMP_NUM_THREADS'] or 'unset'}); sections: {', '.join(args.sections)}; "
          f"{args.rounds} round(s), median reported" + ("; QUICK mode (figures meaningless)" if args.quick else ""))
    summary: Dict[str, Any] = {"torch": torch.__version__, "lightning": pl.__version__, **threads,
                               "quick": args.quick, "sections": {}}
    start = time.perf_counter()
    for name in args.sections:
        print(f"== {name} " + "=" * (78 - len(name)))
        section_start = time.perf_counter()
        summary["sections"][name] = SECTIONS[name](args)
        summary["sections"][name]["seconds"] = round(time.perf_counter() - section_start, 1)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(f"total {summary['seconds']:.0f} s; ratios are medians over rounds, by wall clock (CPU time beside it)")
    print(json.dumps(summary, default=float), flush=True)
    return summary


if __name__ == "__main__":
    main()
