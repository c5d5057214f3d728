"""Moved to ``seqkit.tasks.language_model.network`` (issue #25); this name stays importable until the old
``LanguageModel`` and ``seqkit.light_generate`` are removed in the integration step."""
from seqkit.tasks.language_model.network import LanguageModelNetwork  # noqa: F401
