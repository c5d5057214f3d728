"""Readers, vocabularies, batching and LightningDataModules."""
from seqkit.data.batch import Batch
from seqkit.data.classification import TextClassificationDataModule
from seqkit.data.conditional_lm import ConditionalLanguageModelingDataModule
from seqkit.data.errors import DataError
from seqkit.data.forecasting import TimeSeriesDataModule, WindowBatch
from seqkit.data.language_modeling import LanguageModelingDataModule
from seqkit.data.parallel import ParallelTextDataModule
from seqkit.data.sampler import BucketBatchSampler
from seqkit.data.synthetic import AddingDataModule, CopyMemoryDataModule
from seqkit.data.tagging import TaggingDataModule
from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import Vocabulary

__all__ = ["AddingDataModule", "Batch", "BucketBatchSampler", "ConditionalLanguageModelingDataModule", "CopyMemoryDataModule", "DataError",
           "LanguageModelingDataModule", "ParallelTextDataModule", "TaggingDataModule", "TextClassificationDataModule",
           "TimeSeriesDataModule", "Tokenizer", "Vocabulary", "WindowBatch"]
