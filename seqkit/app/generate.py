"""``scripts/generate.py`` on (network, codec): stream sampled text to stdout, or, with ``classifier_ckpt``, measure
how often a classifier agrees with the requested class; no Lightning. Every language-model checkpoint (new, and
old ones converted by ``seqkit.app.checkpoint.load``) runs here; the same seed gives the same text as before."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, Dict, List, Optional

import torch
from omegaconf import DictConfig

from seqkit import tasks
from seqkit.app.checkpoint import checkpoint_shape, given_vectors, load
from seqkit.app.cli import set_threads
from seqkit.data.errors import DataError
from seqkit.data.textfile import read_lines
from seqkit.nn.decoding import Sampler, greedy_choice

PROMPT_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}  # prompt=: \n a line end, \t a tab, \\ a backslash


def generate(cfg: DictConfig) -> List[str]:
    """Continue ``prompt`` (or unroll from ``condition``) ``num_samples`` times, streaming each text to stdout ->
    the texts."""
    set_threads(cfg)
    tasks.registry.import_plugins(cfg.get("plugins"))
    network, codec = load(cfg.ckpt_path, **given_vectors(cfg))
    if not hasattr(codec, "encode_prompt") or not hasattr(network, "generate"):
        raise ValueError(f"{cfg.ckpt_path}: not a language model checkpoint (train one with task=lm)")
    return generate_with(cfg, network, codec)


def generate_with(cfg: DictConfig, model: Any, codec: Any) -> List[str]:
    """``generate`` once loaded. model: a language-model network in eval mode (``generate``, ``num_conditions``,
    ``carry_state``); codec: its text <-> ids (``encode_prompt``, ``prompt_text``, ``stream_piece``, ...)."""
    if cfg.max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {cfg.max_new_tokens}")
    prompt = read_prompt(cfg)
    prompt_ids = torch.tensor([codec.encode_prompt(prompt)])
    condition = condition_ids(model, codec, cfg.get("condition"), required=not cfg.get("classifier_ckpt"))
    choose = chooser(codec, cfg.temperature, cfg.get("top_k"), cfg.get("top_p"), cfg.seed)
    if cfg.get("classifier_ckpt"):
        report_agreement(cfg, model, codec, choose)
        return []
    texts = []
    for k in range(int(cfg.num_samples)):
        if cfg.num_samples > 1:
            print(f"[seqkit] sample {k + 1}/{cfg.num_samples}", file=sys.stderr, flush=True)

        def write(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        texts.append(continue_prompt(model, codec, prompt, prompt_ids, condition, choose, cfg.max_new_tokens, write))
        write("\n")
    return texts


def condition_ids(model: Any, codec: Any, condition: Any, required: bool = True) -> Optional[torch.Tensor]:
    """``condition=`` -> its class id ``[1]`` (None if not given); a conditional model needs one (``required``)."""
    if condition is not None:
        return torch.tensor([codec.condition_index(str(condition))])
    if model.num_conditions and required:
        raise ValueError(f"this model generates from a class: give condition=<one of {codec.condition_names()}>")
    return None


def chooser(codec: Any, temperature: float, top_k: Any, top_p: Any, seed: int) -> Callable:
    """generate.py's token picker: greedy at temperature 0, else a Sampler seeded with ``seed``."""
    if temperature == 0:
        return greedy_choice
    generator = torch.Generator().manual_seed(int(seed))
    return Sampler(float(temperature), top_k, top_p, generator, codec.banned_indices())


def continue_prompt(
    model: Any,
    codec: Any,
    prompt: str,
    prompt_ids: torch.Tensor,
    condition: Optional[torch.Tensor],
    choose: Callable,
    max_new_tokens: int,
    on_piece: Callable[[str], None],
) -> str:
    """One sample: the echoed prompt, then each generated token's text, handed to ``on_piece`` as it comes ->
    the whole text (generate.py's line, and the server's answer)."""
    pieces = [codec.prompt_text(prompt)]
    on_piece(pieces[0])

    def stream(ids: torch.Tensor) -> None:
        pieces.append(codec.stream_piece(int(ids[0])))
        on_piece(pieces[-1])

    eos = None if model.carry_state else codec.start_index()  # sentences end
    model.generate(prompt_ids, int(max_new_tokens), choose, condition, on_token=stream, eos=eos)
    return "".join(pieces)


def read_prompt(cfg: DictConfig) -> str:
    """The text to continue: ``prompt=`` with its escapes read (``\\n`` a line end, ``\\t`` a tab, ``\\\\`` a
    backslash; any other backslash stays as written), or the whole of ``prompt_file=`` (UTF-8; its lines joined by
    line ends, the file's last line end dropped as in every text file seqkit reads)."""
    prompt, path = str(cfg.get("prompt") or ""), cfg.get("prompt_file")
    if path is None:
        return re.sub(r"\\([nt\\])", lambda m: PROMPT_ESCAPES[m.group(1)], prompt)
    if prompt:
        raise ValueError("give prompt= or prompt_file=, not both")
    return "\n".join(text for _, text in read_lines(str(path), allow_empty=True))


def report_agreement(cfg: DictConfig, model: Any, codec: Any, choose: Any) -> Dict[str, float]:
    """``classifier_ckpt=...``: ``num_samples`` sentences per class (or of ``condition``), classified by the
    classifier (loaded by ``seqkit.app.checkpoint.load``); one JSON line."""
    from seqkit.app.agreement import agreement

    if not model.num_conditions:
        raise ValueError(
            "classifier_ckpt= measures a conditional language model (task=conditional_lm); "
            f"{cfg.ckpt_path} generates from no class"
        )
    if read_prompt(cfg):
        raise ValueError("classifier_ckpt= classifies whole generated sentences: leave prompt and prompt_file empty")
    path = str(cfg.classifier_ckpt)
    shape = checkpoint_shape(path)
    if shape.name != "classification":
        raise DataError(
            path,
            None,
            f"is a {shape.name} checkpoint, but classifier_ckpt needs a classification one (train it with "
            "task=sentiment on the same labels)",
        )
    classifier, classifier_codec = load(path, **given_vectors(cfg))
    conditions = [str(cfg.condition)] if cfg.get("condition") is not None else codec.condition_names()
    result = agreement(
        model,
        codec,
        classifier,
        classifier_codec,
        conditions,
        int(cfg.num_samples),
        choose,
        int(cfg.max_new_tokens),
    )
    print(json.dumps(result), flush=True)
    return result
