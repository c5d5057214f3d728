"""The classes a checkpoint may name: a checkpoint is data, it does not choose code.

A checkpoint's ``"seqkit"`` metadata records its model and data-module classes as dotted paths. Loading one
looks the path up here *before* anything is imported: a path not registered (``this.NotAClass``, any module
with side effects) is refused and never imported. seqkit's own classes are listed below by path and imported
on first use; any other class, or a class that has moved, is one ``register(cls, *old_paths)`` call (or
``@register`` on the class) away, old paths keeping the checkpoints written before the move loadable.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Dict, Optional, Union

from seqkit.data.errors import DataError

MODEL, DATA_MODULE = "model", "data module"

# class path a checkpoint records -> the class, or until its first use the path of its definition
_CLASSES: Dict[str, Dict[str, Union[str, type]]] = {MODEL: {}, DATA_MODULE: {}}


def register(cls: type, *old_paths: str) -> type:
    """Let checkpoints name ``cls`` (a LightningModule or LightningDataModule), by its class path and by
    ``old_paths`` (where it lived when older checkpoints were written). Returns ``cls``: usable as a decorator."""
    pl = sys.modules["pytorch_lightning"]  # a Lightning class exists only once Lightning is imported

    kind = DATA_MODULE if issubclass(cls, pl.LightningDataModule) else MODEL
    if kind == MODEL and not issubclass(cls, pl.LightningModule):
        raise TypeError(f"{cls.__qualname__} is neither a LightningModule nor a LightningDataModule")
    for name in (f"{cls.__module__}.{cls.__qualname__}", *old_paths):
        _CLASSES[kind][name] = cls
    return cls


def _register_path(kind: str, *paths: str) -> None:
    """seqkit's own classes, by path: imported only when a checkpoint names one."""
    for path in paths:
        _CLASSES[kind][path] = path


_register_path(
    MODEL,
    "seqkit.models.classifier.SequenceClassifier",
    "seqkit.models.forecaster.Forecaster",
    "seqkit.models.language_model.LanguageModel",
    "seqkit.models.seq2seq.Seq2Seq",
    "seqkit.models.tagger.SequenceTagger",
)
_register_path(
    DATA_MODULE,
    "seqkit.data.classification.TextClassificationDataModule",
    "seqkit.data.conditional_lm.ConditionalLanguageModelingDataModule",
    "seqkit.data.forecasting.TimeSeriesDataModule",
    "seqkit.data.language_modeling.LanguageModelingDataModule",
    "seqkit.data.parallel.ParallelTextDataModule",
    "seqkit.data.synthetic.AddingDataModule",
    "seqkit.data.synthetic.CopyMemoryDataModule",
    "seqkit.data.tagging.TaggingDataModule",
)

TASK_MODULE = "seqkit.training.module.TaskModule"  # the one LightningModule of every shape (seqkit.training)


def _shape_class(name: str, kind: str) -> Optional[str]:
    """The dotted path of ``name`` when the shape registry (seqkit.tasks) lists it: the TaskModule, or a data
    module of a registered shape."""
    if kind == MODEL:
        return TASK_MODULE if name == TASK_MODULE else None
    from seqkit.tasks import registry as shapes

    listed = {spec.replace(":", ".") for shape in shapes.shapes() for spec in shape.datamodules}
    return name if name in listed else None


_DOTTED = re.compile(r"[A-Za-z_][\w.]{0,199}")


def check_registered(name: object, kind: str, checkpoint: Union[str, Path]) -> None:
    """DataError unless ``name`` is a registered ``kind`` class; imports nothing (the application's loader, which
    builds the shape's network and codec, only checks what a checkpoint names)."""
    if not (isinstance(name, str) and (name in _CLASSES[kind] or _shape_class(name, kind))):
        shown = name if isinstance(name, str) and _DOTTED.fullmatch(name) else repr(name)[:200]
        raise DataError(
            checkpoint,
            None,
            f"names class {shown}, which is not a registered seqkit class; refused "
            f"(a checkpoint is data, it does not choose code)",
        )


def checkpoint_class(name: object, kind: str, checkpoint: Union[str, Path]) -> type:
    """The registered ``kind`` class that a checkpoint names; DataError, with nothing imported, for any other name."""
    check_registered(name, kind, checkpoint)
    entry = _CLASSES[kind].get(name) or _shape_class(name, kind)
    if isinstance(entry, str):
        module, _, attr = entry.rpartition(".")
        entry = _CLASSES[kind][name] = getattr(importlib.import_module(module), attr)
    return entry
