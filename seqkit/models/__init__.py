"""One LightningModule per input/output shape."""
from seqkit.models.classifier import SequenceClassifier
from seqkit.models.forecast_plot import ForecastPlot
from seqkit.models.forecaster import Forecaster
from seqkit.models.language_model import LanguageModel
from seqkit.models.seq2seq import Seq2Seq
from seqkit.models.tagger import SequenceTagger

__all__ = ["ForecastPlot", "Forecaster", "LanguageModel", "Seq2Seq", "SequenceClassifier", "SequenceTagger"]
