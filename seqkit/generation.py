"""What ``scripts/generate.py`` does: load a language-model checkpoint and stream sampled text to stdout
(or, with ``classifier_ckpt``, measure how often a classifier agrees with the requested class).

``generate`` loads through Lightning (``seqkit.run.load_checkpoint``); ``seqkit.light_generate`` loads the plain
network and the data module's generation half instead; both then call ``generate_with``, so the text is the same."""
from __future__ import annotations

import json
import sys
from typing import Dict, List

import torch
from omegaconf import DictConfig

from seqkit.checkpoint import check_model_class, read_checkpoint, seqkit_metadata
from seqkit.class_agreement import agreement
from seqkit.cli import quiet_libraries, set_threads
from seqkit.nn.decoding import Sampler, greedy_choice

CLASSIFIER = "seqkit.models.classifier.SequenceClassifier"


def generate(cfg: DictConfig) -> List[str]:
    """Continue ``prompt`` (or unroll from ``condition``) ``num_samples`` times, streaming each text to stdout."""
    from seqkit.run import given_vectors, load_checkpoint  # Lightning: only on this path

    set_threads(cfg)
    quiet_libraries()
    model, datamodule = load_checkpoint(cfg.ckpt_path, **given_vectors(cfg))
    if not hasattr(datamodule, "encode_prompt"):
        raise ValueError(f"{cfg.ckpt_path}: not a language model checkpoint (train one with task=lm)")
    return generate_with(cfg, model, datamodule)


def generate_with(cfg: DictConfig, model, datamodule) -> List[str]:
    """``generate`` once loaded. model: a ``seqkit.nn.LanguageModelNetwork`` (a LanguageModel is one) in eval mode;
    datamodule: its text <-> ids (the data module, or its generation reader: ``encode_prompt``, ``stream_piece``...)."""
    if cfg.max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {cfg.max_new_tokens}")
    prompt = str(cfg.get("prompt") or "")
    prompt_ids = torch.tensor([datamodule.encode_prompt(prompt)])
    condition = None
    if cfg.get("condition") is not None:
        condition = torch.tensor([datamodule.condition_index(str(cfg.condition))])
    elif model.num_conditions and not cfg.get("classifier_ckpt"):
        raise ValueError(f"this model generates from a class: give condition=<one of {datamodule.condition_names()}>")
    generator = torch.Generator().manual_seed(int(cfg.seed))
    if cfg.temperature == 0:
        choose = greedy_choice
    else:
        choose = Sampler(float(cfg.temperature), cfg.get("top_k"), cfg.get("top_p"), generator, datamodule.banned_indices())
    if cfg.get("classifier_ckpt"):
        _report_agreement(cfg, model, datamodule, choose)
        return []
    texts = []
    for k in range(int(cfg.num_samples)):
        if cfg.num_samples > 1:
            print(f"[seqkit] sample {k + 1}/{cfg.num_samples}", file=sys.stderr, flush=True)
        pieces = [datamodule.prompt_text(prompt)]
        sys.stdout.write(pieces[0])

        def stream(ids: torch.Tensor) -> None:
            piece = datamodule.stream_piece(int(ids[0]))
            pieces.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        eos = None if model.carry_state else datamodule.start_index()  # sentences end
        model.generate(prompt_ids, int(cfg.max_new_tokens), choose, condition, on_token=stream, eos=eos)
        sys.stdout.write("\n")
        sys.stdout.flush()
        texts.append("".join(pieces))
    return texts


def _report_agreement(cfg: DictConfig, model, datamodule, choose) -> Dict[str, float]:
    """``classifier_ckpt=...``: ``num_samples`` sentences per class (or of ``condition``), classified; one JSON line."""
    from seqkit.app.checkpoint import given_vectors

    if not model.num_conditions:
        raise ValueError("classifier_ckpt= measures a conditional language model (task=conditional_lm); "
                         f"{cfg.ckpt_path} generates from no class")
    if str(cfg.get("prompt") or ""):
        raise ValueError("classifier_ckpt= classifies whole generated sentences: leave prompt empty")
    path = str(cfg.classifier_ckpt)
    from seqkit.app.checkpoint import app_shape, load
    from seqkit.app.predict import NetworkRunner
    shape = app_shape(path)
    if shape is None or shape.name != "classification":
        check_model_class(seqkit_metadata(read_checkpoint(path), path), path, CLASSIFIER, "classifier_ckpt needs")
    network, classifier_datamodule = load(path, **given_vectors(cfg))  # the classification codec: set_predict_input, predict_batches
    classifier = NetworkRunner(network)
    conditions = [str(cfg.condition)] if cfg.get("condition") is not None else datamodule.condition_names()
    result = agreement(model, datamodule, classifier, classifier_datamodule, conditions, int(cfg.num_samples),
                       choose, int(cfg.max_new_tokens))
    print(json.dumps(result), flush=True)
    return result
