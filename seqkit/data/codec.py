"""What every shape's codec shares: its settings, its encoded data sets, restoring it from a checkpoint, and
evaluation batches. A codec is Lightning-free: training (a thin LightningDataModule over it) and the application
(predict, evaluate, serve) run the same one, so they read, encode and batch exactly alike.

A shape's codec (``seqkit/tasks/<shape>/codec.py``) subclasses ``Codec`` and provides the reading and encoding
of its data: ``built``, ``read_splits``, ``build``, ``encode``, ``collate``, ``example_length``, ``network_kwargs``,
and for prediction ``set_predict_input`` and ``format_predictions``. A codec whose training file can be streamed
(``seqkit.data.streaming``) lists ``STREAM_DEFAULTS`` in its defaults, reads ``read_splits(streamed=("train",))``
without that split, and gives ``iter_examples(path)``: the file's ``(line_number, raw example)`` pairs, lazily. What a checkpoint keeps of what it learnt
(``state_dict``/``load_state_dict``, plain Python) is the base's, from the codec's ``state_fields`` and its
pretrained vectors' identity; a codec with another state layout overrides the two.

Its ``defaults`` are the one home of its data settings and their default values (its class docstring says what
each one means). The data module (``seqkit.data.codec_datamodule.CodecDataModule``) takes exactly these settings
and its loaders' (``bucketing``, ``num_workers``), refuses any other, and saves all of them in the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Dict, Iterable, Iterator, List, Mapping, Optional

from seqkit.data.notice import log
from seqkit.data.pretrained import PretrainedVectors, vectors_source
from seqkit.data.sampler import sorted_batches
from seqkit.data.textfile import resolve_path

# The settings most codecs read, with their defaults: a codec lists them in its ``defaults`` (``**SHARED_DEFAULTS``);
# one that does not (generated data) gets these from its data module.
SHARED_DEFAULTS: Dict[str, Any] = {
    "root": None,  # directory that relative ``*_path`` settings are read from (``data.root=../shared/data/sst2``)
    "batch_size": 32,  # training batch size
    "eval_batch_size": None,  # validation, test and prediction (null: batch_size)
}


class Settings(dict):
    """The data settings, read as attributes too (``settings.format``), like Lightning's hparams."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Codec:
    """Base class. ``defaults``: the settings a subclass reads, with their default values (the one place they are
    set); ``settings`` given to the constructor (the data module's, ``seqkit/configs/task/<name>.yaml`` ``data.*``)
    override them. Others are kept (an older checkpoint's); the data module refuses them."""

    defaults: ClassVar[Dict[str, Any]] = {}
    # What one prediction input is: "line" (a text a line, each answered on its own: predict.py's output line k
    # answers input line k) or "file" (the whole input is one example, e.g. a forecaster's CSV history).
    predict_unit: ClassVar[str] = "line"
    # What a checkpoint keeps of what the codec learnt, in the state's order: attribute -> the class that writes
    # and reads it (``to_dict`` / ``from_dict``: Vocabulary, Tokenizer, SubwordModel); one that is None is left out.
    state_fields: ClassVar[Dict[str, Any]] = {}
    # Pretrained word vectors over the codec's word vocabulary ``vocab`` (``use_pretrained``): the state keeps
    # their identity, last, under "pretrained".
    vectors: Optional[PretrainedVectors] = None

    def __init__(self, **settings: Any):
        self.hparams = Settings({**self.defaults, **settings})
        self.eval_batch_size = (
            self.hparams.get("eval_batch_size") or self.hparams.get("batch_size") or SHARED_DEFAULTS["batch_size"]
        )
        self.datasets: Dict[str, List[Any]] = {}  # split -> encoded examples ("predict": the prediction input)

    @classmethod
    def from_checkpoint(cls, settings: Mapping[str, Any], state: Mapping[str, Any]) -> "Codec":
        """The codec a checkpoint recorded: its settings, then its state (vocabularies, label maps, scaler)."""
        codec = cls(**settings)
        codec.load_state_dict(state)
        return codec

    def state_dict(self) -> Dict[str, Any]:
        """Plain Python: each of ``state_fields`` that is set (``to_dict``), then the pretrained vectors' identity."""
        state = {name: getattr(self, name).to_dict() for name in self.state_fields if getattr(self, name) is not None}
        return {**state, "pretrained": self.vectors.identity()} if self.vectors is not None else state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` kept (an older checkpoint may lack a field: the settings' one stays)."""
        for name, cls in self.state_fields.items():
            if name in state:
                setattr(self, name, cls.from_dict(state[name]))
        if "pretrained" in state:  # a file is read only where data.pretrained names it (seqkit.data.pretrained)
            record = state["pretrained"]
            self.use_pretrained(vectors_source(record, self.hparams.get("pretrained"), "the checkpoint"), record)

    # ---- pretrained word vectors ---------------------------------------------------------------
    def use_pretrained(self, source: str, expected: Optional[Dict[str, Any]] = None) -> None:
        """Load the vectors ``source`` (once), checked against a checkpoint's record ``expected``."""
        if self.vectors is None or self.vectors.source != str(source):
            self.vectors = PretrainedVectors.load(source, expected)
        if expected is not None:
            self.vectors.check(expected)
        else:
            log(self.vectors.report(self.vocab))

    def encode_words(self, words: Iterable[str]) -> List[int]:
        """Word ids: the training vocabulary's, and with pretrained vectors an id for every word they cover."""
        return self.vocab.encode(words) if self.vectors is None else self.vectors.encode(self.vocab, words)

    def resolve(self, path: Optional[str]) -> Optional[Path]:
        """A data path: ``~`` expanded, a relative one under ``root`` when the settings give one."""
        return None if path is None else resolve_path(path, self.hparams.get("root"))

    def data_files(self, path: str) -> List[Path]:
        """The files a split's ``path`` setting names (their size chooses ``data.streaming=auto``)."""
        return [self.resolve(path)]

    def example_length(self, example: Any) -> int:
        raise NotImplementedError

    def collate(self, examples: List[Any]) -> Any:
        raise NotImplementedError

    def batches(self, examples: List[Any], batch_size: Optional[int] = None) -> Iterator[Any]:
        """Evaluation batches (``eval_batch_size``, sorted by length), as the data module's evaluation loaders."""
        for indices in sorted_batches([self.example_length(e) for e in examples], batch_size or self.eval_batch_size):
            yield self.collate([examples[i] for i in indices])

    def predict_batches(self) -> Iterator[Any]:
        """The ``predict`` set (``set_predict_input``) in evaluation batches."""
        return self.batches(self.datasets["predict"])
