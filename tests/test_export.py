"""Exported graphs (ONNX through onnxruntime, TorchScript through torch.jit.load) give the eager model's
numbers within 1e-5 on variable-length batches of other sizes than the traced example, for every shape;
the masked recurrence they run equals packed sequences; CRF Viterbi on exported emissions equals the
model's decoding; bad arguments are one error line."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from seqkit.export import export_checkpoint
from seqkit.export.masked import MaskedRecurrent
from seqkit.export.runtime import decode_tags, load_sidecar, onnx_session
from seqkit.nn import RecurrentEncoder

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-5
LENGTHS = [9, 1, 4, 6]  # not the traced example's (3 sequences, longest 7)
WORDS = [f"w{i}" for i in range(30)]


# ---- tiny checkpoints, built from the task configs ----------------------------------------------------------
def _write(path: Path, lines) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _texts(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


def _data_overrides(task: str, folder: Path):
    if task in ("sentiment", "conditional_lm"):
        rows = [f"{t}\t{'pos' if i % 2 else 'neg'}" for i, t in enumerate(_texts(40, 1))]
        return ["data.builtin=null", f"data.train_path={_write(folder / 'train.tsv', rows)}",
                f"data.val_path={_write(folder / 'val.tsv', rows[:8])}"]
    if task == "ner":
        rng, lines = random.Random(2), []
        for i in range(30):
            lines += [f"Peter B-PER", "Blackburn I-PER"] if i % 2 else ["EU B-ORG"]
            lines += [f"{rng.choice(WORDS)} O" for _ in range(rng.randint(1, 6))] + [""]
        path = _write(folder / "train.conll", lines)
        return ["data.builtin=null", f"data.train_path={path}", f"data.val_path={path}", "data.pretrained=null",
                "embedding.pretrained=null"]
    if task == "lm":
        return ["data.builtin=null", f"data.train_path={_write(folder / 'text.txt', _texts(40, 3))}", "data.bptt=8"]
    if task == "g2p":
        rows = [f"{w}\t{' '.join(w.upper())}" for w in WORDS]
        return ["data.builtin=null", f"data.train_path={_write(folder / 'g2p.tsv', rows)}",
                f"data.val_path={folder / 'g2p.tsv'}"]
    return []  # forecast: the shipped AirPassengers series


def make_checkpoint(folder: Path, task: str, *overrides: str) -> Path:
    """One training step of ``task=<task>`` with tiny sizes, saved as a checkpoint in ``folder``."""
    from hydra import compose, initialize_config_dir
    from seqkit.run import build

    folder.mkdir(parents=True, exist_ok=True)
    small = ["backbone.hidden_size=6", "embedding.dim=5", "seed=0"]
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"task={task}", *small, *_data_overrides(task, folder), *overrides])
    pl.seed_everything(0, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    trainer = pl.Trainer(max_steps=1, limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, default_root_dir=folder)
    trainer.fit(model, datamodule=datamodule)
    path = folder / "model.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    return path


# ---- running the exported files -----------------------------------------------------------------------------
def run_exported(files, sidecar, graph: str, *inputs):
    """The graph's outputs for ``inputs`` (tensors, in the sidecar's input order) as a list of tensors."""
    spec = sidecar["graphs"][graph]
    path = Path(files[graph])
    if sidecar["format"] == "onnx":
        session = onnx_session(path)
        feed = {p["name"]: t.numpy() for p, t in zip(spec["inputs"], inputs)}
        return [torch.from_numpy(np.asarray(o)) for o in session.run(None, feed)]
    out = torch.jit.load(str(path))(*inputs)
    return list(out) if isinstance(out, tuple) else [out]


def assert_close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
        if e.dtype == torch.bool:
            assert torch.equal(g, e)
        else:
            assert float((g.double() - e.double()).abs().max()) <= TOL


def token_batch(vocab_size: int, lengths=LENGTHS, seed=5):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(2, vocab_size, (len(lengths), int(lengths.max())), generator=gen)
    return tokens.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0), lengths


def char_batch(num_chars: int, tokens, lengths, seed=6):
    gen = torch.Generator().manual_seed(seed)
    char_lengths = torch.randint(1, 8, tokens.shape, generator=gen)
    char_lengths = char_lengths.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0)
    chars = torch.randint(2, num_chars, (*tokens.shape, 8), generator=gen)
    return chars.masked_fill(torch.arange(8)[None, None] >= char_lengths[..., None], 0), char_lengths


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


FORMATS = ["onnx", "torchscript"]


def export_both(ckpt: Path):
    """-> {format: (files, sidecar)} for ONNX and TorchScript exports of ``ckpt``."""
    out = {}
    for fmt in FORMATS:
        files = export_checkpoint(str(ckpt), fmt, str(ckpt.parent / f"exported_{fmt}" / "model"))
        out[fmt] = (files, load_sidecar(files["sidecar"]))
    return out


def loaded(ckpt: Path):
    from seqkit.run import load_checkpoint
    return load_checkpoint(str(ckpt))
