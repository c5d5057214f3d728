"""One LightningModule per input/output shape."""
from seqkit.models.classifier import SequenceClassifier
from seqkit.models.tagger import SequenceTagger

__all__ = ["SequenceClassifier", "SequenceTagger"]
