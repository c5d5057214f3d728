"""One package per model shape (``seqkit.tasks.<shape>``); importing this registers the built-in shapes.

Each shape's ``__init__`` is one ``register(Shape(...))`` call of dotted strings, so this import is cheap and
Lightning-free. See ``seqkit.tasks.registry``.
"""

from seqkit.tasks import (
    classification,  # noqa: F401 (registers the shape)
    forecasting,  # noqa: F401 (registers the shape)
    language_model,  # noqa: F401 (registers the shape)
    seq2seq,  # noqa: F401 (registers the shape)
    tagging,  # noqa: F401 (registers the shape)
)
from seqkit.tasks.registry import Shape, for_checkpoint, get, load, register  # noqa: F401
