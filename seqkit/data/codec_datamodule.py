"""``CodecDataModule``: the one LightningDataModule of every shape, a thin layer over the shape's codec.

The codec reads, learns its vocabularies from the training split, encodes and batches; this class adds what
training needs of Lightning: loaders with bucketing, seeded shuffling and DDP sharding (``SeqkitDataModule.loader``,
reused, not copied), and the codec's state in every checkpoint. A shape's data module only names its codec.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from seqkit.data.datamodule import SeqkitDataModule

LOADER_KEYS = ("root", "batch_size", "eval_batch_size", "bucketing", "num_workers")


class CodecDataModule(SeqkitDataModule):
    """Subclasses set ``codec_class``; every constructor argument is a codec setting (saved as the data
    module's hyper-parameters), and the loader ones (root, batch sizes, bucketing, workers) also go to the loaders."""

    codec_class: Any = None

    def __init__(self, **settings: Any):
        super().__init__(**{k: settings[k] for k in LOADER_KEYS if k in settings})
        self.save_hyperparameters(settings)
        del self.vocab, self.vectors  # the codec's (read through __getattr__)
        self.codec = self.codec_class(**settings)
        self.datasets = self.codec.datasets  # one home for the encoded splits (the codec's "predict" too)

    @property
    def codec_settings(self) -> Dict[str, Any]:
        return dict(self.hparams)

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the splits, learn the vocabularies from train unless a checkpoint restored them, encode."""
        if any(name in self.datasets for name in ("train", "val", "test")):
            return
        splits = self.codec.read_splits()
        if not splits:
            raise ValueError("no data: give data.train_path (your own files) or data.builtin (shipped data)")
        if not self.codec.built:
            if "train" not in splits:
                raise ValueError("no vocabulary yet: give data.train_path or load the data module from a checkpoint")
            self.codec.build(splits["train"][0])
        for name, (examples, source) in splits.items():
            if name == "train" and stage not in (None, "fit"):
                continue
            self.datasets[name] = self.codec.encode(examples, source)

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

    def __getattr__(self, name: str) -> Any:
        """The codec's prediction protocol (set_predict_input, format_predictions, vocab, labels, vectors ...)."""
        if name == "codec" or name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self.__dict__["codec"], name)
        except KeyError:
            raise AttributeError(name) from None
