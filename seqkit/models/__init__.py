"""One LightningModule per input/output shape."""
from seqkit.models.classifier import SequenceClassifier
from seqkit.models.language_model import LanguageModel
from seqkit.models.tagger import SequenceTagger

__all__ = ["LanguageModel", "SequenceClassifier", "SequenceTagger"]
