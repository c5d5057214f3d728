"""Training-speed benchmarks: every figure is a ratio against a baseline measured in the same run.

    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections classifier --sst2 ../shared/data/sst2
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections tagger --conll2003 ../shared/data/conll2003
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections gradient_flow --epochs 2
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections lm
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections seq2seq
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections predict
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections export
    python scripts/bench_speed.py --quick            # a few batches of the built-in data: does it run?

Absolute tokens/s depend on the machine and on whatever else runs on it, so each section compares two
ways of doing the same work, measured alternately (A B, B A, A B, ...) after a warm-up, and reports the
median of each and their ratio. Only the timing lives here; models and data come from the library.

Sections (``--sections``, comma-separated; one function each, registered in ``SECTIONS``):
  classifier  SequenceClassifier on SST-2 train (``--sst2 DIR``) or the built-in sentiment data:
              1. Lightning Trainer vs a plain PyTorch loop (same model, batches, Adam, clipping)
              2. bucketed vs shuffled (unbucketed) batches, plain loop
              3. fused (packed nn.LSTM) vs cell (Python loop over nn.LSTMCell) backbone, plain loop
  tagger      SequenceTagger as experiment=conll2003 (word 100 + char CNN, BiLSTM 200, constrained CRF, batch 16,
              Adam lr 0.002) on CoNLL-2003 train/valid (``--conll2003 DIR``) or task=ner's built-in WNUT-17:
              1. Lightning Trainer vs a plain PyTorch BiLSTM-CRF loop (same model, the same --tagger-batches
                 pre-made batches, Adam, clipping)
              2. the CRF's share of a training step (CRF nll forward+backward alone on the step's emissions,
                 over the full step: forward, nll, backward, clip, Adam)
              3. decoding the validation set (eval batches of 256): Viterbi sentences/s on precomputed emissions
                 against argmax (the softmax head's decode) on the same emissions; the full model decode
  gradient_flow  the classifier section's model and batches under pl.Trainer with callbacks=gradient_flow
              (records every --gradient-flow-every steps, pictures at the end of fit) vs without (target >= 0.9)
  forecast    Forecaster as experiment=etth1 (LSTM 64, direct head, last-value norm; input 96 -> 24, batch 64) on ETTh1
              (``--ett DIR``) or a generated hourly series:
              1. Lightning Trainer vs a plain PyTorch loop on the same --forecast-batches windows
              2. forecasts/s: Trainer.predict (predict.py's path) against the bare forward, validation windows
  lm          LanguageModel as task=lm (char level, 2-layer LSTM, 64 streams x 128 steps) on built-in tiny-shakespeare:
              1. Lightning Trainer (truncated BPTT, state carried and detached) vs a plain PyTorch TBPTT loop over
                 the same --lm-batches chunks
              2. greedy generation of --lm-generate-tokens characters with incremental state (one step a token)
                 vs recomputing the whole prefix for every token (the same tokens, checked)
              3. fused (packed nn.LSTM) vs cell (nn.LSTMCell loop) backbone, plain TBPTT loop
  predict     scripts/predict.py with a task=sentiment checkpoint (``--predict-ckpt``, or the recipe trained a few steps):
              1. start-up: wall clock of a fresh process answering 10 sentences, fast path vs Lightning path
              2. sentences/s once started (file -> JSON lines), fast path vs Trainer.predict, and the bare forward
  seq2seq     Seq2Seq as task=g2p (BiLSTM 128, dot attention, batch 256) on the built-in CMU dictionary:
              1. Lightning Trainer vs a plain PyTorch loop (the same --seq2seq-batches batches)
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
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
LR = 1e-3  # Adam, as configs/optimizer/adam.yaml
NER_LR = 2e-3  # Adam lr of configs/task/ner.yaml (and so of experiment=conll2003)
CLIP = 5.0  # gradient-norm clipping, as configs/trainer/default.yaml


# ================================================================================================
# Shared helpers (any section may use them)
# ================================================================================================

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
                epochs: int = 1, lr: float = LR) -> Clock:
    """The baseline loop: forward + loss, backward, clip_grad_norm_, step, zero_grad. -> time of the steps."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    with Clock() as clock:
        for _ in range(epochs):
            for batch in batches:
                loss = loss_fn(model, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, CLIP)
                optimizer.step()
                optimizer.zero_grad()
    return clock


