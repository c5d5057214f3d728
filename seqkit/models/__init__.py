"""One LightningModule per input/output shape."""
from seqkit.models.classifier import SequenceClassifier
from seqkit.models.language_model import LanguageModel
from seqkit.models.seq2seq import Seq2Seq
from seqkit.models.tagger import SequenceTagger

__all__ = ["LanguageModel", "Seq2Seq", "SequenceClassifier", "SequenceTagger"]
