"""Section ``predict``: scripts/predict.py with a task=sentiment checkpoint (``--predict-ckpt``, or the recipe
trained a few steps): 1. start-up: wall clock of a fresh process answering 10 sentences, the command line read by
Hydra's compose API vs by ``@hydra.main`` (the same command either way), against importing torch alone; 2.
sentences/s once started (file -> JSON lines) against the bare network."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch

from seqkit.benchmark.recipes import CONFIGS
from seqkit.benchmark.timing import Clock, Rate, Table, alternate, compare, median, summary_of

REPO = Path(__file__).resolve().parents[2]  # a checkout: scripts/predict.py is timed as users run it


def sentiment_checkpoint(path: Path, steps: int) -> Path:
    """A checkpoint of the task=sentiment recipe (composed from seqkit/configs/, built-in data) after ``steps`` training
    steps: prediction speed does not depend on how well it is trained."""
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir

    from seqkit.app.train import build

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=["task=sentiment"])
    dm = build(cfg.data)
    dm.setup("fit")
    model = build(cfg.model, **dm.model_kwargs())
    trainer = pl.Trainer(
        max_steps=steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(path, weights_only=True)
    return path


def sentiment_sentences(n: int) -> List[str]:
    """The built-in sentiment texts (labels cut off), repeated to ``n`` lines."""
    from seqkit.data.builtin import builtin_files
    from seqkit.data.labelled_text import read_labelled_text

    texts = [
        e.text for f in builtin_files("sentiment_labelled", "all") for e in read_labelled_text(f, "text_tab_label")
    ]
    return [texts[i % len(texts)] for i in range(n)]


def bench_predict(args) -> Dict[str, Any]:
    """1. wall clock of ``python scripts/predict.py`` answering 10 sentences (a fresh process each time): composed
    with Hydra's compose API (the usual way) vs run under ``@hydra.main`` (what a Hydra flag such as
    ``--config-name`` selects), and ``python -c "import torch"`` as the floor; 2. sentences/s once started, in this
    process: seqkit.app.predict's streaming (read, tokenise, batch, forward, JSON out) vs the bare network on the
    same batches."""
    import tempfile

    from seqkit.app.checkpoint import load
    from seqkit.app.predict_stream import stream_predictions

    work = Path(tempfile.mkdtemp(prefix="seqkit-bench-predict-"))
    ckpt = (
        Path(args.predict_ckpt)
        if args.predict_ckpt
        else sentiment_checkpoint(work / "sentiment.ckpt", args.predict_train_steps)
    )
    sentences = sentiment_sentences(args.predict_sentences)
    ten, many, out = work / "ten.txt", work / "many.txt", work / "out.jsonl"
    ten.write_text("\n".join(sentences[:10]) + "\n", encoding="utf-8")
    many.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    threads = torch.get_num_threads()

    # 1. start-up: fresh processes, alternating
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        str(REPO / "scripts" / "predict.py"),
        f"ckpt_path={ckpt}",
        f"input={ten}",
        f"output={out}",
        f"threads={threads}",
    ]

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

    runner = command + ["--config-name=predict"]  # a flag only @hydra.main takes: Hydra's application runner
    starts = alternate(
        {
            "fast": process(command),
            "hydra_main": process(runner),
            "torch": process([sys.executable, "-c", "import torch"]),
        },
        args.rounds,
    )
    secs = {name: median([r.wall for r in rates]) for name, rates in starts.items()}
    cpu_secs = {name: median([r.cpu for r in rates]) for name, rates in starts.items()}
    print(f"-- predict.py start-up: 10 sentences, a fresh process each time, threads={threads} " + "-" * 12)
    print(f"  {'':<40} {'wall':>8}     {'CPU time':>8}   rounds (wall)")
    for name, label in (
        ("fast", "compose API (seqkit.app.main)"),
        ("hydra_main", "@hydra.main (a Hydra flag given)"),
        ("torch", "python -c 'import torch' (the floor)"),
    ):
        rounds = " ".join(f"{r.wall:.2f}" for r in starts[name])
        print(f"  {label:<40} {secs[name]:>8.2f} s   {cpu_secs[name]:>8.2f} s   [{rounds}]")
    goal = "met" if secs["fast"] <= 2.0 else "NOT met"
    print(f"  {'compose / @hydra.main':<40} {secs['fast'] / secs['hydra_main']:>8.3f}x   target: <= 2 s: {goal}")

    # 2. throughput once started
    network, reader = load(str(ckpt))
    lines = list(enumerate(sentences, start=1))
    reader.set_predict_input(lines, str(many), input_format="text")
    batches = list(reader.predict_batches())

    def streamed(m, data) -> Callable[[], Rate]:
        def run() -> Rate:
            with Clock() as clock:
                stream_predictions(m, data, str(many), str(out), {"input_format": "text"})
            return clock.rate(len(sentences))

        return run

    def bare() -> Rate:
        with Clock() as clock, torch.inference_mode():
            for index, batch in enumerate(batches):
                network.predict(batch)
        return clock.rate(len(sentences))

    def packed_lstm() -> Rate:  # the network's forward: nn.LSTM over packed sequences (what predict ran before)
        with Clock() as clock, torch.inference_mode():
            for batch in batches:
                network(batch.tokens, batch.lengths).softmax(-1)
        return clock.rate(len(sentences))

    with torch.inference_mode():  # predict's looked-up LSTM against nn.LSTM, every sentence
        pairs = [(network.predict(b)["probabilities"], network(b.tokens, b.lengths).softmax(-1)) for b in batches]
    max_diff = max(float((a - b).abs().max()) for a, b in pairs)
    same_label = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in pairs)

    streamed(network, reader)()  # warm-up
    res = alternate(
        {
            "fast": streamed(network, reader),
            "forward": bare,
            "lstm": packed_lstm,
        },
        args.rounds,
    )
    table = Table(f"predict throughput: {len(sentences):,} sentiment sentences, threads={threads}", "sentences/s")
    table.rate("seqkit.app.predict: file -> JSON lines", res["fast"])
    table.rate("bare predict (looked-up LSTM)", res["forward"])
    table.rate("bare forward with nn.LSTM (packed)", res["lstm"])
    table.ratio("file -> JSON lines / bare predict", compare(res["fast"], res["forward"]))
    table.ratio("predict / nn.LSTM forward", compare(res["forward"], res["lstm"]))
    table.text(
        f"looked-up LSTM vs nn.LSTM: max |probability difference| {max_diff:.2e}, same label "
        f"{same_label:,}/{len(sentences):,}"
    )
    fast = median([r.wall for r in res["fast"]])
    fast_cpu = median([r.cpu for r in res["fast"]])
    table.text(
        f"target >= 10,000 sentences/s (file -> JSON lines): {'met' if fast >= 10_000 else 'NOT met'} by wall clock, "
        f"{'met' if fast_cpu >= 10_000 else 'NOT met'} by CPU time"
    )
    table.print()
    return {
        "checkpoint": str(ckpt),
        "sentences": len(sentences),
        "startup_s": {name: round(v, 3) for name, v in secs.items()},
        "startup_cpu_s": {name: round(v, 3) for name, v in cpu_secs.items()},
        "startup_rounds_s": {name: [round(r.wall, 3) for r in rates] for name, rates in starts.items()},
        "compose_vs_hydra_main_startup": round(secs["fast"] / secs["hydra_main"], 3),
        "streamed_vs_bare": compare(res["fast"], res["forward"]),
        "predict_vs_lstm": compare(res["forward"], res["lstm"]),
        "lookup_vs_lstm": {"max_probability_diff": max_diff, "same_label": same_label},
        **{name: summary_of(res[name], "sentences") for name in res},
    }
