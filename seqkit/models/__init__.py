"""One LightningModule per input/output shape.

Names are imported on first use (PEP 562): importing ``seqkit.models.base`` or one model does not
import the others."""
import importlib

_HOMES = {"ForecastPlot": "forecast_plot", "Forecaster": "forecaster", "LanguageModel": "language_model",
          "Seq2Seq": "seq2seq", "SequenceClassifier": "classifier", "SequenceTagger": "tagger"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
