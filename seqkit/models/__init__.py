"""One LightningModule per input/output shape.

Names are imported on first use (PEP 562): importing ``seqkit.models.base`` or one model does not
import the others."""

from seqkit.lazy_exports import lazy_exports

_HOMES = {
    "ForecastPlot": "forecast_plot",
    "Forecaster": "forecaster",
    "LanguageModel": "language_model",
    "Seq2Seq": "seq2seq",
    "SequenceClassifier": "classifier",
    "SequenceTagger": "tagger",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
