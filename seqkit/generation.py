"""The old, Lightning path of ``scripts/generate.py`` (kept until the integration step removes ``seqkit.run``'s
loader): ``generate`` loads through ``seqkit.run.load_checkpoint`` and then runs ``seqkit.app.generate.generate_with``,
the one generation code (the application's, on (network, codec)), so the text is the same."""

from __future__ import annotations

from typing import List

from omegaconf import DictConfig

from seqkit.app.generate import generate_with
from seqkit.cli import quiet_libraries, set_threads


def generate(cfg: DictConfig) -> List[str]:
    """Continue ``prompt`` (or unroll from ``condition``) ``num_samples`` times, streaming each text to stdout."""
    from seqkit.run import given_vectors, load_checkpoint  # Lightning: only on this path

    set_threads(cfg)
    quiet_libraries()
    model, datamodule = load_checkpoint(cfg.ckpt_path, **given_vectors(cfg))
    if not hasattr(datamodule, "encode_prompt"):
        raise ValueError(f"{cfg.ckpt_path}: not a language model checkpoint (train one with task=lm)")
    return generate_with(cfg, getattr(model, "network", model), datamodule)  # a TaskModule: its network
