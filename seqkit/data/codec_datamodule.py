"""``CodecDataModule``: the one LightningDataModule of every shape, a thin layer over the shape's codec.

The codec reads, learns its vocabularies from the training split, encodes and batches; this class adds what
training needs of Lightning: loaders with bucketing, seeded shuffling and DDP sharding, and the codec's state in
every checkpoint. A shape's data module only names its codec (``codec_class``), whose ``defaults`` are the settings
it takes (with the loaders', ``LOADER_SETTINGS``) and whose docstring says what they mean.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from seqkit.data.codec import SHARED_DEFAULTS
from seqkit.data.sampler import BucketBatchSampler, LengthSortedSampler, ShuffleSampler
from seqkit.data.streaming import StreamedExamples, stream_training_set, streaming_choice

# A streamed training set's __len__ is exact for any number of workers (each is its own shard): no warning.
warnings.filterwarnings("ignore", message=".*IterableDataset.* has `__len__` defined.*")

# The loaders' own settings (a codec never reads them), with their defaults.
LOADER_DEFAULTS: Dict[str, Any] = {
    "bucketing": True,  # training batches group similar lengths (BucketBatchSampler); false: plain shuffled batches
    "num_workers": 0,  # DataLoader worker processes
}
# What the loaders read: these, and of the codec's settings where relative paths are read from and the batch sizes
# (a codec that does not list them, generated data, gets them with SHARED_DEFAULTS' values).
LOADER_SETTINGS = {**SHARED_DEFAULTS, **LOADER_DEFAULTS}


def unknown_setting_message(key: str, known: Sequence[str], owner: str) -> str:
    """The one line for a data setting ``key`` that ``owner`` does not take (a misspelt ``data.<key>=`` override or
    config entry), in the style of ``seqkit.app.cli.unknown_option_message``: the closest known setting, if any is
    close, else all of them."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)  # typos, not merely similar words
    if close:
        return f"unknown data option {key!r} of {owner}; did you mean {close[0]!r}?"
    return f"unknown data option {key!r} of {owner}; it takes: {', '.join(sorted(known))}"