def lightning_train(model, batches: Sequence[Any], epochs: int = 1, callbacks: Sequence[Any] = ()) -> Tuple[Clock, Clock]:
    """Fit ``model`` with a bare pl.Trainer (training only, plus ``callbacks``) on exactly ``batches`` (already collated).

    -> (time inside the training epochs, time of the whole Trainer construction + fit call)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

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
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        gradient_clip_val=CLIP, callbacks=[timer, *callbacks],
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


# ================================================================================================
# Section: classifier
# ================================================================================================

def classification_data(args) -> Tuple[Any, str]:
    """The data module (set up for fit) and a one-line description of which data it is."""
    from seqkit.data import TextClassificationDataModule

    loader_kwargs = {"batch_size": args.batch_size, "bucketing": True}
    if args.sst2:
        path = Path(args.sst2).expanduser() / "stsa.binary.train"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--sst2 takes the directory holding stsa.binary.train)")
        # all of train: nothing held out for validation (split[1] = 0), nothing is evaluated here
        dm = TextClassificationDataModule(train_path=str(path), format="label_space_text", split=(1.0, 0.0, 0.0),
                                          tokenizer={"mode": "whitespace", "lowercase": True}, **loader_kwargs)
        what = f"SST-2 train ({path}), whitespace tokenizer, lowercase"
    else:
        dm = TextClassificationDataModule(builtin="sentiment_labelled", split=(0.8, 0.1, 0.1), split_seed=13,
                                          tokenizer={"mode": "words", "lowercase": True}, **loader_kwargs)
        what = "built-in sentiment_labelled, train split (80%), words tokenizer, lowercase"
    dm.setup("fit")
    return dm, what


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


def build_classifier(args, dm, impl: str = "fused", state: Optional[Dict[str, torch.Tensor]] = None):
    """configs/task/sentiment.yaml's model (dropouts included) with --cell/--hidden-size/... applied."""
    from seqkit.models import SequenceClassifier

    model = SequenceClassifier(
        **{"embedding_dim": args.embedding_dim, **dm.model_kwargs()}, embedding_dropout=0.3, pooling=args.pooling,
        dropout=0.5, backbone={"cell": args.cell, "hidden_size": args.hidden_size, "num_layers": 1,
                               "bidirectional": True, "dropout": 0.0, "impl": impl},
        optimizer={"_target_": "torch.optim.Adam", "lr": LR},
    )
    if state is not None:
        model.load_state_dict(state)
    return model


