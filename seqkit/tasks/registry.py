"""The one list of model shapes: each shape package registers a ``Shape`` record of dotted strings, and the rest
of seqkit (training, the application) finds the shape's network, codec, metrics and export here.

Lightning-free and cheap: registering imports nothing; ``load`` imports one registered ``"module:Name"``.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from seqkit.data.errors import DataError


@dataclass(frozen=True)
class Shape:
    """What seqkit knows of one shape, as ``"module:Name"`` strings (nothing imported until used)."""

    name: str  # "classification", "tagging", "language_model", "seq2seq", "forecasting"
    network: str  # "seqkit.tasks.classification.network:ClassifierNetwork"
    codec: str  # "seqkit.tasks.classification.codec:ClassificationCodec"
    metrics: str  # "seqkit.tasks.classification.metrics:ClassificationMetrics"
    datamodules: Tuple[str, ...] = ()  # the shape's data modules ("module:Name"): the file one, generated ones
    export: str = ""  # "seqkit.tasks.classification.export:graphs"
    legacy_models: Tuple[str, ...] = ()  # old checkpoints' "model_class" values this shape loads
    legacy_datamodules: Tuple[str, ...] = ()  # old checkpoints' "datamodule_class" values (dotted class paths)
    legacy_codecs: Tuple[str, ...] = ()  # the codec that reads each legacy data module's state (same order; "" or
    #                                      missing: ``codec``)


_SHAPES: Dict[str, Shape] = {}


def register(shape: Shape) -> Shape:
    """Add ``shape`` (a second registration of the same record is a no-op; another record of the same name an error)."""
    known = _SHAPES.get(shape.name)
    if known is not None and known != shape:
        raise ValueError(f"shape {shape.name!r} is registered twice, with different parts")
    _SHAPES[shape.name] = shape
    return shape


def shapes() -> Tuple[Shape, ...]:
    """Every registered shape."""
    return tuple(_SHAPES.values())


def names() -> Tuple[str, ...]:
    return tuple(sorted(_SHAPES))


def get(name: str) -> Shape:
    """The registered shape ``name``; one-line ValueError listing the registered shapes otherwise."""
    shape = _SHAPES.get(str(name))
    if shape is None:
        raise ValueError(f"unknown model shape {name!r}; registered shapes: {', '.join(names()) or 'none'}")
    return shape


def legacy_shape(meta: Mapping[str, Any]) -> Optional[Shape]:
    """The shape that loads an old checkpoint (``model_class``), or None."""
    model = meta.get("model_class")
    return next((s for s in _SHAPES.values() if model in s.legacy_models), None)


def for_checkpoint(meta: Mapping[str, Any], path: Union[str, Path]) -> Shape:
    """The shape of a checkpoint's ``"seqkit"`` metadata: ``meta["shape"]`` (new checkpoints) or an old
    ``model_class`` a shape lists in ``legacy_models``; a DataError naming the file otherwise."""
    if meta.get("shape"):
        if meta["shape"] not in _SHAPES:
            raise DataError(
                path,
                None,
                f"its model shape {meta['shape']!r} is not registered here (registered: "
                f"{', '.join(names()) or 'none'}); import the package that registers it "
                f"(plugins=[...])",
            )
        return _SHAPES[meta["shape"]]
    shape = legacy_shape(meta)
    if shape is None:
        raise DataError(path, None, f"its model class {meta.get('model_class')!r} belongs to no registered shape")
    return shape


TASK_MODULE = "seqkit.training.module.TaskModule"  # the model class of every new checkpoint
_DOTTED = re.compile(r"[A-Za-z_][\w.]{0,199}")


def check_classes(meta: Mapping[str, Any], path: Union[str, Path]) -> None:
    """DataError unless the classes a checkpoint's metadata names (``model_class``, ``datamodule_class``) are ones a
    registered shape trains or converts; imports nothing (a checkpoint is data: it names, never chooses, code)."""
    models = {TASK_MODULE, *(m for s in _SHAPES.values() for m in s.legacy_models)}
    datamodules = {
        *(spec.replace(":", ".") for s in _SHAPES.values() for spec in s.datamodules),
        *(d for s in _SHAPES.values() for d in s.legacy_datamodules),
    }
    for key, known in (("model_class", models), ("datamodule_class", datamodules)):
        name = meta.get(key)
        if name is None or (isinstance(name, str) and name in known):
            continue
        shown = name if isinstance(name, str) and _DOTTED.fullmatch(name) else repr(name)[:200]
        raise DataError(
            path,
            None,
            f"names class {shown}, which is not a registered seqkit class; refused "
            f"(a checkpoint is data, it does not choose code)",
        )


def load(spec: str) -> Any:
    """Import ``"module:Name"`` (only ever called with registered strings)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def import_plugins(plugins: Any) -> None:
    """Import the modules named by a config's ``plugins: [pkg.module, ...]`` (each registers its shapes)."""
    for module in plugins or ():
        importlib.import_module(str(module))


def stage_metrics(shape: Shape, network: Any, codec: Any, stage: str) -> Any:
    """The shape's metrics object for ``stage`` ("val" or "test"): ``Metrics(network, codec)``, plus
    ``stage=stage`` where the class takes it (seq2seq: the stage names its sacreBLEU signature line)."""
    cls = load(shape.metrics)
    return cls(network, codec, stage=stage) if _takes_stage(cls) else cls(network, codec)


def call(
    network: Any, method: str, batch: Any, stage: Optional[str] = None, state: Any = None
) -> Tuple[Dict[str, Any], Any]:
    """``network.<method>(batch)`` (``loss`` or ``evaluate``) as training, evaluation and the benchmarks call it ->
    (its result, the state to pass to the next call). A network whose ``carries_state`` is true (truncated BPTT)
    also gets ``state`` (None at an epoch's start) and returns the next one under ``"state"``, taken out here; a
    method that takes ``stage`` gets it (seq2seq: greedy decoding at validation, beam search at test)."""
    fn = getattr(network, method)
    kwargs = {"stage": stage} if stage is not None and _method_takes_stage(type(network), method) else {}
    if not getattr(network, "carries_state", False):
        return dict(fn(batch, **kwargs)), None
    out = dict(fn(batch, state, **kwargs))
    return out, out.pop("state", None)


@functools.lru_cache(maxsize=None)
def _method_takes_stage(cls: type, method: str) -> bool:
    """``_takes_stage`` of a class's method, asked once (``call`` runs at every training step)."""
    return _takes_stage(getattr(cls, method))


def _takes_stage(fn: Any) -> bool:
    import inspect

    try:
        return "stage" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
