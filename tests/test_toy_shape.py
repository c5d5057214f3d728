"""A shape has one home: a toy shape defined entirely outside seqkit (tests/toyshape: its network, codec,
metrics, data module, export graph and one registration, plus its task config) trains, evaluates, predicts and
exports through seqkit's real entry points, with no edit anywhere else; ``plugins=[toyshape]`` on the command
line is how seqkit learns of it. The task (count the ``a`` tokens of a line) is learnt, not only run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "toyshape"


def lines(n: int, seed: int):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens = [rng.choice("ab") for _ in range(rng.randint(1, 8))]
        rows.append(f"{' '.join(tokens)}\t{tokens.count('a')}")
    return rows


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    env.pop("SEQKIT_DEBUG", None)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_a_shape_from_outside_seqkit_trains_evaluates_predicts_and_exports(tmp_path):
    for name, n, seed in (("train", 300, 1), ("val", 60, 2)):
        (tmp_path / f"{name}.tsv").write_text("\n".join(lines(n, seed)) + "\n", encoding="utf-8")
    trained = run(
        "train.py",
        "--config-dir",
        str(TOY / "configs"),
        "task=count",
        "plugins=[toyshape]",
        "data.train_path=train.tsv",
        "data.val_path=val.tsv",
        "trainer.max_epochs=6",
        "threads=1",
        "hydra.run.dir=run",
        "trainer.enable_progress_bar=false",
        cwd=tmp_path,
    )
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["val/exact"] >= 0.9, summary  # it counts
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"

    evaluated = run("evaluate.py", f"ckpt_path={ckpt}", "data.test_path=val.tsv", "plugins=[toyshape]", cwd=tmp_path)
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert figures == pytest.approx({"test/mse": summary["val/mse"], "test/exact": summary["val/exact"]}, abs=1e-5)

    (tmp_path / "in.txt").write_text("a a b a\n\nb\n", encoding="utf-8")
    run("predict.py", f"ckpt_path={ckpt}", "input=in.txt", "output=out.jsonl", "plugins=[toyshape]", cwd=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["tokens"] for r in rows] == [["a", "a", "b", "a"], [], ["b"]]
    assert round(rows[0]["count"]) == 3 and rows[1]["count"] is None and round(rows[2]["count"]) == 0

    exported = run(
        "export.py", f"ckpt_path={ckpt}", "format=torchscript", "output=count.pt", "plugins=[toyshape]", cwd=tmp_path
    )
    assert json.loads(exported.stdout)["model"] == "count.pt"
    import torch

    graph = torch.jit.load(str(tmp_path / "count.pt"))
    tokens = torch.tensor([[2, 2, 3, 2]])  # ids of the training vocabulary: a is the most frequent, then b
    sidecar = json.loads((tmp_path / "count.json").read_text(encoding="utf-8"))
    itos = sidecar["data"]["state"]["vocab"]["itos"]
    tokens = torch.tensor([[itos.index(t) for t in ("a", "a", "b", "a")]])
    assert round(float(graph(tokens, torch.tensor([4]))[0])) == 3
    assert sidecar["shape"] == "count"