class CodecDataModule(pl.LightningDataModule):
    """Subclasses set ``codec_class``. The constructor takes the settings the codec's ``defaults`` list and those
    of ``loader_settings`` (any other is an error naming the closest one) and saves all of them, defaults filled
    in (``default_settings``), as the data module's hyper-parameters (the checkpoint's
    ``datamodule_hyper_parameters`` and ``codec_settings``); the codec gets them all, the loaders root, the batch
    sizes, bucketing and workers."""

    codec_class: Any = None
    loader_settings: Tuple[str, ...] = tuple(LOADER_SETTINGS)  # those its loaders read (a subclass may take fewer)

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        """Every setting this data module takes, with its default: the codec's, then the loaders' it does not list."""
        codec = cls.codec_class.defaults
        return {**codec, **{k: LOADER_SETTINGS[k] for k in cls.loader_settings if k not in codec}}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each data module a constructor whose signature names its codec's settings with their defaults, read
        from ``codec_class.defaults`` (not restated): ``help()``, ``inspect.signature`` and the option lists of
        ``seqkit.app.cli`` see them."""
        super().__init_subclass__(**kwargs)
        if cls.codec_class is None or "__init__" in vars(cls):
            return

        def __init__(self, **settings: Any) -> None:
            super(cls, self).__init__(**settings)

        keyword = inspect.Parameter.KEYWORD_ONLY
        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [inspect.Parameter(k, keyword, default=v) for k, v in cls.default_settings().items()]
        )
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__module__ = cls.__module__
        cls.__init__ = __init__

    def __init__(self, **settings: Any):
        super().__init__()
        defaults = self.default_settings()
        for key in settings:
            if key not in defaults:
                raise ValueError(unknown_setting_message(key, list(defaults), type(self).__name__))
        settings = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in {**defaults, **settings}.items()}
        self.save_hyperparameters(settings)
        loading = {**LOADER_SETTINGS, **{k: settings[k] for k in LOADER_SETTINGS if k in settings}}
        self.root = loading["root"]
        self.batch_size = loading["batch_size"]
        self.eval_batch_size = loading["eval_batch_size"] or self.batch_size
        self.bucketing, self.num_workers = loading["bucketing"], loading["num_workers"]
        self.codec = self.codec_class(**settings)
        self.datasets = self.codec.datasets  # one home for the encoded splits (the codec's "predict" too)

    @property
    def codec_settings(self) -> Dict[str, Any]:
        return dict(self.hparams)

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the splits, learn the vocabularies from train unless a checkpoint restored them, encode; a streamed
        training file (``streamed_train_path``) is counted and learnt from in one pass and read again each epoch."""
        if any(name in self.datasets for name in ("train", "val", "test")):
            return
        stream = self.streamed_train_path()  # never read into memory, whatever the stage
        splits = self.codec.read_splits(streamed=("train",)) if stream else self.codec.read_splits()
        if not splits and not stream:
            raise ValueError("no data: give data.train_path (your own files) or data.builtin (shipped data)")
        if stream:
            self.datasets["train"] = self.stream(stream)
        elif not self.codec.built:
            if "train" not in splits:
                raise ValueError("no vocabulary yet: give data.train_path or load the data module from a checkpoint")
            self.codec.build(splits["train"][0])
        for name, (examples, source) in splits.items():
            if name == "train" and stage not in (None, "fit"):
                continue
            self.datasets[name] = self.codec.encode(examples, source)

    def streamed_train_path(self) -> Optional[str]:
        """The training file's path setting when it is to be streamed (``data.streaming``: auto streams files over
        ``seqkit.data.streaming.STREAMING_AUTO_MB``); None: read in memory."""
        setting, path = self.hparams.get("streaming", False), self.hparams.get("train_path")
        if path is None or setting is False or "streaming" not in self.codec.defaults:
            return None
        size = sum(f.stat().st_size for f in self.codec.data_files(path) if f.is_file())
        return path if streaming_choice(setting, size) else None

    def stream(self, path: str) -> StreamedExamples:
        """The streamed training set of ``path`` (``seqkit.data.streaming.stream_training_set``); its shards are set
        by ``train_dataloader``."""
        return stream_training_set(
            self.codec, path, self.batch_size, shuffle_buffer=self.hparams.shuffle_buffer, bucketing=self.bucketing
        )

    def state_dict(self) -> Dict[str, Any]:
        return self.codec.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.codec.load_state_dict(state)

    def model_kwargs(self) -> Dict[str, Any]:
        return self.codec.network_kwargs()

    def embedding_kwargs(self) -> Dict[str, Any]:
        kwargs = self.codec.network_kwargs()
        return {
            k: kwargs[k]
            for k in ("pretrained_vectors", "pretrained_rows", "pretrained_words", "embedding_dim")
            if k in kwargs
        }

    def encode(self, examples: List[Any], source: str) -> List[Any]:
        return self.codec.encode(examples, source)

    def collate(self, examples: List[Any]):
        return self.codec.collate(examples)

    def example_length(self, example: Any) -> int:
        return self.codec.example_length(example)

    # ---- loaders -------------------------------------------------------------------------------
    def replicas(self) -> Dict[str, int]:
        """``{"num_replicas", "rank"}`` of this training process (DDP: from the attached Trainer; one otherwise)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {"num_replicas": 1, "rank": 0}
        return {"num_replicas": trainer.world_size, "rank": trainer.global_rank}

    def loader(self, examples: Sequence[Any], train: bool) -> DataLoader:
        """Training: bucketed (or shuffled) batches, in an order fixed by (seed, epoch) (see seqkit.data.sampler),
        each DDP rank taking its own share; evaluation: length-sorted batches, order restored by Batch.index
        (every rank evaluates all of it, so metrics are exactly those of one process)."""
        size = self.batch_size if train else self.eval_batch_size
        shard = self.replicas() if train else {}
        if train and not self.bucketing:
            return DataLoader(
                examples,
                batch_size=size,
                sampler=ShuffleSampler(len(examples), **shard),
                collate_fn=self.collate,
                num_workers=self.num_workers,
            )
        lengths = [self.example_length(e) for e in examples]
        if not train:  # a sampler, not a batch sampler: Trainer.predict keeps it (see LengthSortedSampler)
            return DataLoader(
                examples,
                batch_size=size,
                sampler=LengthSortedSampler(lengths),
                collate_fn=self.collate,
                num_workers=self.num_workers,
            )
        sampler = BucketBatchSampler(lengths, size, shuffle=True, **shard)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        train = self.datasets["train"]
        if isinstance(train, StreamedExamples):  # it batches itself; each rank and worker reads its own shard
            train.shard_as(**self.replicas(), num_workers=self.num_workers)
            return DataLoader(train, batch_size=None, num_workers=self.num_workers)
        return self.loader(train, train=True)

    def val_dataloader(self) -> DataLoader:
        if "val" not in self.datasets:  # asked for only where validation runs (not with limit_val_batches=0)
            raise ValueError(
                "no validation data: give data.val_path=<file> (training keeps the epoch that does best on it)"
            )
        return self.loader(self.datasets["val"], train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["test"], train=False)

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["predict"], train=False)

    def __getattr__(self, name: str) -> Any:
        """The codec's prediction protocol (set_predict_input, format_predictions, vocab, labels, vectors, resolve,
        use_pretrained ...)."""
        if name == "codec" or name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self.__dict__["codec"], name)
        except KeyError:
            raise AttributeError(name) from None