def bench_classifier(args) -> Dict[str, Any]:
    seed_all(args.seed)
    dm, what = classification_data(args)
    model = build_classifier(args, dm)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    figures: Dict[str, Any] = {
        "data": "sst2" if args.sst2 else "builtin:sentiment_labelled", "train_sentences": len(dm.datasets["train"]),
        "vocab": len(dm.vocab),
        "model": {"cell": args.cell, "bidirectional": True, "hidden_size": args.hidden_size,
                  "embedding_dim": args.embedding_dim, "pooling": args.pooling, "parameters": n_params},
        "batch_size": args.batch_size, "epochs_per_round": args.epochs, "rounds": args.rounds,
    }
    print(f"data:  {what}: {len(dm.datasets['train']):,} sentences, vocabulary {len(dm.vocab):,}")
    print(f"model: SequenceClassifier, bidirectional {args.cell.upper()} hidden {args.hidden_size}, "
          f"embedding {args.embedding_dim}, pooling {args.pooling}, dropout 0.3/0.5, {n_params:,} parameters; "
          f"Adam lr {LR:g}, clip {CLIP:g}")

    def reset(m):
        m.load_state_dict(init_state)
        return m

    # ---- 1. Lightning Trainer vs plain loop: same model init, same batches, same optimiser ----------
    batches = epoch_batches(dm, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    plain_model = build_classifier(args, dm, state=init_state)
    pl_model = build_classifier(args, dm, state=init_state)
    warm = batches[: args.warmup_batches]
    plain_train(reset(plain_model), warm, classifier_loss)
    lightning_train(reset(pl_model), warm)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epochs, whole = lightning_train(reset(pl_model), batches, args.epochs)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)

    res = alternate({"plain": lambda: plain_train(reset(plain_model), batches, classifier_loss, args.epochs).rate(tokens),
                     "lightning": run_lightning}, args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain loop ({len(batches)} bucketed batches x {args.epochs} epoch(s), "
              f"{tokens:,} real tokens a round)", res, whole_fit, len(batches), tokens)

    # ---- 2. bucketed vs unbucketed (shuffled) batches, plain loop, fresh epoch each round ----------
    padding: Dict[str, List[float]] = {"bucketed": [], "shuffled": []}

    def run_batching(bucketing: bool) -> Rate:
        name = "bucketed" if bucketing else "shuffled"
        flat = [b for _ in range(args.epochs) for b in epoch_batches(dm, bucketing, args.max_batches)]
        padding[name].append(real_tokens(flat) / padded_positions(flat))
        return plain_train(reset(plain_model), flat, classifier_loss).rate(real_tokens(flat))

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
    fused_model = build_classifier(args, dm, impl="fused", state=init_state)
    cell_model = build_classifier(args, dm, impl="cell", state=init_state)
    plain_train(reset(cell_model), few[: max(1, args.warmup_batches // 4)], classifier_loss)
    res3 = alternate({"fused": lambda: plain_train(reset(fused_model), few, classifier_loss).rate(few_tokens),
                      "cell": lambda: plain_train(reset(cell_model), few, classifier_loss).rate(few_tokens)}, args.rounds)
    r3 = compare(res3["fused"], res3["cell"])
    t3 = Table(f"3. fused vs cell backbone impl (plain loop, the same {len(few)} batches, {few_tokens:,} real tokens)")
    t3.rate(f"fused (packed nn.{args.cell.upper()})", res3["fused"])
    t3.rate(f"cell (loop over nn.{args.cell.upper()}Cell)", res3["cell"])
    t3.ratio("ratio fused/cell", r3)
    t3.print()
    figures["fused_vs_cell"] = {
        "batches": len(few), "real_tokens": few_tokens, "ratio": r3["wall"], "ratio_cpu": r3["cpu"],
        "fused": summary_of(res3["fused"]), "cell": summary_of(res3["cell"]),
    }
    return figures


# ================================================================================================
# Section: tagger
# ================================================================================================

def tagging_data(args) -> Tuple[Any, str, float]:
    """configs/experiment/conll2003.yaml's data (or, without --conll2003, task=ner's built-in WNUT-17), set up
    for fit. -> (data module, a one-line description of which data it is, the recipe's word dropout)."""
    from seqkit.data import TaggingDataModule

    # configs/task/ner.yaml: format conll, label column -1 (the NER column), IOB2, strict, min_freq 1,
    # max_word_length 40, batch 16, eval batch 256, bucketing
    common = {"format": "conll", "label_column": -1, "scheme": "iob2", "batch_size": args.tagger_batch_size,
              "eval_batch_size": 256, "bucketing": True}
    if args.conll2003:
        root = Path(args.conll2003).expanduser()
        for name in ("train.txt", "valid.txt"):
            if not (root / name).is_file():
                sys.exit(f"error: {root / name} not found (--conll2003 takes the directory holding train.txt, valid.txt)")
        # experiment=conll2003 overrides: zero_digits true, word_dropout 0.02
        dm = TaggingDataModule(train_path=str(root / "train.txt"), val_path=str(root / "valid.txt"), zero_digits=True,
                               **common)
        what, word_dropout = f"CoNLL-2003 train/valid ({root}), zero_digits", 0.02
    else:
        dm = TaggingDataModule(builtin="wnut17", zero_digits=False, **common)  # task=ner as it is
        what, word_dropout = "built-in WNUT-17 train/dev (no --conll2003 given; task=ner's default data)", 0.05
    dm.setup("fit")
    return dm, what, word_dropout


def build_tagger(dm, word_dropout: float, state: Optional[Dict[str, torch.Tensor]] = None):
    """configs/task/ner.yaml's model (+ experiment=conll2003's word dropout): word 100-d + char CNN,
    BiLSTM 200, dropouts 0.5, constrained CRF head; Adam lr 0.002."""
    from seqkit.models import SequenceTagger

    model = SequenceTagger(**{"embedding_dim": 100, **dm.model_kwargs()}, embedding_dropout=0.5,
                           word_dropout=word_dropout, char_encoder="cnn", char={},
                           backbone={"cell": "lstm", "hidden_size": 200, "bidirectional": True},
                           head="crf", constrained=True, dropout=0.5,
                           optimizer={"_target_": "torch.optim.Adam", "lr": NER_LR})
    if state is not None:
        model.load_state_dict(state)
    return model


def tagger_loss(model, batch) -> torch.Tensor:
    """What SequenceTagger.training_step computes: CRF nll (mean over sentences) of the model's emissions."""
    return model.loss(model(batch), batch)


def bench_tagger(args) -> Dict[str, Any]:
    seed_all(args.seed)
    dm, what, word_dropout = tagging_data(args)
    model = build_tagger(dm, word_dropout)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    n_train, n_val = len(dm.datasets["train"]), len(dm.datasets["val"])
    print(f"data:  {what}: {n_train:,} training sentences, {n_val:,} validation")
    print(f"model: SequenceTagger, word 100 + char CNN {model.chars.output_dim}, BiLSTM 200, constrained CRF over "
          f"{len(dm.tags)} tags, dropout 0.5/0.5, word dropout {word_dropout:g}, {n_params:,} parameters; "
          f"Adam lr {NER_LR:g}, clip {CLIP:g}, batch {args.tagger_batch_size}")
    figures: Dict[str, Any] = {
        "data": "conll2003" if args.conll2003 else "builtin:wnut17", "train_sentences": n_train, "val_sentences": n_val,
        "tags": len(dm.tags), "parameters": n_params, "batch_size": args.tagger_batch_size, "lr": NER_LR,
        "word_dropout": word_dropout, "rounds": args.rounds,
    }

    def reset(m):
        m.load_state_dict(init_state)
        return m

    def train_plain(m, batches) -> Clock:
        return plain_train(reset(m), batches, tagger_loss, lr=NER_LR)

    # ---- 1. Lightning Trainer vs plain BiLSTM-CRF loop: same init, batches, optimiser ---------------
    batches = epoch_batches(dm, bucketing=True, limit=args.tagger_batches)
    tokens = real_tokens(batches)
    plain_model, pl_model = build_tagger(dm, word_dropout, init_state), build_tagger(dm, word_dropout, init_state)
    warm = batches[: args.warmup_batches]
    train_plain(plain_model, warm)
    lightning_train(reset(pl_model), warm)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epoch, whole = lightning_train(reset(pl_model), batches)
        whole_fit.append(whole.rate(tokens))
        return epoch.rate(tokens)

    res = alternate({"plain": lambda: train_plain(plain_model, batches).rate(tokens), "lightning": run_lightning},
                    args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain BiLSTM-CRF loop ({len(batches)} bucketed batches, {tokens:,} real tokens)",
        res, whole_fit, len(batches), tokens)

    # ---- 2. the CRF's share of a training step: (a) the full step, (b) the CRF nll forward + backward alone
    # on the emissions of the same batches (detached leaves: nothing flows back into the encoder) ---------
    steps = batches[: args.tagger_step_batches]
    step_tokens = real_tokens(steps)
    step_model = build_tagger(dm, word_dropout, init_state).train()
    with torch.no_grad():
        emissions = [step_model(b).float() for b in steps]  # training mode: as the step sees them

    def crf_only() -> Rate:
        crf = step_model.crf
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

    # ---- 3. decoding the validation set (length-sorted eval batches of 256): Viterbi vs argmax on the same
    # precomputed emissions, and the whole model (forward + Viterbi) in eval mode --------------------------
    model = reset(build_tagger(dm, word_dropout)).eval()
    val = list(dm.val_dataloader())
    sentences = sum(len(b) for b in val)
    with torch.no_grad():
        val_emissions = [model(b).float() for b in val]

    def decode(fn) -> Rate:
        with torch.no_grad(), Clock() as clock:
            for e, b in zip(val_emissions, val):
                fn(e, b.mask)
        return clock.rate(sentences)

    def full_decode() -> Rate:
        with torch.no_grad(), Clock() as clock:
            for b in val:
                model.decode(model(b), b.mask)
        return clock.rate(sentences)

    res3 = alternate({"viterbi": lambda: decode(lambda e, m: model.crf.viterbi(e, m)[0]),
                      # what the softmax head decodes: argmax of softmax = argmax of the emissions
                      "argmax": lambda: decode(lambda e, m: e.argmax(-1).masked_fill(~m, 0)),
                      "model": full_decode}, args.rounds)
    r3 = compare(res3["viterbi"], res3["argmax"])
    viterbi_share = {k: ratio(median([getattr(r, k) for r in res3["model"]]), median([getattr(r, k) for r in res3["viterbi"]]))
                     for k in ("wall", "cpu")}
    t3 = Table(f"3. decoding the validation set ({sentences:,} sentences, {len(val)} length-sorted eval batches of "
               f"<= 256)", unit="sentences/s")
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
    dm, what = classification_data(args)
    model = build_classifier(args, dm)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    batches = epoch_batches(dm, bucketing=True, limit=args.max_batches)
    tokens = real_tokens(batches) * args.epochs
    every = args.gradient_flow_every
    print(f"data:  {what}: {len(batches)} bucketed batches x {args.epochs} epoch(s), {tokens:,} real tokens a round")
    print(f"model: SequenceClassifier, bidirectional {args.cell.upper()} hidden {args.hidden_size} (fused); "
          f"GradientFlow every {every} steps, pictures at the end of fit")

    def reset():
        model.load_state_dict(init_state)
        return model

    lightning_train(reset(), batches[: args.warmup_batches])
    whole_fit: Dict[str, List[Rate]] = {"off": [], "on": []}
    records: List[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        def run(on: bool) -> Rate:
            callbacks = [GradientFlow(every_n_steps=every, dirpath=tmp)] if on else []
            epochs, whole = lightning_train(reset(), batches, args.epochs, callbacks)
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

def forecast_data(args) -> Tuple[Any, str]:
    """experiment=etth1's windows (OT, input 96 -> 24, batch 64) from ``--ett DIR``, or the same shape over a
    generated 3,000-hour series (a daily cycle plus noise) when no folder is given."""
    import math
    import tempfile
    from datetime import datetime, timedelta

    from seqkit.data import TimeSeriesDataModule

    common = dict(time_column="date", target="OT", input_length=96, horizon=24, season=24, batch_size=64,
                  eval_batch_size=256)
    if args.ett:
        path = Path(args.ett).expanduser() / "ETTh1.csv"
        if not path.is_file():
            sys.exit(f"error: {path} not found (--ett takes the directory holding ETTh1.csv)")
        dm, what = TimeSeriesDataModule(path=str(path), split=[8640, 2880, 2880], **common), f"ETTh1 OT ({path})"
    else:
        rng = random.Random(args.seed)
        start = datetime(2020, 1, 1)
        rows = ["date,OT"] + [f"{start + timedelta(hours=i):%Y-%m-%d %H:%M:%S},"
                              f"{10 + 3 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.3):.4f}" for i in range(3000)]
        path = Path(tempfile.mkdtemp()) / "series.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        dm, what = TimeSeriesDataModule(path=str(path), split=[2000, 500, 500], **common), "generated hourly series"
    dm.setup("fit")
    return dm, what


def build_forecaster(dm, state: Optional[Dict[str, torch.Tensor]] = None):
    """experiment=etth1's model without the highway: LSTM 64 (forward only), direct head, last-value instance norm, MSE;
    Adam lr 1e-3."""
    from seqkit.models import Forecaster

    model = Forecaster(**dm.model_kwargs(), backbone={"cell": "lstm", "hidden_size": 64, "bidirectional": False},
                       head="direct", instance_norm="last", loss="mse",
                       optimizer={"_target_": "torch.optim.Adam", "lr": LR})
    if state is not None:
        model.load_state_dict(state)
    return model


def forecaster_loss(model, batch) -> torch.Tensor:
    """What Forecaster.training_step computes (direct head: no teacher forcing)."""
    return model.output.nll(model(batch.x, batch.future), batch.y, batch.mask[..., None].expand_as(batch.y))


def bench_forecast(args) -> Dict[str, Any]:
    import pytorch_lightning as pl

    seed_all(args.seed)
    dm, what = forecast_data(args)
    model = build_forecaster(dm)
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    batches = epoch_batches(dm, bucketing=False, limit=args.forecast_batches)
    windows = sum(len(b) for b in batches)
    print(f"data:  {what}: {len(dm.datasets['train']):,} training windows of 96 -> 24, {len(dm.datasets['val']):,} validation")
    print(f"model: Forecaster, LSTM 64, direct head, last-value instance norm, MSE, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters; Adam lr {LR:g}, clip {CLIP:g}, batch 64")
    figures: Dict[str, Any] = {"data": "etth1" if args.ett else "generated", "batches": len(batches), "rounds": args.rounds}

    def reset(m):
        m.load_state_dict(init_state)
        return m

    # ---- 1. Lightning Trainer vs plain loop, same windows (as the training steps see them) -------------
    plain_model, pl_model = build_forecaster(dm, init_state), build_forecaster(dm, init_state)
    warm = batches[: args.warmup_batches]
    plain_train(reset(plain_model), warm, forecaster_loss)
    lightning_train(reset(pl_model), warm)
    whole_fit: List[Rate] = []

    def run_lightning() -> Rate:
        epoch, whole = lightning_train(reset(pl_model), batches)
        whole_fit.append(whole.rate(windows))
        return epoch.rate(windows)

    res = alternate({"plain": lambda: plain_train(reset(plain_model), batches, forecaster_loss).rate(windows),
                     "lightning": run_lightning}, args.rounds)
    figures["trainer_vs_plain"] = report_trainer_vs_plain(
        args, f"1. Lightning Trainer vs plain loop ({len(batches)} batches, {windows:,} windows; rates in windows/s)",
        res, whole_fit, len(batches), windows)

    # ---- 2. forecasts a second: Trainer.predict (what predict.py runs) vs the bare forward, validation windows
    model = reset(build_forecaster(dm)).eval()
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
    t2 = Table(f"2. forecasting the validation windows ({n:,} windows of 24 steps, batches of 256)", unit="forecasts/s")
    t2.rate("Trainer.predict (predict.py's path)", res2["predict"])
    t2.rate("bare forward under no_grad", res2["bare"])
    t2.ratio("ratio predict/bare", r2)
    t2.print()
    figures["predict"] = {"windows": n, "ratio_predict_bare": r2["wall"], **summary_of(res2["predict"], "forecasts"),
                          "bare": summary_of(res2["bare"], "forecasts")}
    return figures


# ================================================================================================
# Section: lm
# ================================================================================================

def lm_data(args):
    """task=lm's data: built-in tiny-shakespeare, char level, --lm-batch-size streams of --lm-bptt steps."""
    from seqkit.data.language_modeling import LanguageModelingDataModule

    dm = LanguageModelingDataModule(builtin="tinyshakespeare", bptt=args.lm_bptt, batch_size=args.lm_batch_size)
    dm.setup("fit")
    return dm


def build_lm(args, vocab_size: int, impl: str = "fused", state: Optional[Dict[str, torch.Tensor]] = None):
    """configs/task/lm.yaml's model (2-layer LSTM, embedding 128, dropout 0.25) at --lm-hidden-size."""
    from seqkit.models import LanguageModel

    model = LanguageModel(vocab_size, embedding_dim=128, dropout=0.25, optimizer={"_target_": "torch.optim.Adam", "lr": 2e-3},
                          backbone={"cell": "lstm", "hidden_size": args.lm_hidden_size, "num_layers": 2, "dropout": 0.25,
                                    "impl": impl})
    if state is not None:
        model.load_state_dict(state)
    return model


def plain_tbptt(model, batches: Sequence[Any], lr: float = 2e-3) -> Clock:
    """The baseline truncated-BPTT loop: carry the state, detach it, token-mean loss, clip, Adam."""
    from seqkit.nn import detach_state

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = None
    with Clock() as clock:
        for batch in batches:
            logits, state = model(batch.tokens, batch.lengths, detach_state(state))
            loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizer.step()
            optimizer.zero_grad()
    return clock


def bench_lm(args) -> Dict[str, Any]:
    """1. Trainer TBPTT vs a plain TBPTT loop on the same chunks; 2. generation with incremental state vs
    recomputing the prefix at every step; 3. fused vs cell-loop backbone (plain TBPTT loop)."""
    from seqkit.nn.decoding import greedy_choice

    seed_all(args.seed)
    dm = lm_data(args)
    n = args.max_batches or args.lm_batches
    batches = [b for _, b in zip(range(n), dm.train_dataloader())]
    tokens = real_tokens(batches)
    vocab = len(dm.vocab)
    print(f"tiny-shakespeare train, {n} chunks of {args.lm_batch_size} streams x {args.lm_bptt} characters; "
          f"LSTM 2 x {args.lm_hidden_size}")
    seed_all(args.seed)
    initial = build_lm(args, vocab).state_dict()
    plain_tbptt(build_lm(args, vocab, state=initial), batches[: args.warmup_batches])  # warm-up

    def lightning_round():
        epochs, whole = lightning_train(build_lm(args, vocab, state=initial), batches)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)
    whole_fit: List[Rate] = []
    res = alternate({"plain": lambda: plain_tbptt(build_lm(args, vocab, state=initial), batches).rate(tokens),
                     "lightning": lightning_round}, args.rounds)
    figures = {"trainer_vs_plain": report_trainer_vs_plain(args, "1. truncated BPTT: Trainer vs plain loop", res,
                                                           whole_fit, n, tokens)}

    model = build_lm(args, vocab, state=initial).eval()
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
            ids = model.generate(prompt, new, greedy_choice)[0]
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

    cell_batches = batches[: args.cell_batches]
    cell_tokens = real_tokens(cell_batches)
    impl = alternate({"fused": lambda: plain_tbptt(build_lm(args, vocab, "fused", initial), cell_batches).rate(cell_tokens),
                      "cell": lambda: plain_tbptt(build_lm(args, vocab, "cell", initial), cell_batches).rate(cell_tokens)},
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
    logits, _ = model(batch.source, batch.source_lengths, batch.target_in)
    return F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=0)


def bench_seq2seq(args) -> Dict[str, Any]:
    """task=g2p's model (BiLSTM 128, dot attention, batch 256) on the built-in CMU dictionary:
    1. Trainer vs plain loop on the same training batches; 2. decoding the validation words: batched beam
    search (beam 5, one step call for batch x beam rows) vs the same search one sentence at a time, and
    beam 5 vs greedy, all batched by 256 (untrained weights: the work per step is the same)."""
    from itertools import islice

    from seqkit.data import ParallelTextDataModule
    from seqkit.models import Seq2Seq

    seed_all(args.seed)
    dm = ParallelTextDataModule(builtin="cmudict", group_references=True, batch_size=256, eval_batch_size=256)
    dm.setup("fit")
    limit = args.max_batches or args.seq2seq_batches
    batches = list(islice(dm.train_dataloader(), limit))
    tokens = sum(int((b.target_out != 0).sum()) for b in batches)

    def build():
        seed_all(args.seed)
        return Seq2Seq(**dm.model_kwargs(), embedding_dim=64, backbone={"hidden_size": 128, "bidirectional": True},
                       attention="dot", input_feeding=False, dropout=0.2, optimizer={"_target_": "torch.optim.Adam", "lr": LR})

    plain_train(build(), batches[: args.warmup_batches], seq2seq_loss)
    whole_fit: List[Rate] = []

    def lightning():
        epochs, whole = lightning_train(build(), batches)
        whole_fit.append(whole.rate(tokens))
        return epochs.rate(tokens)

    res = alternate({"plain": lambda: plain_train(build(), batches, seq2seq_loss).rate(tokens), "lightning": lightning},
                    args.rounds)
    figures = {"train": report_trainer_vs_plain(args, "seq2seq 1: Lightning Trainer vs plain loop (target tokens/s)",
                                                res, whole_fit, len(batches), tokens)}

    model = build().eval()
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
    table = Table("seq2seq 2: decoding the validation words (beam 5)", unit="sentences/s")
    table.rate("beam 5, batched (256 a batch)", res2["beam"])
    table.rate("beam 5, one sentence at a time", res2["beam_single"], f"({len(singles)} sentences)")
    table.rate("greedy, batched", res2["greedy"])
    table.ratio("ratio batched/per-sentence beam", r_batch, 5.0)
    table.ratio("ratio beam/greedy (speed)", r_cost)
    table.print()
    figures["decode"] = {"sentences": sentences, "ratio_batched_vs_single": r_batch["wall"],
                         "ratio_batched_vs_single_cpu": r_batch["cpu"], "ratio_beam_vs_greedy": r_cost["wall"],
                         **{name: summary_of(res2[name], "sentences") for name in res2}}
    return figures


# ================================================================================================
# predict: scripts/predict.py's start-up and throughput (seqkit.light_predict vs the Lightning path)
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
    path (seqkit.light_predict: torch, no Lightning) vs the Lightning path (forced with a trainer.* override),
    and ``python -c "import torch"`` as the floor; 2. sentences/s once started, in this process: the fast path's
    streaming (read, tokenise, batch, forward, JSON out) vs the Lightning path's (Trainer.predict), and the bare
    forward on the same batches."""
    import tempfile

    from seqkit.light_predict import load_light
    from seqkit.predict_stream import stream_predictions
    from omegaconf import OmegaConf

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

    starts = alternate({"fast": process(command), "lightning": process(command + ["trainer.enable_progress_bar=false"]),
                        "torch": process([sys.executable, "-c", "import torch"])}, args.rounds)
    secs = {name: median([r.wall for r in rates]) for name, rates in starts.items()}
    cpu_secs = {name: median([r.cpu for r in rates]) for name, rates in starts.items()}
    print(f"-- predict.py start-up: 10 sentences, a fresh process each time, threads={threads} " + "-" * 12)
    print(f"  {'':<40} {'wall':>8}     {'CPU time':>8}   rounds (wall)")
    for name, label in (("fast", "fast path (seqkit.light_predict)"), ("lightning", "Lightning path (trainer.* override)"),
                        ("torch", "python -c 'import torch' (the floor)")):
        rounds = " ".join(f"{r.wall:.2f}" for r in starts[name])
        print(f"  {label:<40} {secs[name]:>8.2f} s   {cpu_secs[name]:>8.2f} s   [{rounds}]")
    goal = "met" if secs["fast"] <= 2.0 else "NOT met"
    print(f"  {'fast / Lightning':<40} {secs['fast'] / secs['lightning']:>8.3f}x   target: fast <= 2 s: {goal}")

    # 2. throughput once started
    network, reader = load_light(str(ckpt))
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
                network.predict_step(batch, index)
        return clock.rate(len(sentences))

    def packed_lstm() -> Rate:  # the network's forward: nn.LSTM over packed sequences (what predict_step ran before)
        with Clock() as clock, torch.inference_mode():
            for batch in batches:
                network(batch.tokens, batch.lengths).softmax(-1)
        return clock.rate(len(sentences))

    with torch.inference_mode():  # predict_step's looked-up LSTM against nn.LSTM, every sentence
        pairs = [(network.predict_step(b)["probabilities"], network(b.tokens, b.lengths).softmax(-1)) for b in batches]
    max_diff = max(float((a - b).abs().max()) for a, b in pairs)
    same_label = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in pairs)

    streamed(network, reader, None)()  # warm-up
    res = alternate({"fast": streamed(network, reader, None), "lightning": streamed(model, datamodule, trainer),
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
    from seqkit.export.graphs import classifier_graphs, tagger_graphs
    from seqkit.export.runtime import onnx_session, viterbi

    seed_all(args.seed)
    figures: Dict[str, Any] = {"rounds": args.rounds, "onnxruntime_threads": args.threads}
    folder = Path(tempfile.mkdtemp(prefix="seqkit-bench-export-"))
    cls_dm, cls_what = classification_data(args)
    tag_dm, tag_what, word_dropout = tagging_data(args)
    shapes = {"classifier": (build_classifier(args, cls_dm).eval(), classifier_graphs, cls_dm, cls_what),
              "tagger": (build_tagger(tag_dm, word_dropout).eval(), tagger_graphs, tag_dm, tag_what)}
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
            return model(*x) if shape == "classifier" else model(SimpleNamespace(**dict(zip(names, x))))

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


SECTIONS: Dict[str, Callable[[argparse.Namespace], Dict[str, Any]]] = {
    "classifier": bench_classifier,
    "tagger": bench_tagger,
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
    p.add_argument("--max-batches", type=int, default=None, help="cap on batches an epoch (None: the whole epoch)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round, 6 batches an epoch, 3 cell batches, 2 warm-up batches")
    g = p.add_argument_group("classifier")
    g.add_argument("--sst2", default=None, help="directory holding stsa.binary.train (None: the built-in sentiment data)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--embedding-dim", type=int, default=128)
    g.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    g.add_argument("--pooling", default="max", choices=["last", "mean", "max", "attention"])
    g = p.add_argument_group("gradient_flow (the classifier options above choose its model and data)")
    g.add_argument("--gradient-flow-every", type=int, default=50, help="GradientFlow records every this many steps")
    g = p.add_argument_group("tagger")
    g.add_argument("--conll2003", default=None, help="directory holding train.txt and valid.txt (None: built-in WNUT-17)")
    g.add_argument("--tagger-batch-size", type=int, default=16)
    g.add_argument("--tagger-batches", type=int, default=300,
                   help="training batches timed in tagger section 1 (300: ~2.5 min of the section on an idle core)")
    g.add_argument("--tagger-step-batches", type=int, default=100,
                   help="training batches (the first of section 1's) timed for the CRF's share of a step")
    g = p.add_argument_group("forecast")
    g.add_argument("--ett", default=None, help="directory holding ETTh1.csv (None: a generated hourly series)")
    g.add_argument("--forecast-batches", type=int, default=100, help="training batches timed (of 64 windows)")
    g = p.add_argument_group("lm")
    g.add_argument("--lm-batches", type=int, default=20, help="truncated-BPTT chunks timed in lm section 1")
    g.add_argument("--lm-batch-size", type=int, default=64, help="streams (as task=lm)")
    g.add_argument("--lm-bptt", type=int, default=128, help="steps a chunk (as task=lm)")
    g.add_argument("--lm-hidden-size", type=int, default=512, help="LSTM units a layer (as task=lm)")
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
        args.lm_batch_size, args.lm_bptt, args.lm_hidden_size, args.lm_generate_tokens = 8, 32, 32, 40
        args.seq2seq_single = 20
        args.predict_sentences, args.predict_train_steps = 500, 2
        args.export_batch_size = 32
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown or not args.sections:
        p.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    if min(args.rounds, args.epochs, args.threads, args.cell_batches, args.batch_size, args.warmup_batches,
           args.tagger_batch_size, args.tagger_batches, args.tagger_step_batches) < 1:
        p.error("--rounds, --epochs, --threads, --cell-batches, --warmup-batches, --batch-size, --tagger-batch-size, "
                "--tagger-batches and --tagger-step-batches must be >= 1")
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
