"""Scale benchmark of a streamed shape (``task=sentiment`` over a streamed training file, seqkit/data/streaming.py):
the ``stream`` section of ``scripts/bench_scale.py``.

For each size, a classification corpus made by repeating the built-in sentiment data (text_tab_label lines) is
written to a temporary folder, and ``rows`` reports:

- ``prepare_mb_s``: the vocabulary pass (the streamed count and vocabularies, ``stream_training_set``) in MB a
  second, in this process at ``threads`` torch threads;
- ``first_step_s``: from starting ``scripts/train.py ... data.streaming=true`` to the end of its first training
  step (a fresh process: imports, the vocabulary pass, the model, the first batch);
- ``peak_rss_gb``: that training process's peak resident memory (``os.wait4``'s ``ru_maxrss``);
- ``train_ratio_vs_memory``: training steps a CPU second of the streamed path over the in-memory path, both
  trained on the same small file (``RATIO_MB``) in one call, steps 2 to the last (the first holds the start-up);
  CPU time of the one-thread training process, as ``seqkit.benchmark.timing.Rate`` explains, is the steadier
  measure on a shared machine. Without workers the streamed process reads, tokenises and encodes its examples
  between steps, which the in-memory path did once before training;
- ``train_ratio_1_worker``: the streamed path with one loader worker (``+data.num_workers=1``, which moves that
  reading to a process of its own) over the in-memory path, in training steps a wall-clock second: the measure
  that counts the worker's work as overlap, to be read on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl

from seqkit.benchmark.timing import set_threads, threads_line

REPO = Path(__file__).resolve().parents[2]
RATIO_MB = 2  # the small file the streamed and in-memory training throughputs are compared on
STEPS = 200  # training steps of each timed run
MARK = "scale-stream-timing "  # the line FirstStep prints


class FirstStep(pl.Callback):
    """Prints, once training ends, one line: the wall-clock time at the end of the first step and the steps a
    CPU second after it (data loading included: no workers) (``MARK`` + JSON), read by ``rows``."""

    def __init__(self) -> None:
        self.first: Optional[float] = None
        self.steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.steps += 1
        if self.first is None:
            self.first, self.first_cpu = time.time(), time.process_time()
        self.last, self.last_cpu = time.time(), time.process_time()

    def on_train_end(self, trainer, pl_module) -> None:
        busy = self.last_cpu - self.first_cpu  # this process's CPU time: steadier than wall on a shared machine
        rate = (self.steps - 1) / busy if self.steps > 1 and busy > 0 else float("nan")
        wall = (
            (self.steps - 1) / (self.last - self.first) if self.steps > 1 and self.last > self.first else float("nan")
        )
        print(
            MARK + json.dumps({"first_step_at": self.first, "steps_per_s": rate, "wall_steps_per_s": wall}), flush=True
        )


def write_corpus(path: Path, size_mb: float) -> Path:
    """The built-in sentiment lines, repeated up to ``size_mb`` MB (whole lines)."""
    from seqkit.data.builtin import builtin_files
    from seqkit.data.textfile import read_lines

    files = builtin_files("sentiment_labelled", "all")
    block = "".join(line + "\n" for f in files for _, line in read_lines(f) if line.strip()).encode("utf-8")
    target = int(size_mb * 2**20)
    with open(path, "wb") as f:
        for _ in range(target // len(block)):
            f.write(block)
        rest = block[: target % len(block)]
        f.write(rest[: rest.rfind(b"\n") + 1])
    return path


def prepare_rate(path: Path) -> float:
    """MB a second of the streamed vocabulary pass over ``path``, in this process."""
    from seqkit.data.streaming import stream_training_set
    from seqkit.tasks.classification.codec import ClassificationCodec

    codec = ClassificationCodec(tokenizer={"mode": "words", "lowercase": True})
    start = time.perf_counter()
    stream_training_set(codec, str(path), 32, shuffle_buffer=10000)
    return path.stat().st_size / 2**20 / (time.perf_counter() - start)


def train_run(
    train: Path, val: Path, run_dir: Path, threads: int, streaming: bool, workers: int = 0, steps: int = STEPS
) -> Dict[str, float]:
    """One ``scripts/train.py`` of ``steps`` steps -> first_step_s, steps_per_s (CPU), wall_steps_per_s,
    peak_rss_gb."""
    command = [
        sys.executable,
        str(REPO / "scripts" / "train.py"),
        "task=sentiment",
        f"data.train_path={train}",
        f"data.val_path={val}",
        f"data.streaming={'true' if streaming else 'false'}",
        f"+trainer.max_steps={steps}",
        f"+data.num_workers={workers}",
        "+trainer.limit_val_batches=1",
        "+callbacks.first_step._target_=seqkit.benchmark.scale_stream.FirstStep",
        f"threads={threads}",
        "test=false",
        f"hydra.run.dir={run_dir}",
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out, err = run_dir.with_suffix(".out"), run_dir.with_suffix(".err")
    with open(out, "w") as stdout, open(err, "w") as stderr:
        start = time.time()
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory (Popen.wait would lose it)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"training failed ({process.returncode}): {err.read_text()[-2000:]}")
    lines = out.read_text().splitlines()
    timing = json.loads(next(line for line in lines if line.startswith(MARK))[len(MARK) :])
    return {
        "first_step_s": timing["first_step_at"] - start,
        "steps_per_s": timing["steps_per_s"],
        "wall_steps_per_s": timing["wall_steps_per_s"],
        "peak_rss_gb": usage.ru_maxrss / 2**20,  # Linux: kilobytes
    }


def rows(sizes_mb: List[int], threads: int) -> List[Dict[str, Any]]:
    """One row a corpus size (MB) of the streamed sentiment classifier (module docstring); prints the torch
    thread count."""
    print(threads_line(set_threads(threads)))
    out = []
    with tempfile.TemporaryDirectory(prefix="seqkit-scale-stream-") as tmp:
        folder = Path(tmp)
        val = write_corpus(folder / "val.tsv", 0.05)
        small = write_corpus(folder / "small.tsv", RATIO_MB)
        memory = train_run(small, val, folder / "memory", threads, streaming=False)
        streamed = train_run(small, val, folder / "streamed", threads, streaming=True)
        worker = train_run(small, val, folder / "streamed-worker", threads, streaming=True, workers=1)
        ratio = streamed["steps_per_s"] / memory["steps_per_s"]
        ratio_worker = worker["wall_steps_per_s"] / memory["wall_steps_per_s"]
        for size in sizes_mb:
            corpus = write_corpus(folder / f"train-{size}mb.tsv", size)
            run = train_run(corpus, val, folder / f"run-{size}", threads, streaming=True, steps=3)
            out.append(
                {
                    "section": "stream-classify",
                    "corpus_mb": size,
                    "prepare_mb_s": round(prepare_rate(corpus), 2),
                    "first_step_s": round(run["first_step_s"], 2),
                    "peak_rss_gb": round(run["peak_rss_gb"], 3),
                    "train_ratio_vs_memory": round(ratio, 3),
                    "train_ratio_1_worker": round(ratio_worker, 3),
                    "threads": threads,
                }
            )
            corpus.unlink()
    return out


if __name__ == "__main__":  # python -m seqkit.benchmark.scale_stream 1 10 [--threads 1]
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes_mb", type=int, nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for row in rows(args.sizes_mb, args.threads):
        print(json.dumps(row))
