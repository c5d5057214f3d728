"""``seqkit prepare``: a language model's text files tokenised once into memory-mapped id files
(``LanguageModelCodec.prepare``, what ``seqkit train task=lm data.prepare=true`` does on first use), without
Lightning. Prints one JSON line a prepared split: its id file's folder, tokens, dtype and source."""

from __future__ import annotations

import json
from typing import Any, Dict

from omegaconf import DictConfig, OmegaConf

from seqkit.tasks.language_model.codec import LanguageModelCodec

LM_DATA = "seqkit.tasks.language_model.datamodule.LanguageModelingDataModule"
LOADER_KEYS = ("bucketing", "num_workers")  # the data module's loaders', not the codec's


def prepare(cfg: DictConfig) -> Dict[str, Dict[str, Any]]:
    settings = OmegaConf.to_container(cfg.data, resolve=True)
    target = settings.pop("_target_", None)
    if target != LM_DATA:
        raise ValueError(f"seqkit prepare reads a language model's text (task=lm), not the data of {target}")
    for key in LOADER_KEYS:
        settings.pop(key, None)
    prepared = LanguageModelCodec(**settings).prepare()
    if not prepared:
        raise ValueError("nothing to prepare: give data.train_path=<text> (and data.prepare=true)")
    for split, record in prepared.items():
        print(json.dumps({"split": split, **record}), flush=True)
    return prepared
