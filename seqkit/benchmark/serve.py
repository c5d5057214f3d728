"""``scripts/bench_serve.py``: seqkit serve under load, against in-process prediction in the same run.

For the sentiment classifier and the NER tagger (a checkpoint given, or the task's recipe trained briefly): the
server (``python -m seqkit serve``, a process of its own with ``--threads`` torch threads) answers requests of one
sentence each from an asyncio aiohttp client at concurrency 1, 8 and 64: requests/s, p50 and p99 latency; and the
ratio of sentences/s served to the sentences/s of in-process prediction (``predict_lines``, what predict.py runs)
on the same sentences with the same thread count. ``--soak N``: N requests at the highest concurrency, every answer
checked against the in-process one, the server's RSS read through it (flat: the last quarter's mean against the
first's). ``--pin`` (the default): the server on the first CPU, the client and the in-process baseline on the
others, as a server's clients are on other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from seqkit.benchmark.predict import sentiment_sentences
from seqkit.benchmark.recipes import CONFIGS
from seqkit.benchmark.timing import Clock, set_threads, threads_line

TARGETS = {"ratio_at_64": 0.8, "p50_ms_at_1": 20.0, "rss_growth": 0.10}  # the targets
QUICK = ["backbone.hidden_size=8", "++trainer.limit_train_batches=2"]  # a tiny model: does it run?
MODELS = {  # name -> (train.py overrides of a brief training run, what its sentences are)
    "classifier": (["task=sentiment"], "built-in sentiment_labelled texts"),
    "tagger": (["task=ner"], "built-in WNUT-17 validation sentences, tokens joined by spaces"),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], prog="scripts/bench_serve.py")
    parser.add_argument("--models", default="classifier,tagger", help="comma-separated: classifier, tagger")
    parser.add_argument("--classifier-ckpt", help="a task=sentiment checkpoint (default: trained briefly here)")
    parser.add_argument("--tagger-ckpt", help="a task=ner checkpoint (default: trained briefly here)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, of the server and in-process")
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated numbers of clients in flight")
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="sentences sent at each concurrency (requests: this over --texts-per-request)",
    )
    parser.add_argument("--sentences", type=int, default=1000, help="distinct sentences sent (and predicted)")
    parser.add_argument("--soak", type=int, default=0, help="this many requests more, every answer checked")
    parser.add_argument(
        "--texts-per-request", type=int, default=1, help="sentences a request (above 1: POST /predict/many)"
    )
    parser.add_argument("--max-batch-size", type=int, help="the server's max_batch_size (default: serve.yaml's)")
    parser.add_argument("--max-wait-ms", type=float, help="the server's max_wait_ms (default: serve.yaml's)")
    parser.add_argument(
        "--serve-override", action="append", default=[], help="a seqkit serve override (e.g. heap_arena_max=0)"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the server on the first CPU, the client and the in-process baseline on the others (Linux, 2+ CPUs)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, few requests: does it run?")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.sentences, args.soak = min(args.requests, 64), min(args.sentences, 32), min(args.soak, 200)
    return args


def train_briefly(name: str, folder: Path, quick: bool) -> Path:
    """The task's recipe (built-in data) trained one epoch (``quick``: two batches of a tiny model): serving speed
    does not depend on how well it is trained."""
    from hydra import compose, initialize_config_dir

    from seqkit.app.train import train

    overrides = [*MODELS[name][0], f"paths.output_dir={folder}", "trainer.max_epochs=1", "test=false"]
    overrides += [
        "trainer.enable_progress_bar=false",
        "++trainer.enable_model_summary=false",
        *(QUICK if quick else []),
    ]
    if quick and name == "tagger":
        overrides += ["embedding.pretrained=null", "embedding.dim=8"]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        train(compose("train", overrides=overrides))
    return folder / "checkpoints" / "best.ckpt"


def sentences_of(name: str, n: int) -> List[str]:
    if name == "classifier":
        return sentiment_sentences(n)
    from seqkit.data.builtin import builtin_files
    from seqkit.data.conll import read_tagged

    texts = [" ".join(s.tokens) for f in builtin_files("wnut17", "val") for s in read_tagged(f) if s.tokens]
    return [texts[i % len(texts)] for i in range(n)]


def in_process(ckpt: Path, sentences: List[str], rounds: int = 10) -> Tuple[float, List[Dict[str, Any]]]:
    """(sentences/s of predict.py's path on ``sentences`` in this process, the best of ``rounds``; the rows)."""
    from seqkit.app.served_model import SOURCE, ServedModel

    model = ServedModel(ckpt)
    key = model.predict_key({})
    best, rows = 0.0, []
    for _ in range(rounds):
        with Clock() as clock:
            rows = model.predict_batch(key, sentences)
        best = max(best, len(sentences) / clock.wall)
    errors = [r for r in rows if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"{SOURCE}: in-process prediction failed: {errors[0]}")
    return best, rows


class Server:
    """``python -m seqkit serve`` on a free port, in a process of its own; ``stop`` interrupts it (Ctrl-C)."""

    def __init__(self, ckpt: Path, args: argparse.Namespace):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "seqkit", "serve", f"ckpt_path={ckpt}", f"port={self.port}"]
        given = {"max_batch_size": args.max_batch_size, "max_wait_ms": args.max_wait_ms}  # None: the server's
        command += [f"threads={args.threads}", *(f"{k}={v}" for k, v in given.items() if v is not None)]
        command += ["log_level=warning", *args.serve_override]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        cpus = {"preexec_fn": lambda: os.sched_setaffinity(0, args.server_cpus)} if args.server_cpus else {}
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, **cpus)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stderr.read().strip()}")
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /health in {timeout:.0f} s")

    def health(self) -> Dict[str, Any]:
        import httpx

        return httpx.get(f"{self.url}/health").json()

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system): on a shared machine, its cost a request."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024

    def stop(self) -> Tuple[int, str]:
        """Interrupt the server -> (its exit status, its standard error)."""
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


