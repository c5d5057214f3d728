"""Readers, vocabularies, batching and LightningDataModules.

Names are imported on first use (PEP 562), so light modules (errors, vocab, tokenizer) load without
Lightning: ``scripts/predict.py``'s fast path never pays for importing it."""
import importlib

_HOMES = {
    "AddingDataModule": "synthetic", "Batch": "batch", "BucketBatchSampler": "sampler",
    "ConditionalLanguageModelingDataModule": "conditional_lm", "CopyMemoryDataModule": "synthetic",
    "DataError": "errors", "LanguageModelingDataModule": "language_modeling", "ParallelTextDataModule": "parallel",
    "TaggingDataModule": "tagging", "TextClassificationDataModule": "classification",
    "TextClassificationInput": "classification_input", "TextClassificationReader": "classification_input",
    "TimeSeriesDataModule": "forecasting", "Tokenizer": "tokenizer", "Vocabulary": "vocab", "WindowBatch": "forecasting",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
