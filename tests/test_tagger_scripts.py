"""End to end: scripts/train.py, evaluate.py and predict.py for task=ner on tiny CoNLL files (subprocesses)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]

PATTERNS = [
    (("apple", "inc"), ("B-ORG", "O")),
    (("ate", "apple"), ("O", "B-FRUIT")),
    (("new", "york"), ("B-LOC", "I-LOC")),
    (("new", "shoes"), ("O", "O")),
]
FILLERS = ["the", "we", "saw", "today", "and", "big", "very", "then"]


def conll_text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        length = rng.randint(4, 12)
        tokens = [(rng.choice(FILLERS), "O") for _ in range(length)]
        start = rng.randrange(0, length - 1)
        (w1, w2), (t1, t2) = rng.choice(PATTERNS)
        tokens[start], tokens[start + 1] = (w1, t1), (w2, t2)
        blocks.append("".join(f"{w} {t}\n" for w, t in tokens))
    return "\n".join(blocks)


def script(name: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SEQKIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_train_evaluate_predict(tmp_path):
    train = write(tmp_path / "train.conll", conll_text(60, 1))
    val = write(tmp_path / "val.conll", conll_text(20, 2))
    test = write(tmp_path / "test.conll", conll_text(20, 3))
    run_dir = tmp_path / "run"
    small = ["embedding.dim=8", "backbone.hidden_size=8", "++model.char={embedding_dim:4,num_filters:4}", "threads=1"]
    done = script(
        "train.py",
        "task=ner",
        "data.builtin=null",
        f"data.train_path={train}",
        f"data.val_path={val}",
        f"data.test_path={test}",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
        *small,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = last_json(done.stdout)
    assert {"val/f1", "test/f1", "val/acc", "test/acc"} <= set(summary)
    assert 0.0 <= summary["test/f1"] <= 1.0
    ckpt = Path(summary["best_checkpoint"])
    assert ckpt == run_dir / "checkpoints" / "best.ckpt" and ckpt.is_file()
    assert "[seqkit]" not in done.stdout.strip().splitlines()[-1]

    done = script("evaluate.py", f"ckpt_path={ckpt}", f"data.test_path={test}", "threads=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = last_json(done.stdout)
    assert scores["test/f1"] == pytest.approx(summary["test/f1"], abs=1e-6)
    assert scores["test/acc"] == pytest.approx(summary["test/acc"], abs=1e-6)

    raw = write(tmp_path / "raw.txt", "we ate apple today\n\nnew york and apple inc unseenword\n")
    done = script("predict.py", f"ckpt_path={ckpt}", f"input={raw}", "options.input_format=text", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [r["tokens"] for r in rows] == [
        ["we", "ate", "apple", "today"],
        [],  # one record a line, blank too
        ["new", "york", "and", "apple", "inc", "unseenword"],
    ]
    assert rows[1] == {"tokens": [], "tags": [], "spans": []}
    rows = [rows[0], rows[2]]
    tag_set = {"B-FRUIT", "B-LOC", "B-ORG", "I-LOC", "O"}
    for r in rows:
        assert set(r) == {"tokens", "tags", "spans"}
        assert len(r["tags"]) == len(r["tokens"]) and set(r["tags"]) <= tag_set
        for span in r["spans"]:
            assert span["text"] == " ".join(r["tokens"][span["start"] : span["end"]])
            assert r["tags"][span["start"]] in (f"B-{span['type']}", f"I-{span['type']}")

    out = tmp_path / "tags.conll"
    done = script(
        "predict.py",
        f"ckpt_path={ckpt}",
        f"input={raw}",
        "options.input_format=text",
        "options.output_format=conll",
        f"output={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = out.read_text(encoding="utf-8").split("\n")
    assert (
        lines[-1] == "" and lines[4] == "" and lines[5] == "" and lines[12] == ""
    )  # a blank line after each sentence (the empty one too)
    pairs = [line.split("\t") for line in lines if line]
    assert [p[0] for p in pairs] == rows[0]["tokens"] + rows[1]["tokens"]
    assert [p[1] for p in pairs] == rows[0]["tags"] + rows[1]["tags"]  # the same model, the same tags


def test_bad_column_count_is_one_error_line(tmp_path):
    good = conll_text(5, 1)
    lines = good.split("\n")
    bad_line = lines.index("") + 3  # 1-based: the second token of the second sentence
    assert lines[bad_line - 1].count(" ") == 1 and lines[bad_line - 2].count(" ") == 1
    lines[bad_line - 1] += " extra"
    train = write(tmp_path / "train.conll", "\n".join(lines))
    val = write(tmp_path / "val.conll", good)
    done = script(
        "train.py",
        "task=ner",
        "data.builtin=null",
        f"data.train_path={train}",
        f"data.val_path={val}",
        "trainer.max_epochs=1",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, done.stderr[-3000:]
    assert error_lines[0].startswith(f"error: {train}:{bad_line}: expected 2 columns, found 3")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