async def load(
    url: str, texts: List[str], concurrency: int, per_request: int = 1
) -> Tuple[float, List[float], List[Any]]:
    """Send the texts ``per_request`` a request (1: ``/predict``, more: ``/predict/many``), ``concurrency`` in
    flight -> (wall seconds, latencies of the requests in s, an answer a text in order; an answer that is not a 200
    is ``("status", code, body)``, a request without an answer ``("lost", ...)``).
    The client is aiohttp's: a tenth of httpx's CPU time a request, which matters when both share the cores."""
    import aiohttp

    answers: List[Any] = [None] * len(texts)
    latencies: List[float] = []
    next_index = iter(range(0, len(texts), per_request))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:

        async def worker() -> None:
            for i in next_index:
                start, part = time.perf_counter(), slice(i, i + per_request)
                path, body = (
                    ("/predict", {"text": texts[i]}) if per_request == 1 else ("/predict/many", {"texts": texts[part]})
                )
                try:
                    async with client.post(path, json=body) as response:
                        if response.status != 200:
                            got = [("status", response.status, await response.text())] * len(texts[part])
                        else:
                            got = await response.json()
                            got = [got] if per_request == 1 else got
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    got = [("lost", type(e).__name__, str(e))] * len(texts[part])
                answers[part] = got
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, answers


def same(a: Any, b: Any, tolerance: float = 1e-5) -> bool:
    """Equal answers (floats within ``tolerance``: a batch's other members may move the 6th decimal)."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) <= tolerance
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b))
    return a == b


def percentile(values: List[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


class RssSampler:
    """The server's RSS read every ``every`` seconds on a thread of its own, while a load runs."""

    def __init__(self, server: "Server", every: float = 0.5):
        self.server, self.every, self.samples = server, every, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        self.samples.append(self.server.rss_mb())  # at the start, then every ``every`` s, then at the end
        while not self.done.wait(self.every):
            self.samples.append(self.server.rss_mb())

    def __enter__(self) -> "RssSampler":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join()
        self.samples.append(self.server.rss_mb())


