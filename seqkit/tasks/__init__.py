"""One package per model shape (``seqkit.tasks.<shape>``); importing this registers the built-in shapes.

Each shape's ``__init__`` is one ``register(Shape(...))`` call of dotted strings, so this import is cheap and
Lightning-free. See ``seqkit.tasks.registry``.
"""
from seqkit.tasks import classification  # noqa: F401 (registers the shape)
from seqkit.tasks import forecasting  # noqa: F401 (registers the shape)
from seqkit.tasks import language_model  # noqa: F401 (registers the shape)
from seqkit.tasks import seq2seq  # noqa: F401 (registers the shape)
from seqkit.tasks import tagging  # noqa: F401 (registers the shape)
from seqkit.tasks.registry import Shape, for_checkpoint, get, load, register  # noqa: F401
