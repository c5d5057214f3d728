"""The scale benchmark (``scripts/bench_scale.py``): data larger than memory, for the character language model
(section ``lm``) and, where ``seqkit/benchmark/scale_stream.py`` is present, one streamed shape (section ``stream``).

Section ``lm``: corpora of ``--sizes`` MB made by repeating the built-in tiny-shakespeare, a 100 KB validation file.
For each: the preparation throughput (``LanguageModelCodec.prepare`` from an empty cache, one thread: MB/s), then
``seqkit train task=lm data.prepare=true`` in a subprocess for ``--steps`` steps on the prepared corpus, timing the
first training step from the command's start and reading the process's peak RSS (``ScaleProbe``, a callback given
to the run). The "before" rows (``--baseline-sizes``) run the in-memory path (``data.prepare=false``) the same way.
Training throughput: steps/s of the prepared path over the in-memory path on the same small file, measured in this
run (after the first step, so start-up is left out). Every row is a dict with the keys of ``ROW_KEYS``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytorch_lightning as pl

from seqkit.benchmark.timing import set_threads, threads_line
from seqkit.data.builtin import builtin_files

ROW_KEYS = (
    "section",
    "corpus_mb",
    "prepare_mb_s",
    "first_step_s",
    "peak_rss_gb",
    "train_ratio_vs_memory",
    "train_ratio_1_worker",
)
MB = 1_000_000
VAL_BYTES = 100_000  # the validation file of every run
RATIO_MB = 2  # the small file of the throughput ratio (prepared vs in memory)
TRAIN = ["task=lm", "test=false", "model.sample_length=0", "+trainer.limit_val_batches=1"]
TRAIN += ["trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false", "logger=csv"]


class ScaleProbe(pl.Callback):
    """What the benchmark reads of a training run, written as JSON to ``path`` when training ends: the wall-clock
    time of the first training step's start, of every step's end, and the process's peak RSS (GB)."""

    def __init__(self, path: str):
        self.path = path
        self.first: Optional[float] = None
        self.ends: List[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first is None:
            self.first = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.time())

    def on_train_end(self, trainer, pl_module) -> None:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
        record = {"first": self.first, "ends": self.ends, "peak_rss_gb": peak_kb / 1024**2}
        Path(self.path).write_text(json.dumps(record), encoding="utf-8")


def shakespeare() -> bytes:
    """The built-in tiny-shakespeare's text (1.1 MB)."""
    return gzip.decompress(Path(builtin_files("tinyshakespeare", "all")[0]).read_bytes())


def make_corpus(path: Path, size_mb: float) -> Path:
    """``size_mb`` MB of tiny-shakespeare repeated (cut at a line end), written piece by piece; kept if present."""
    if path.is_file() and abs(path.stat().st_size - size_mb * MB) < MB:
        return path
    text = shakespeare()
    target, written = int(size_mb * MB), 0
    with open(path, "wb") as out:
        while written < target:
            piece = text[: target - written]
            piece = piece[: piece.rfind(b"\n") + 1]
            if not piece:  # less than a line left
                break
            out.write(piece)
            written += len(piece)
    return path


