"""One LightningModule per input/output shape."""
from seqkit.models.classifier import SequenceClassifier

__all__ = ["SequenceClassifier"]
