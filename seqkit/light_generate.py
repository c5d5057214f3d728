"""Generation without Lightning, torchmetrics or Hydra's application: what ``scripts/generate.py`` tries first.

As ``seqkit.light_predict`` does for prediction: the plain ``LanguageModelNetwork`` is rebuilt from the
checkpoint's hyper-parameters and state_dict, the data module's generation half from its saved vocabularies,
and ``seqkit.generation.generate_with`` samples exactly as the Lightning path does (same text for the same seed).
``classifier_ckpt=`` (which classifies through Lightning), other checkpoints and overrides only Hydra can read
go the usual way.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from omegaconf import DictConfig

from seqkit.cli import set_threads
from seqkit.light_predict import LightShape, load_light

_LM = "seqkit.models.language_model.LanguageModel"
_NETWORK = "seqkit.nn.language_model_network:LanguageModelNetwork"
GENERATE_SHAPES: Tuple[Tuple[str, LightShape], ...] = (  # (checkpoint model class, how to generate without Lightning)
    (_LM, LightShape("seqkit.data.language_modeling.LanguageModelingDataModule", _NETWORK,
                     "seqkit.data.language_model_text:LanguageModelReader")),
    (_LM, LightShape("seqkit.data.conditional_lm.ConditionalLanguageModelingDataModule", _NETWORK,
                     "seqkit.data.conditional_lm_text:ConditionalLanguageModelReader")),
)


def light_generate(cfg: DictConfig) -> Optional[List[str]]:
    """Generate as ``seqkit.generation.generate`` does, without Lightning -> the texts; None when this command
    needs the Lightning path."""
    if cfg.get("classifier_ckpt"):
        return None
    set_threads(cfg)
    loaded = load_light(str(cfg.ckpt_path), GENERATE_SHAPES)
    if loaded is None:
        return None
    from seqkit.generation import generate_with
    return generate_with(cfg, *loaded)
