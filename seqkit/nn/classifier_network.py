"""Moved to ``seqkit.tasks.classification.network`` (issue #25); this name stays importable until the old
``SequenceClassifier`` is removed in the integration step."""
from seqkit.tasks.classification.network import ClassifierNetwork  # noqa: F401
