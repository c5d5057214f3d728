"""Prediction without Lightning, torchmetrics or Hydra's application: what ``scripts/predict.py`` tries first.

Importing Lightning (with torchmetrics, torch._dynamo, scipy, sympy) takes seconds, several times what
``import torch`` does, and prediction needs none of it. For the shapes listed in ``LIGHT_SHAPES`` this
module rebuilds the plain torch network (``seqkit.nn``) from the checkpoint's hyper-parameters and state_dict,
and the data module's prediction half from its saved vocabularies, then streams the predictions through
``seqkit.predict_stream`` with the same batches as ``Trainer.predict``: the output is the same, byte for byte.

Anything else (another shape, pretrained vectors, an override other than ``key=value`` on the config's own
keys) returns None, and the script goes the usual way (Hydra, Lightning, ``seqkit.run.predict``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from seqkit.checkpoint import read_checkpoint, seqkit_metadata
from seqkit.cli import set_threads


class LightShape(NamedTuple):
    datamodule_class: str  # as recorded in the checkpoint's "seqkit" metadata
    network: str  # module:class of the plain torch network; ``from_hparams`` and the model's state_dict keys
    reader: str  # module:class of the data module's prediction half; ``supports(state)``, ``predict_batches()``


LIGHT_SHAPES: Dict[str, LightShape] = {  # checkpoint model class -> how to predict without Lightning
    "seqkit.models.classifier.SequenceClassifier": LightShape(
        "seqkit.data.classification.TextClassificationDataModule",
        "seqkit.nn.classifier_network:ClassifierNetwork", "seqkit.data.classification_input:TextClassificationReader"),
}

# override values taken without Hydra's grammar: paths, names, numbers, words with inner spaces (Hydra strips the
# outer ones); anything else goes to Hydra. Numbers and their types as Hydra's lexer (OverrideLexer.g4) reads them.
_PLAIN_VALUE = re.compile(r"[\w./@%+~:?*-]+([ \t]+[\w./@%+~:?*-]+)*|")
_UNSIGNED = r"(0|[1-9](_?[0-9])*)"
_POINT = rf"({_UNSIGNED}\.|{_UNSIGNED}?\.[0-9](_?[0-9])*)"
_INT = re.compile(rf"[+-]?{_UNSIGNED}")
_FLOAT = re.compile(rf"[+-]?({_POINT}|({_UNSIGNED}|{_POINT})[eE][+-]?[0-9](_?[0-9])*|[iI][nN][fF]|[nN][aA][nN])")


def parse_overrides(config_file: Path, overrides: Sequence[str]) -> Optional[DictConfig]:
    """The config of ``config_file`` with plain ``key=value`` overrides of its own keys applied, values typed as
    Hydra types them (null, true/false, int, float, else string); None where only Hydra can read the command line
    (``+key``, ``--help``, config groups, quotes, lists, interpolations)."""
    cfg = OmegaConf.load(config_file)
    for name in ("defaults", "hydra"):
        cfg.pop(name, None)
    for override in overrides:
        key, sep, value = override.partition("=")
        value = value.strip(" \t")
        if not sep or not _PLAIN_VALUE.fullmatch(value) or not re.fullmatch(r"\w+(\.\w+)?", key):
            return None
        head, _, rest = key.partition(".")
        known = list(cfg.keys())  # ``in cfg`` is False for a mandatory ??? value
        node = cfg.get(head) if head != "trainer" and head in known else None
        if head == "trainer" or head not in known or (rest and not (isinstance(node, DictConfig) and rest in node.keys())):
            return None  # the Trainer, or a key only Hydra can report as unknown
        OmegaConf.update(cfg, key, _typed(value), merge=False)
    return cfg


def _typed(value: str) -> Any:
    if value.lower() == "null":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _load(spec: str) -> Any:
    import importlib
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def load_light(ckpt_path: str, shapes: Optional[Iterable[Tuple[str, LightShape]]] = None) -> Optional[Tuple[Any, Any]]:
    """(plain torch network in eval mode, data reader) of a checkpoint, read with weights_only=True; None when
    its shape or contents need the Lightning path. shapes: (model class, LightShape) pairs; LIGHT_SHAPES' by default."""
    path = Path(ckpt_path)
    checkpoint = read_checkpoint(path)
    meta = seqkit_metadata(checkpoint, path)
    shape = next((s for model, s in (LIGHT_SHAPES.items() if shapes is None else shapes)
                  if model == meta["model_class"] and s.datamodule_class == meta.get("datamodule_class")), None)
    if shape is None:
        return None
    state = checkpoint.get(shape.datamodule_class.rsplit(".", 1)[-1])  # Lightning keys it by the class name
    reader_class = _load(shape.reader)
    if not isinstance(state, dict) or not reader_class.supports(state):
        return None
    network = _load(shape.network).from_hparams(checkpoint.get("hyper_parameters") or {})
    weights = checkpoint.get("state_dict") or {}
    if set(weights) != set(network.state_dict()):
        return None  # a model with more than the network (or an older layout): Lightning's loader knows it
    network.load_state_dict(weights)
    network.eval()
    return network, reader_class(checkpoint.get("datamodule_hyper_parameters") or {}, state)


def light_predict(cfg: DictConfig) -> Optional[int]:
    """Predict as ``seqkit.run.predict`` does, without Lightning -> the number of examples; None when this
    checkpoint needs the Lightning path."""
    set_threads(cfg)
    loaded = load_light(str(cfg.ckpt_path))
    if loaded is None:
        return None
    network, reader = loaded
    from seqkit.predict_stream import stream_predictions
    options = {k: v for k, v in OmegaConf.to_container(cfg.options or {}, resolve=True).items() if v is not None}
    return stream_predictions(network, reader, None, str(cfg.input), cfg.get("output"), options,
                              reads={"checkpoint": str(cfg.ckpt_path)})


def main(config_file: Path, argv: List[str], run: Callable[[DictConfig], Any] = light_predict) -> bool:
    """A script's fast path (``run``: light_predict for ``scripts/predict.py``, which returns None where the
    checkpoint needs Lightning): True when it ran (or reported an error), False when the command needs Hydra
    and Lightning."""
    from seqkit.cli import report_errors
    cfg = parse_overrides(config_file, argv)
    if cfg is None:
        return False
    return report_errors(run)(cfg) is not None
