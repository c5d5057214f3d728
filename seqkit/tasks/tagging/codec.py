"""Tagged sentences, without Lightning: reading CoNLL / CoNLL-U (``error: file:line: reason``), the vocabularies
learnt from the training split (words, characters, tags), encoding, batching, prediction input (CoNLL, CoNLL-U
or plain text) and output formatting (JSON lines with entity spans, or CoNLL columns).

The training data module (``TaggingDataModule``) and the application (``seqkit.app``: predict, evaluate) both
run this one codec. Its ``state_dict`` (vocab, chars, tags, the pretrained vectors' identity) has the layout of
the old ``seqkit.data.tagging.TaggingDataModule``'s, so old checkpoints load unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch

from seqkit.data import tag_schemes
from seqkit.data.batch import IGNORE_INDEX, Batch, encode_records, lengths_of, pad, pad_chars
from seqkit.data.builtin import FILES, builtin_files
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.conll import (
    TaggedSentence,
    conllu_column,
    conversion_notice,
    detect_conll_scheme,
    iter_conllu,
    normalise_scheme,
    read_tagged,
    stream_conll,
)
from seqkit.data.errors import DataError
from seqkit.data.notice import log
from seqkit.data.streaming import STREAM_DEFAULTS
from seqkit.data.vocab import Vocabulary
from seqkit.nn.casing import char_kinds

_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"[ \t]+")  # as the CoNLL reader: U+00A0 and other odd spaces stay inside tokens
BUILTIN_FORMATS = {"wnut17": "conll", "ud_english_ewt": "conllu"}
Splits = Dict[str, Tuple[List[Any], str]]  # split -> (raw examples, source name for errors)


@dataclass
class TaggedExample:
    index: int
    ids: List[int]
    chars: List[List[int]]
    tags: List[int]  # [] when unlabelled


DEFAULTS = {
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "builtin": None,
    "format": "conll",
    "token_column": 0,
    "label_column": -1,
    "scheme": "iob2",
    "strict": True,
    "lowercase": False,
    "zero_digits": False,
    "min_freq": 1,
    "max_vocab_size": None,
    "max_word_length": 40,
    "pretrained": None,
    **STREAM_DEFAULTS,
    **SHARED_DEFAULTS,
}


class TaggingCodec(Codec):
    """Reads, encodes, batches and formats tagged sentences (``task=ner``, ``task=pos``).

    Settings (``DEFAULTS``; ``seqkit/configs/task/ner.yaml`` ``data.*``):

    builtin: "wnut17" (NER) or "ud_english_ewt" (UPOS), used while ``train_path`` is null.
    train_path / val_path / test_path: CoNLL column files (``format="conll"``) or CoNLL-U (``"conllu"``);
        root: the directory relative paths are read from.
    token_column / label_column: which columns hold the words and the tags (an index, negative from the end;
        CoNLL-U also takes "upos" / "xpos"). scheme: "iob2" / "iobes" (entity tags; IOB1 input is detected and
        converted, invalid I- tags are errors when ``strict``) or "none" (any tags: POS, chunks).
    lowercase / zero_digits: normalise words before the word vocabulary (characters keep the raw word).
    min_freq / max_vocab_size: the word vocabulary, learnt (with the characters and tags) from the training
        split only.
    max_word_length: characters per word given to the character encoder (longer words are cut for the
        character features only; the word itself is kept).
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file: every word they cover is read through its
        vector, at training and at any later time (validation, test, prediction), while the vocabulary of
        trainable corrections comes from the training split only (seqkit.data.pretrained).
    batch_size / eval_batch_size: training / evaluation (validation, test, prediction) batches (null: batch_size).
    streaming: read the training file as a stream, not into memory: auto (a file over 100 MB), true or false;
        shuffle_buffer: the examples a stream shuffles and buckets at a time (``seqkit.data.streaming``).
    The data module's loaders also take ``bucketing`` and ``num_workers`` (``seqkit.data.codec_datamodule``).
    """

    defaults = DEFAULTS
    state_fields = {"vocab": Vocabulary, "chars": Vocabulary, "tags": Vocabulary}  # then "pretrained"

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.vocab: Optional[Vocabulary] = None
        self.chars: Optional[Vocabulary] = None
        self.tags: Optional[Vocabulary] = None
        self.read_schemes: Dict[str, str] = {}  # file read -> the entity scheme it was written in (before conversion)
        self.input_scheme: str = self.hparams.scheme  # the training files' scheme (kept in the checkpoint)
        self.output_scheme: str = self.hparams.scheme  # predictions' scheme (predict.py options.output_scheme)

    @property
    def built(self) -> bool:
        return self.vocab is not None

    # ---- reading and vocabularies --------------------------------------------------------------
    def read(self, path, *, labelled: bool = True, format: Optional[str] = None, lines=None) -> List[TaggedSentence]:
        """Sentences of ``path`` (or of numbered ``lines``, ``path`` naming them) in these settings."""
        hp = self.hparams
        fmt = format or hp.format
        if fmt == "conllu":
            column = hp.label_column if labelled and hp.label_column != -1 else "upos"
            return read_tagged(path, "conllu", label_column=column, labelled=labelled, lines=lines)
        sentences = read_tagged(
            path,
            "conll",
            token_column=hp.token_column,
            label_column=hp.label_column,
            scheme="none",  # as written: normalised below, where the scheme the file was written in is seen
            labelled=labelled,
            lines=lines,
        )
        if labelled and hp.scheme != "none":
            self.read_schemes[str(path)] = normalise_scheme(sentences, hp.scheme, strict=hp.strict, path=path, log=log)
        return sentences

    def read_splits(self, streamed: Sequence[str] = ()) -> Splits:
        """-> {split: (sentences, source name for errors)} for the splits these settings give, but those ``streamed``."""
        hp = self.hparams
        if hp.builtin is not None and hp.train_path is None:
            if hp.builtin not in BUILTIN_FORMATS:
                raise ValueError(
                    f"unknown built-in tagging data {hp.builtin!r}; choose one of {sorted(BUILTIN_FORMATS)}"
                )
            fmt = BUILTIN_FORMATS[hp.builtin]
            return {
                split: (self.read(builtin_files(hp.builtin, split)[0], format=fmt), f"{hp.builtin}:{split}")
                for split in FILES[hp.builtin]
            }
        splits: Splits = {}
        for name, path in (("train", hp.train_path), ("val", hp.val_path), ("test", hp.test_path)):
            if path is not None and name not in streamed:
                resolved = self.resolve(path)
                splits[name] = (self.read(resolved), str(resolved))
        self.input_scheme = self.read_schemes.get(splits["train"][1], hp.scheme) if "train" in splits else hp.scheme
        return splits

    def state_dict(self) -> Dict[str, Any]:
        """The vocabularies (and vectors' identity), and the scheme the training files were written in where it is
        not the model's (IOB1 files read as IOB2)."""
        state = super().state_dict()
        return state if self.input_scheme == self.hparams.scheme else {**state, "input_scheme": self.input_scheme}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.input_scheme = state.get("input_scheme", self.hparams.scheme)  # older checkpoints: as trained

    def normalise(self, word: str) -> str:
        if self.hparams.lowercase:
            word = word.lower()
        return _DIGIT.sub("0", word) if self.hparams.zero_digits else word

    def build(self, train: Iterable[TaggedSentence]) -> None:
        """Learn the word, character and tag vocabularies from the training split only, in one pass (a stream too)."""
        hp = self.hparams
        words, chars, tags, n = Counter(), Counter(), set(), 0
        for n, s in enumerate(train, start=1):
            words.update(self.normalise(t) for t in s.tokens)
            chars.update(c for t in s.tokens for c in t)
            tags.update(s.tags)
        self.vocab = Vocabulary.from_counts(words, min_freq=hp.min_freq, max_size=hp.max_vocab_size)
        self.chars = Vocabulary.from_counts(chars)
        self.tags = Vocabulary(sorted(tags), unk=False, pad=False)
        if hp.pretrained:
            self.use_pretrained(hp.pretrained)
        log(
            f"{n} training sentences, vocabulary {len(self.vocab)}, characters {len(self.chars)}, "
            f"tags {len(self.tags)}" + (f" (scheme {hp.scheme})" if hp.scheme != "none" else "")
        )

    def iter_examples(self, path: str) -> Iterator[Tuple[int, TaggedSentence]]:
        """(line of the first token, sentence) of a CoNLL or CoNLL-U file, read lazily (``seqkit.data.streaming``); a
        CoNLL file's own tag scheme is detected by a first pass, once a file."""
        hp = self.hparams
        resolved = self.resolve(path)
        if hp.format == "conllu":
            column = conllu_column(hp.label_column if hp.label_column != -1 else "upos", resolved)
            return ((s.line, s) for s in iter_conllu(resolved, label_col=column))
        columns = dict(token_column=hp.token_column, label_column=hp.label_column)
        found = self.read_schemes.get(str(resolved))
        if found is None:
            found = self.read_schemes[str(resolved)] = detect_conll_scheme(resolved, hp.scheme, **columns)
            if hp.scheme != "none" and found != hp.scheme:
                log(conversion_notice(resolved, found, hp.scheme))
        if hp.scheme != "none" and path == hp.train_path:
            self.input_scheme = found  # a streamed training file's scheme, as read_splits keeps an in-memory one's
        sentences = stream_conll(resolved, scheme=hp.scheme, strict=hp.strict, found=found, **columns)
        return ((s.line, s) for s in sentences)

    def network_kwargs(self) -> Dict[str, Any]:
        """What the network needs of the data: sizes, tag names and scheme, each character's kind (for the casing
        feature), the pretrained vectors' table and rows."""
        kwargs: Dict[str, Any] = {
            "vocab_size": len(self.vocab),
            "num_chars": len(self.chars),
            "char_kinds": char_kinds(self.chars.itos),
            "tags": list(self.tags.itos),
            "scheme": self.hparams.scheme,
        }
        if self.vectors is not None:
            kwargs.update(self.vectors.network_kwargs(self.vocab))
        return kwargs

    # ---- encoding and batching -----------------------------------------------------------------
    def encode(self, sentences: Iterable[TaggedSentence], source: str) -> List[TaggedExample]:
        """Sentences -> examples; a tag the training data never had is a DataError at its line."""
        cap = self.hparams.max_word_length
        out = []
        for i, s in enumerate(sentences):
            tags = []
            for tag, line in zip(s.tags, s.token_lines):
                if tag not in self.tags:
                    raise DataError(source, line, f"tag {tag!r} is not in the training tags {self.tags.itos}")
                tags.append(self.tags.index(tag))
            ids = self.encode_words(self.normalise(t) for t in s.tokens)
            chars = [self.chars.encode(t[:cap] if cap else t) for t in s.tokens]
            out.append(TaggedExample(i, ids, chars, tags))
        return out

    def example_length(self, example: TaggedExample) -> int:
        return len(example.ids)

    def collate(self, examples: List[TaggedExample]) -> Batch:
        chars, char_lengths = pad_chars([e.chars for e in examples])
        labelled = all(e.tags for e in examples)
        return Batch(
            tokens=pad([e.ids for e in examples]),
            lengths=lengths_of([e.ids for e in examples]),
            index=torch.tensor([e.index for e in examples]),
            chars=chars,
            char_lengths=char_lengths,
            labels=pad([e.tags for e in examples], IGNORE_INDEX) if labelled else None,
        )

    # ---- prediction ----------------------------------------------------------------------------
    def set_predict_input(
        self,
        lines: List[Tuple[int, str]],
        source: str,
        input_format: Optional[str] = None,
        output_format: str = "json",
        output_scheme: Optional[str] = None,
    ) -> List[TaggedSentence]:
        """-> one record a sentence. ``input_format``: the training ``format`` by default; "conll" / "conllu"
        (tokens from the token column, any tag columns ignored; blank lines end sentences) or "text"
        (whitespace-separated tokens, one sentence a line; a blank line is an empty sentence).
        ``output_scheme``: the entity scheme of the predicted tags: the model's (``data.scheme``) by default,
        "input" (the scheme the training files were written in: IOB1 files give IOB1), or iob1 / iob2 / iobes."""
        if output_format not in ("json", "conll"):
            raise ValueError(f"output_format must be 'json' or 'conll', got {output_format!r}")
        self.output_scheme = self._output_scheme(output_scheme)
        input_format = input_format or self.hparams.format
        if input_format == "text":
            sentences = []
            for n, line in lines:
                tokens = _SPACES.split(line.strip(" \t")) if line.strip(" \t") else []
                sentences.append(TaggedSentence(tokens, [], n, [n] * len(tokens)))
        elif input_format in ("conll", "conllu"):
            sentences = self.read(source, labelled=False, format=input_format, lines=lines)
        else:
            raise ValueError(f"input_format must be 'text', 'conll' or 'conllu', got {input_format!r}")
        self.datasets["predict"] = encode_records(self.encode, sentences, lambda s: bool(s.tokens), source)
        return sentences

    def format_predictions(
        self, sentences: List[TaggedSentence], outputs: List[Optional[Dict[str, torch.Tensor]]]
    ) -> List[Dict[str, Any]]:
        """Per-sentence outputs (``tags [T]``; None for an empty sentence) -> one JSON-ready dict a sentence."""
        return [
            self._row(s.tokens, [] if out is None else self.tags.decode(out["tags"][: len(s.tokens)].tolist()))
            for s, out in zip(sentences, outputs)
        ]

    def join_pieces(self, rows: List[Dict[str, Any]]) -> Dict[str, Any]:
        """The rows of one sentence tagged in pieces (predict.py ``options.too_long=split``) -> the sentence's row:
        tokens and tags in order, spans over the whole."""
        return self._row([t for r in rows for t in r["tokens"]], [t for r in rows for t in r["tags"]])

    def _output_scheme(self, asked: Optional[str]) -> str:
        trained = self.hparams.scheme
        if asked is None:
            return trained
        if trained == "none":
            raise ValueError(
                f"options.output_scheme={asked}: this model's tags are no entity scheme (data.scheme=none)"
            )
        if asked == "input":
            return self.input_scheme
        if asked not in tag_schemes.ENCODABLE:
            choices = ", ".join(("input", *tag_schemes.ENCODABLE))
            raise ValueError(f"options.output_scheme must be one of {choices}; got {asked!r}")
        return asked

    def _row(self, tokens: List[str], tags: List[str]) -> Dict[str, Any]:
        if self.output_scheme != self.hparams.scheme:
            tags = tag_schemes.encode(tag_schemes.spans(tags), len(tags), self.output_scheme)
        row: Dict[str, Any] = {"tokens": tokens, "tags": tags}
        if self.hparams.scheme != "none":
            row["spans"] = [
                {"type": t, "start": a, "end": b, "text": " ".join(tokens[a:b])} for t, a, b in tag_schemes.spans(tags)
            ]
        return row

    @staticmethod
    def format_output(rows: List[Dict[str, Any]], output_format: str) -> Iterable[str]:
        """CoNLL columns: ``token<TAB>tag`` a line, a blank line after each sentence."""
        for row in rows:
            for token, tag in zip(row["tokens"], row["tags"]):
                yield f"{token}\t{tag}"
            yield ""


class CopyMemoryCodec(Codec):
    """Copy memory (``task=copy_memory``), generated from a seed (``seqkit.data.generated.copy_memory``): no files
    and nothing learnt; token ids are fixed (0 padding, blank, delimiter, the ``alphabet`` symbols) and the tags
    are the symbols ``"0" .. str(alphabet - 1)``, scored on the answer steps only.

    Settings: ``symbols`` symbols of an ``alphabet`` to remember across ``length`` blank steps; ``train_size`` /
    ``val_size`` / ``test_size`` sequences, generated from ``seed`` (train: seed, val: seed + 1, test: seed + 2).
    Its data module adds the loaders' settings (``root``, unused; ``batch_size``, ``eval_batch_size``,
    ``bucketing``, ``num_workers``). Batches are aligned many-to-many over ``alphabet + 3`` token ids.
    """

    defaults = {
        "length": 50,
        "symbols": 10,
        "alphabet": 8,
        "train_size": 10000,
        "val_size": 1000,
        "test_size": 0,
        "seed": 0,
    }

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.length, self.symbols, self.alphabet = self.hparams.length, self.hparams.symbols, self.hparams.alphabet

    @property
    def built(self) -> bool:
        return True  # nothing to learn from the data

    def read_splits(self) -> Splits:
        from seqkit.data.generated import SPLITS, SyntheticExample, copy_memory

        hp, splits = self.hparams, {}
        for k, name in enumerate(SPLITS):
            n = hp[f"{name}_size"]
            if n > 0:
                tokens, labels = copy_memory(
                    n, hp.length, hp.symbols, hp.alphabet, torch.Generator().manual_seed(hp.seed + k)
                )
                splits[name] = (
                    [SyntheticExample(i, x, y) for i, (x, y) in enumerate(zip(tokens, labels))],
                    f"<CopyMemoryDataModule {name}>",
                )
        return splits

    def build(self, train: List[Any]) -> None:
        pass

    def encode(self, examples: List[Any], source: str) -> List[Any]:
        return examples

    def example_length(self, example: Any) -> int:
        return example.inputs.size(0)

    def collate(self, examples: List[Any]) -> Batch:
        tokens = torch.stack([e.inputs for e in examples])
        return Batch(
            tokens=tokens,
            lengths=torch.full((len(examples),), tokens.size(1)),
            index=torch.tensor([e.index for e in examples]),
            labels=torch.stack([e.target for e in examples]),
        )

    def network_kwargs(self) -> Dict[str, Any]:
        from seqkit.data.generated import FIRST_SYMBOL

        return {
            "vocab_size": self.hparams.alphabet + FIRST_SYMBOL,
            "tags": [str(i) for i in range(self.hparams.alphabet)],
            "scheme": "none",
        }
