"""The commands whose output is golden for the legacy checkpoints in tests/legacy/<task>/ (see tests/legacy/record.py).

Each runs in the task's folder as ``python scripts/<script> <args>``; ``export`` prints its sidecar instead of
the file names (see ``EXPORT``), with the path of the checkpoint left out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]

PREDICT = ["predict.py", "ckpt_path=model.ckpt", "input=predict.txt", "threads=1"]
EXPORT = ["export.py", "ckpt_path=model.ckpt", "format=torchscript", "output=export/model.pt"]


def evaluate(*data: str) -> List[str]:
    return ["evaluate.py", "ckpt_path=model.ckpt", *data, "threads=1"]


COMMANDS: Dict[str, Dict[str, List[str]]] = {
    "sentiment": {"predict": PREDICT, "evaluate": evaluate("data.test_path=data/val.tsv"), "export": EXPORT},
    "ner": {"predict": PREDICT, "evaluate": evaluate("data.test_path=data/val.conll"), "export": EXPORT},
    "pos": {"predict": PREDICT, "evaluate": evaluate("data.test_path=data/val.conllu"), "export": EXPORT},
    "lm": {
        "predict": PREDICT,
        "evaluate": evaluate("data.test_path=data/val.txt"),
        "export": EXPORT,
        "generate": [
            "generate.py",
            "ckpt_path=model.ckpt",
            "prompt=to",
            "max_new_tokens=30",
            "num_samples=2",
            "seed=3",
            "threads=1",
        ],
    },
    "conditional_lm": {
        "evaluate": evaluate("data.test_path=data/val.tsv"),
        "export": EXPORT,
        "generate": [
            "generate.py",
            "ckpt_path=model.ckpt",
            "condition=1",
            "max_new_tokens=12",
            "num_samples=3",
            "seed=0",
            "threads=1",
        ],
    },
    "g2p": {"predict": PREDICT, "evaluate": evaluate("data.test_path=data/val.tsv"), "export": EXPORT},
    "forecast": {"predict": PREDICT, "evaluate": evaluate("data.test_path=data/series.csv"), "export": EXPORT},
}


def command_env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def run_command(
    args: List[str], folder: Path, env: Dict[str, str], python: str = sys.executable
) -> subprocess.CompletedProcess:
    """Run ``python scripts/<args[0]> <args[1:]>`` in ``folder``; for an export, stdout becomes its sidecar."""
    done = subprocess.run(
        [python, str(REPO / "scripts" / args[0]), *args[1:]],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if args[0] == "export.py" and done.returncode == 0:
        import json

        sidecar = json.loads((folder / "export" / "model.json").read_text(encoding="utf-8"))
        sidecar.pop("checkpoint")
        done.stdout = json.dumps(sidecar, indent=1, sort_keys=True) + "\n"
    return done