def run_training(folder: Path, train: Path, val: Path, prepare: bool, steps: int, threads: int) -> Dict[str, Any]:
    """``seqkit train task=lm`` on ``train`` for ``steps`` steps in a subprocess -> the probe's record with
    ``first_step_s`` (from the command's start) and ``steps_per_s`` (after the first step)."""
    probe = folder / f"probe-{train.stem}-{prepare}.json"
    probe.unlink(missing_ok=True)
    args = [
        *TRAIN,
        f"data.train_path={train}",
        f"data.val_path={val}",
        f"data.prepare={str(prepare).lower()}",
        f"data.prepare_dir={folder / 'prepared'}",
        f"+trainer.max_steps={steps}",
        f"threads={threads}",
        f"hydra.run.dir={folder / 'runs' / f'{train.stem}-{prepare}'}",
        "+callbacks.scale_probe._target_=seqkit.benchmark.scale.ScaleProbe",
        f"+callbacks.scale_probe.path={probe}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "seqkit", "train", *args], cwd=folder, env=env, capture_output=True, text=True
    )
    if done.returncode != 0 or not probe.is_file():
        raise RuntimeError(f"training on {train} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    record = json.loads(probe.read_text(encoding="utf-8"))
    ends = record["ends"]
    record["first_step_s"] = record["first"] - start
    record["steps_per_s"] = (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else None
    return record


def prepare_rate(folder: Path, train: Path, val: Path) -> float:
    """MB/s of preparing ``train`` (hash, vocabulary, ids) and ``val`` from an empty cache, in this process."""
    from seqkit.tasks.language_model.codec import LanguageModelCodec

    cache = folder / "prepared"
    for old in cache.glob(f"{train.name}*"):
        if old.is_dir():
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            old.unlink()
    codec = LanguageModelCodec(train_path=str(train), val_path=str(val), prepare=True, prepare_dir=str(cache))
    start = time.perf_counter()
    codec.prepare()
    return train.stat().st_size / MB / (time.perf_counter() - start)


def lm_rows(
    folder: Path, sizes: List[float], baseline: List[float], steps: int, ratio_steps: int, threads: int
) -> List[Dict]:
    val = folder / "val.txt"
    val.write_bytes(shakespeare()[-VAL_BYTES:])
    small = make_corpus(folder / f"corpus-{RATIO_MB}mb.txt", RATIO_MB)
    prepare_rate(folder, small, val)
    memory = run_training(folder, small, val, False, ratio_steps, threads)["steps_per_s"]
    mapped = run_training(folder, small, val, True, ratio_steps, threads)["steps_per_s"]
    ratio = mapped / memory if memory and mapped else None
    rows = []
    for size in sizes:
        corpus = make_corpus(folder / f"corpus-{size:g}mb.txt", size)
        rate = prepare_rate(folder, corpus, val)
        run = run_training(folder, corpus, val, True, steps, threads)
        rows.append(_row("lm", size, rate, run, ratio))
    for size in baseline:
        corpus = make_corpus(folder / f"corpus-{size:g}mb.txt", size)
        rows.append(_row("lm-in-memory", size, None, run_training(folder, corpus, val, False, steps, threads), None))
    return rows


def _row(section: str, size: float, rate: Optional[float], run: Dict[str, Any], ratio: Optional[float]) -> Dict:
    def rounded(value, digits):
        return None if value is None else round(value, digits)

    return {
        "section": section,
        "corpus_mb": size,
        "prepare_mb_s": rounded(rate, 1),
        "first_step_s": rounded(run["first_step_s"], 2),
        "peak_rss_gb": rounded(run["peak_rss_gb"], 3),
        "train_ratio_vs_memory": rounded(ratio, 3),
    }


def stream_rows(sizes: List[float], threads: int) -> Optional[List[Dict]]:
    """The ``stream`` section's rows (``seqkit.benchmark.scale_stream.rows``), or None where it is not present."""
    try:
        module = importlib.import_module("seqkit.benchmark.scale_stream")
    except ModuleNotFoundError as e:
        if e.name != "seqkit.benchmark.scale_stream":
            raise
        return None
    return module.rows([int(s) if float(s).is_integer() else s for s in sizes], threads)


def table(rows: List[Dict]) -> str:
    lines = ["  ".join(f"{k:>22}" for k in ROW_KEYS)]
    lines += ["  ".join(f"{'-' if r.get(k) is None else r[k]!s:>22}" for k in ROW_KEYS) for r in rows]
    return "\n".join(lines)


def sizes_of(text: str) -> List[float]:
    return [float(s) for s in text.split(",") if s.strip()]


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="lm,stream", help="comma-separated: lm, stream")
    parser.add_argument("--sizes", type=sizes_of, default=[10, 100, 1000], help="corpus sizes in MB: 10,100,1000")
    parser.add_argument("--baseline-sizes", type=sizes_of, default=[10, 100], help="in-memory 'before' rows (MB)")
    parser.add_argument("--steps", type=int, default=3, help="training steps a run")
    parser.add_argument("--ratio-steps", type=int, default=20, help="steps of each run of the throughput ratio")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS of the runs)")
    parser.add_argument("--folder", default=None, help="where corpora and runs go (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="1 MB only, for the test: does it run?")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.baseline_sizes, args.steps, args.ratio_steps = [1.0], [1.0], 2, 3
    return args


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    args = parse(argv)
    print(threads_line(set_threads(args.threads)), flush=True)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"lm", "stream"}
    if unknown:
        raise SystemExit(f"error: unknown section(s) {sorted(unknown)}; the sections are lm, stream")
    with tempfile.TemporaryDirectory(prefix="seqkit-scale-") as tmp:
        folder = Path(args.folder or tmp).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        rows: List[Dict] = []
        if "lm" in sections:
            rows += lm_rows(folder, args.sizes, args.baseline_sizes, args.steps, args.ratio_steps, args.threads)
        if "stream" in sections:
            streamed = stream_rows(args.sizes, args.threads)
            if streamed is None:
                print("section stream: seqkit/benchmark/scale_stream.py is not present; skipped", flush=True)
            rows += streamed or []
    print(table(rows))
    print(json.dumps({"threads": args.threads, "rows": rows}))
    return rows
