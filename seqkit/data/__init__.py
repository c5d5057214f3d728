"""Readers, vocabularies, batching and LightningDataModules.

Names are imported on first use (PEP 562), so light modules (errors, vocab, tokenizer) load without
Lightning: ``scripts/predict.py``'s fast path never pays for importing it."""

from seqkit.lazy_exports import lazy_exports

_HOMES = {
    "AddingDataModule": "synthetic",
    "Batch": "batch",
    "BucketBatchSampler": "sampler",
    "ConditionalLanguageModelingDataModule": "conditional_lm",
    "CopyMemoryDataModule": "synthetic",
    "DataError": "errors",
    "LanguageModelingDataModule": "language_modeling",
    "ParallelTextDataModule": "parallel",
    "TaggingDataModule": "tagging",
    "TextClassificationDataModule": "classification",
    "TextClassificationInput": "classification_input",
    "TextClassificationReader": "classification_input",
    "TimeSeriesDataModule": "forecasting",
    "Tokenizer": "tokenizer",
    "Vocabulary": "vocab",
    "WindowBatch": "forecasting",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _HOMES)