def rss_growth(samples: List[float]) -> float:
    """How much RSS grew over a run: the mean of its last quarter of samples over the mean of its first quarter,
    minus 1. Between two heap trims RSS swings by several percent, so one reading at each end measures the
    swing; a leak moves the means."""
    quarter = max(1, len(samples) // 4)
    return statistics.fmean(samples[-quarter:]) / statistics.fmean(samples[:quarter]) - 1


def soak(server: "Server", sentences: List[str], expected: Dict[str, Any], args: argparse.Namespace) -> Dict[str, Any]:
    """``args.soak`` sentences at the highest concurrency, every answer checked; RSS sampled after the first fifth
    (the allocator's pool grows to its steady size over it) -> lost, wrong and the RSS figures."""
    level = max(int(c) for c in args.concurrency.split(","))
    texts = [sentences[i % len(sentences)] for i in range(args.soak)]
    settle = len(texts) // 5
    start_mb, start = server.rss_mb(), time.perf_counter()  # after the loads before it
    _, _, first = asyncio.run(load(server.url, texts[:settle], level, args.texts_per_request))
    with RssSampler(server) as rss:
        _, _, rest = asyncio.run(load(server.url, texts[settle:], level, args.texts_per_request))
    wall, answers = time.perf_counter() - start, first + rest
    lost = sum(isinstance(a, tuple) for a in answers)
    wrong = sum(not isinstance(a, tuple) and not same(a, expected[t]) for a, t in zip(answers, texts))
    growth = rss_growth(rss.samples)
    print(
        f"  soak: {len(texts):,} sentences ({args.texts_per_request} a request) at concurrency {level} in "
        f"{wall:.1f} s: {lost} lost, {wrong} wrong; server RSS {start_mb:.0f} MB at its start; over the last four "
        f"fifths ({len(rss.samples)} readings) {min(rss.samples):.0f}-{max(rss.samples):.0f} MB, the last quarter's "
        f"mean {100 * growth:+.1f}% on the first quarter's (target within {100 * TARGETS['rss_growth']:.0f}%)"
    )
    return {
        "requests": len(texts),
        "lost": lost,
        "wrong": wrong,
        "rss_start_mb": start_mb,
        "rss_mb": rss.samples,
        "rss_growth": growth,
    }


def bench_model(name: str, ckpt: Path, args: argparse.Namespace) -> Dict[str, Any]:
    sentences = sentences_of(name, args.sentences)
    rate, rows = in_process(ckpt, sentences)
    expected = dict(zip(sentences, rows))
    print(f"-- {name}: {ckpt} ({MODELS[name][1]}, {len(sentences)} sentences)")
    print(f"  in-process prediction (predict.py's path): {rate:,.0f} sentences/s")
    figures: Dict[str, Any] = {"model": name, "in_process_per_s": rate, "levels": {}}
    server = Server(ckpt, args)
    try:
        server.wait_ready()
        asyncio.run(load(server.url, sentences[:8], 1))  # warm up
        print(
            f"  {args.texts_per_request} sentence(s) a request\n"
            f"  {'concurrency':>11} {'requests/s':>11} {'sentences/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'x in-process':>13} {'wrong':>6} {'mean batch':>11} {'server CPU ms/sentence':>23}"
        )
        for level in [int(c) for c in args.concurrency.split(",")]:
            texts = [sentences[i % len(sentences)] for i in range(args.requests)]
            before, cpu = server.health(), server.cpu_seconds()
            wall, latencies, answers = asyncio.run(load(server.url, texts, level, args.texts_per_request))
            after, cpu = server.health(), server.cpu_seconds() - cpu
            wrong = sum(not same(a, expected[t]) for a, t in zip(answers, texts))
            row = {
                "requests_per_s": len(latencies) / wall,
                "sentences_per_s": len(texts) / wall,
                "p50_ms": 1000 * percentile(latencies, 50),
                "p99_ms": 1000 * percentile(latencies, 99),
                "ratio": len(texts) / wall / rate,
                "wrong": wrong,
                "server_cpu_ms": 1000 * cpu / len(texts),
                "mean_batch": (after["requests"] - before["requests"]) / max(1, after["batches"] - before["batches"]),
            }
            figures["levels"][level] = row
            print(
                f"  {level:>11} {row['requests_per_s']:>11,.0f} {row['sentences_per_s']:>12,.0f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
                f"{row['ratio']:>12.2f}x {wrong:>6} {row['mean_batch']:>11.1f} {row['server_cpu_ms']:>23.2f}"
            )
        if args.soak:
            figures["soak"] = soak(server, sentences, expected, args)
    finally:
        status, err = server.stop()
    figures["server_exit"] = status
    print(f"  server stopped by Ctrl-C: exit status {status}" + ("" if status == 0 else f": {err.strip()[-500:]}"))
    return figures


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    print(threads_line(threads))
    print(
        f"targets: at concurrency 64 >= {TARGETS['ratio_at_64']}x in-process sentences/s; p50 at concurrency 1 "
        f"< {TARGETS['p50_ms_at_1']:.0f} ms; soak: nothing lost or wrong, RSS within {100 * TARGETS['rss_growth']:.0f}%"
    )
    mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    args.server_cpus = {min(mine)} if args.pin and len(mine) > 1 else None
    if args.server_cpus:  # a client on another machine, as a server's clients are: the model's core is its own
        os.sched_setaffinity(0, mine - args.server_cpus)
        print(
            f"CPUs: the server on {sorted(args.server_cpus)}, the client and in-process prediction on {sorted(mine - args.server_cpus)}"
        )
    try:
        results = run_models(args)
    finally:
        if args.server_cpus:
            os.sched_setaffinity(0, mine)
    print(json.dumps({"threads": threads["threads"], "results": results}))
    return results


def run_models(args: argparse.Namespace) -> List[Dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        for name in args.models.split(","):
            if name not in MODELS:
                sys.exit(f"error: --models takes {', '.join(MODELS)}, got {name!r}")
            ckpt = getattr(args, f"{name}_ckpt")
            ckpt = Path(ckpt) if ckpt else train_briefly(name, Path(tmp) / name, args.quick)
            results.append(bench_model(name, ckpt, args))
    return results
