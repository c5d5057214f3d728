"""Source/target pairs without Lightning: reading (``error: file:line: reason``), tokenisers (char, space, or
sentencepiece subword models learnt from the training side), vocabularies, encoding, batching, prediction input
and output formatting.

Input: two line-aligned files per split (``{prefix}.{src_lang}`` / ``{prefix}.{tgt_lang}``, ``.gz`` found by
itself), one tab-separated ``source<TAB>target`` file, or the built-in CMU dictionary (``builtin=cmudict``).
The training data module (``ParallelDataModule``) and the application (``seqkit.app``: predict, evaluate) both
run this one codec. Its ``state_dict`` (vocabularies, subword models) is the old ParallelTextDataModule's, so old
checkpoints' states load unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from torch import Tensor

from seqkit.data.batch import DeviceMovable, collate_indices, encode_records, lengths_of, pad
from seqkit.data.builtin import builtin_files
from seqkit.data.cmudict import read_cmudict, split_words
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.errors import DataError
from seqkit.data.notice import log
from seqkit.data.streaming import STREAM_DEFAULTS
from seqkit.data.subword import SUBWORD_KINDS, SubwordModel
from seqkit.data.textfile import iter_lines
from seqkit.data.vocab import Vocabulary

BOS, EOS = "<bos>", "<eos>"
TOKENIZATIONS = {"char": "", "space": " ", "bpe": " ", "unigram": " "}  # the string joining scored units back to text
Splits = Dict[str, Tuple[List["Pair"], str]]  # split -> (pairs, source name for errors)


def tokenize(text: str, mode: str) -> List[str]:
    """char / space splitting (subword modes need their trained model: ``Seq2SeqCodec.tokenizer``)."""
    return list(text.strip()) if mode == "char" else text.split()


@dataclass
class Pair:
    """One source line with its reference target lines (several for a word with several pronunciations);
    ``source`` / ``targets``: their tokens, filled in by the codec once its tokenisers are ready."""

    text: str
    target_texts: List[str]
    line: int
    source: List[str] = field(default_factory=list)
    targets: List[List[str]] = field(default_factory=list)


@dataclass
class ParallelExample:
    index: int
    source: List[int]
    target: List[int]  # the first reference's ids (teacher forcing, loss)
    references: List[List[str]] = field(default_factory=list)


@dataclass
class ParallelBatch(DeviceMovable):
    """source [B, S] PAD-padded, source_lengths [B]; target_in [B, T] = <bos> y, target_out [B, T] = y <eos>
    (PAD-padded, so the loss skips PAD); index [B]; references: per example, its reference token lists."""

    source: Tensor
    source_lengths: Tensor
    target_in: Tensor
    target_out: Tensor
    index: Tensor
    references: List[List[List[str]]]

    def __len__(self) -> int:
        return self.source.size(0)


def iter_parallel(source_path: Path, target_path: Path) -> Iterator[Pair]:
    """Two line-aligned files -> pairs, read lazily; different line counts (found at the end of the shorter
    file) or an empty line on one side are errors."""
    counts = [0, 0]
    for a, b in zip_longest(iter_lines(source_path), iter_lines(target_path)):
        counts = [counts[0] + (a is not None), counts[1] + (b is not None)]
        if a is None or b is None:
            continue  # count the longer side to its end
        (number, s), (_, t) = a, b
        for path, text in ((source_path, s), (target_path, t)):
            if not text.strip():
                raise DataError(path, number, "empty line (its other side is not): every line needs both sides")
        yield Pair(s.strip(), [t.strip()], number)
    if counts[0] != counts[1]:
        raise DataError(
            source_path,
            None,
            f"has {counts[0]} lines but {target_path} has {counts[1]}: the two sides "
            "of a parallel corpus must be line-aligned",
        )


def read_parallel(source_path: Path, target_path: Path) -> List[Pair]:
    return list(iter_parallel(source_path, target_path))


def iter_tsv(path: Path) -> Iterator[Pair]:
    """``source<TAB>target`` lines -> pairs, read lazily."""
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise DataError(path, number, "expected 'source<TAB>target' with both sides non-empty")
        yield Pair(parts[0].strip(), [parts[1].strip()], number)


def read_tsv(path: Path) -> List[Pair]:
    return list(iter_tsv(path))


def group_by_source(pairs: List[Pair]) -> List[Pair]:
    """Merge pairs with the same source into one whose targets are all its references (first line kept)."""
    merged: Dict[str, Pair] = {}
    for p in pairs:
        key = " ".join(p.text.split())
        if key in merged:
            merged[key].target_texts.extend(t for t in p.target_texts if t not in merged[key].target_texts)
        else:
            merged[key] = Pair(p.text, list(p.target_texts), p.line)
    return list(merged.values())


DEFAULTS = {
    "builtin": None,
    "keep_stress": False,
    "split": (0.9, 0.05, 0.05),
    "split_seed": 13,
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "src_lang": None,
    "tgt_lang": None,
    "source_tokens": "char",
    "target_tokens": "space",
    "share_vocab": False,
    "subword_vocab_size": 8000,
    "subword_vocab_size_src": None,
    "subword_vocab_size_tgt": None,
    "min_freq": 1,
    "max_vocab_size": None,
    "group_references": False,
    **STREAM_DEFAULTS,
    **SHARED_DEFAULTS,
}


class Seq2SeqCodec(Codec):
    """Reads, tokenises, encodes, batches and formats source/target pairs (``task=g2p``, ``experiment=multi30k``).

    Settings (``DEFAULTS``; ``seqkit/configs/task/g2p.yaml`` ``data.*``):

    builtin: "cmudict", the CMU Pronouncing Dictionary (spelling -> phones, stress stripped unless
        ``keep_stress``), used while ``train_path`` is null; split ``split`` = train/val/test fractions by word
        with ``split_seed``.
    train_path / val_path / test_path: your own pairs, a ``.tsv`` file (``source<TAB>target``) or, with
        ``src_lang`` and ``tgt_lang``, a prefix of two line-aligned files (``{prefix}.{src_lang}``, ``.gz`` found
        by itself); root: the directory relative paths are read from.
    source_tokens / target_tokens: char | space | bpe | unigram (sentencepiece models learnt from the training
        side only: ``subword_vocab_size`` pieces, or ``subword_vocab_size_src`` / ``subword_vocab_size_tgt`` a side).
    share_vocab: one vocabulary for both sides (and one subword model when both sides use the same kind).
    min_freq / max_vocab_size: the vocabularies, learnt from the training split only and kept in the checkpoint.
    group_references: validation/test sources seen several times are decoded once and scored against all their
        targets.
    batch_size / eval_batch_size: training / evaluation (validation, test, prediction) batches (null: batch_size).
    streaming: read the training file as a stream, not into memory: auto (a file over 100 MB), true or false;
        shuffle_buffer: the examples a stream shuffles and buckets at a time (``seqkit.data.streaming``).
    The data module's loaders also take ``bucketing`` and ``num_workers`` (``seqkit.data.codec_datamodule``).
    """

    defaults = DEFAULTS
    state_fields = {  # the old ParallelTextDataModule's state, in its order
        "vocab": Vocabulary,
        "target_vocab": Vocabulary,
        "source_subword": SubwordModel,
        "target_subword": SubwordModel,
    }

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        for side in ("source_tokens", "target_tokens"):
            if self.hparams[side] not in TOKENIZATIONS:
                raise ValueError(f"data.{side} must be one of {sorted(TOKENIZATIONS)}, got {self.hparams[side]!r}")
        self.vocab: Optional[Vocabulary] = None
        self.target_vocab: Optional[Vocabulary] = None
        self.source_subword: Optional[SubwordModel] = None  # learnt in build, or restored
        self.target_subword: Optional[SubwordModel] = None
        self.attention_plot: Optional[str] = None

    # ---- state ---------------------------------------------------------------------------------
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if self.hparams.share_vocab:
            self.target_vocab = self.vocab

    @property
    def built(self) -> bool:
        return self.vocab is not None

    # ---- reading -------------------------------------------------------------------------------
    def _files(self, prefix: str) -> Tuple[Path, Path]:
        found = []
        for lang in (self.hparams.src_lang, self.hparams.tgt_lang):
            path = self.resolve(f"{prefix}.{lang}")
            gz = path.with_name(path.name + ".gz")
            found.append(gz if not path.exists() and gz.exists() else path)
        return found[0], found[1]

    def read(self, path: str) -> Tuple[List[Pair], str]:
        """-> (pairs of one split, the source name for errors)."""
        hp = self.hparams
        if hp.src_lang and hp.tgt_lang:
            source, target = self._files(path)
            return read_parallel(source, target), str(source)
        if not (hp.src_lang or hp.tgt_lang):
            resolved = self.resolve(path)
            return read_tsv(resolved), str(resolved)
        raise ValueError("give both data.src_lang and data.tgt_lang (line-aligned files) or neither (a TSV file)")

    def read_splits(self, streamed: Sequence[str] = ()) -> Splits:
        """-> {split: (pairs, source name for errors)} for the splits these settings give, but those ``streamed``."""
        hp = self.hparams
        if hp.builtin is not None and hp.train_path is None:
            return self._read_cmudict()
        splits = {}
        for name in ("train", "val", "test"):
            path = hp.get(f"{name}_path")
            if path is not None and name not in streamed:
                pairs, source = self.read(path)
                splits[name] = (group_by_source(pairs) if hp.group_references and name != "train" else pairs, source)
        return splits

    def _read_cmudict(self) -> Splits:
        hp = self.hparams
        if hp.builtin != "cmudict":
            raise ValueError(f"ParallelTextDataModule has the built-in data set cmudict, not {hp.builtin!r}")
        path = builtin_files("cmudict", "all")[0]
        words = read_cmudict(path, keep_stress=hp.keep_stress)
        parts = split_words(list(words), hp.split, hp.split_seed)
        splits = {}
        for name, part in zip(("train", "val", "test"), parts):
            if name == "train":  # every pronunciation is a training pair
                pairs = [Pair(w, [" ".join(phones)], line) for w in part for phones, line in words[w]]
            else:  # one decode a word, scored against all its pronunciations
                pairs = [Pair(w, [" ".join(phones) for phones, _ in words[w]], words[w][0][1]) for w in part]
            splits[name] = (pairs, str(path))
        return splits

    # ---- tokens and vocabularies ---------------------------------------------------------------
    def train_subword_models(self, train: List[Pair]) -> None:
        """Learn the sentencepiece model of each subword side from the TRAINING pairs only (one joint model for
        both sides when they share a vocabulary and a subword kind)."""
        hp = self.hparams
        sources = [p.text for p in train]
        targets = [t for p in train for t in p.target_texts]
        size_src = hp.subword_vocab_size_src or hp.subword_vocab_size
        size_tgt = hp.subword_vocab_size_tgt or hp.subword_vocab_size
        if hp.share_vocab and hp.source_tokens == hp.target_tokens in SUBWORD_KINDS:
            self.source_subword = self.target_subword = SubwordModel.train(
                sources + targets, hp.source_tokens, size_src
            )
        else:
            if hp.source_tokens in SUBWORD_KINDS:
                self.source_subword = SubwordModel.train(sources, hp.source_tokens, size_src)
            if hp.target_tokens in SUBWORD_KINDS:
                self.target_subword = SubwordModel.train(targets, hp.target_tokens, size_tgt)
        for side, model in (("source", self.source_subword), ("target", self.target_subword)):
            if model is not None and (side == "source" or model is not self.source_subword):
                log(f"{side} subword units: {model.kind}, {len(model)} pieces learnt from the training split")

    def tokenizer(self, side: str):
        """text -> tokens of ``side`` ("source" or "target"): its subword model, or char / space splitting."""
        mode = self.hparams.source_tokens if side == "source" else self.hparams.target_tokens
        if mode not in SUBWORD_KINDS:
            return lambda text: tokenize(text, mode)
        model = self.source_subword if side == "source" else self.target_subword
        if model is None:
            raise ValueError(
                f"data.{side}_tokens={mode}, but this data module has no {side} subword model: a "
                f"checkpoint trained with other tokens? (train again, or keep the checkpoint's tokens)"
            )
        return model.encode

    def tokenize_pairs(self, pairs: List[Pair]) -> List[Pair]:
        """Fill in every pair's source and target tokens (once)."""
        source, target = self.tokenizer("source"), self.tokenizer("target")
        for p in pairs:
            if not p.source:
                p.source = source(p.text)
                p.targets = [target(t) for t in p.target_texts]
        return pairs

    def scored_units(self, text: str) -> List[str]:
        """What error rates count in a target text: its tokens (char, space), or its words (subword units)."""
        mode = self.hparams.target_tokens
        return text.split() if mode in SUBWORD_KINDS else tokenize(text, mode)

    def build(self, train: Iterable[Pair]) -> None:
        """Learn the subword models and vocabularies from the training pairs only (the target one adds <bos>/<eos>);
        without subword models in one pass (a stream too)."""
        hp = self.hparams
        if {hp.source_tokens, hp.target_tokens}.intersection(SUBWORD_KINDS):
            train = list(train)
            self.train_subword_models(train)
        sources, targets, n = Counter(), Counter(), 0
        for n, p in enumerate(train, start=1):
            self.tokenize_pairs([p])
            sources.update(p.source)
            for t in p.targets:
                targets.update(t)
        kwargs = dict(min_freq=hp.min_freq, max_size=hp.max_vocab_size)
        if hp.share_vocab:
            self.vocab = Vocabulary.from_counts(sources + targets, specials=(BOS, EOS), **kwargs)
            self.target_vocab = self.vocab
        else:
            self.vocab = Vocabulary.from_counts(sources, **kwargs)
            self.target_vocab = Vocabulary.from_counts(targets, specials=(BOS, EOS), **kwargs)
        log(f"{n} training pairs, source vocabulary {len(self.vocab)}, target vocabulary {len(self.target_vocab)}")

    def iter_examples(self, path: str) -> Iterator[Tuple[int, Pair]]:
        """(line, pair) of a TSV file or of two line-aligned files, read lazily (``seqkit.data.streaming``)."""
        hp = self.hparams
        if {hp.source_tokens, hp.target_tokens}.intersection(SUBWORD_KINDS) and not self.built:
            raise ValueError(
                "data.streaming: subword units are learnt from the training file held in memory; give "
                "data.streaming=false, or data.source_tokens=char|space and data.target_tokens=char|space"
            )
        if hp.src_lang and hp.tgt_lang:
            pairs = iter_parallel(*self._files(path))
        elif not (hp.src_lang or hp.tgt_lang):
            pairs = iter_tsv(self.resolve(path))
        else:
            raise ValueError("give both data.src_lang and data.tgt_lang (line-aligned files) or neither (a TSV file)")
        return ((p.line, p) for p in pairs)

    def data_files(self, path: str) -> List[Path]:
        """The files a split's ``path`` names: a TSV file, or the two sides of line-aligned files."""
        hp = self.hparams
        return list(self._files(path)) if hp.src_lang and hp.tgt_lang else [self.resolve(path)]

    def network_kwargs(self) -> Dict[str, Any]:
        return {
            "source_vocab_size": len(self.vocab),
            "target_vocab_size": len(self.target_vocab),
            "bos_index": self.target_vocab.index(BOS),
            "eos_index": self.target_vocab.index(EOS),
            "shared_vocab": bool(self.hparams.share_vocab),
        }

    # ---- encoding and batching -----------------------------------------------------------------
    def encode(self, pairs: List[Pair], source: str) -> List[ParallelExample]:
        """Pairs -> ids; ``references`` are the targets as scored units (seqkit.tasks.seq2seq.metrics)."""
        self.tokenize_pairs(pairs)
        return [
            ParallelExample(
                i,
                self.vocab.encode(p.source),
                self.target_vocab.encode(p.targets[0]) if p.targets else [],
                [self.scored_units(t) for t in p.target_texts],
            )
            for i, p in enumerate(pairs)
        ]

    def example_length(self, example: ParallelExample) -> int:
        return len(example.source)

    def collate(self, examples: List[ParallelExample]) -> ParallelBatch:
        bos, eos = self.target_vocab.index(BOS), self.target_vocab.index(EOS)
        sources = [e.source for e in examples]
        return ParallelBatch(
            source=pad(sources),
            source_lengths=lengths_of(sources),
            target_in=pad([[bos] + e.target for e in examples]),
            target_out=pad([e.target + [eos] for e in examples]),
            index=collate_indices([e.index for e in examples]),
            references=[e.references for e in examples],
        )

    # ---- outputs -------------------------------------------------------------------------------
    def target_tokens(self, ids: Sequence[int]) -> List[str]:
        """Output ids (up to the first <eos>, which is dropped) -> target tokens."""
        eos = self.target_vocab.index(EOS)
        ids = list(ids)
        return self.target_vocab.decode(ids[: ids.index(eos)] if eos in ids else ids)

    def output_units(self, ids: Sequence[int]) -> List[str]:
        """Output ids -> scored units (``scored_units``): the target tokens, or the words of decoded subwords."""
        tokens = self.target_tokens(ids)
        return tokens if self.target_subword is None else self.scored_units(self.target_subword.decode(tokens))

    def detokenize(self, units: Sequence[str]) -> str:
        """Scored units -> the text sacreBLEU and predict.py see."""
        return TOKENIZATIONS[self.hparams.target_tokens].join(units)

    # ---- prediction ----------------------------------------------------------------------------
    def set_predict_input(
        self, lines: List[Tuple[int, str]], source: str, attention_plot: Optional[str] = None
    ) -> List[Pair]:
        """Each non-blank line is one source to decode (``attention_plot``: a folder for heat maps); a blank line
        gets an empty record of its own, so output line k answers input line k."""
        split = self.tokenizer("source")
        records = [Pair(text.strip(), [], number, split(text) if text.strip() else []) for number, text in lines]
        if not any(r.source for r in records):
            raise DataError(source, None, "no text to predict")
        self.attention_plot = attention_plot
        self.datasets["predict"] = encode_records(self.encode, records, lambda r: bool(r.source), source)
        return records

    def format_predictions(
        self, records: List[Pair], outputs: List[Optional[Dict[str, Tensor]]]
    ) -> List[Dict[str, Any]]:
        """Per-source outputs (tokens [n, N], lengths [n], scores [n], attention [N, S]) -> {source, output,
        score} (+ ``n_best`` alternatives when n > 1); heat maps saved when asked."""
        rows, cut, eos = [], 0, self.target_vocab.index(EOS)
        for record, out in zip(records, outputs):
            if out is None:  # a blank line
                rows.append({"source": "", "output": None, "score": None})
                continue
            hyps = []
            for tokens, length, score in zip(out["tokens"].tolist(), out["lengths"].tolist(), out["scores"].tolist()):
                hyps.append({"output": self.detokenize(self.output_units(tokens[:length])), "score": round(score, 6)})
            best_length = int(out["lengths"][0])
            cut += int(out["tokens"][0, best_length - 1]) != eos
            row = {"source": record.text, **hyps[0]}
            if len(hyps) > 1:
                row["n_best"] = hyps
            rows.append(row)
            if self.attention_plot and out.get("attention") is not None:
                from seqkit.plotting import save_attention_plot  # matplotlib only when plotting

                output_tokens = self.target_vocab.decode(out["tokens"][0, :best_length].tolist())
                path = Path(self.attention_plot) / f"attention_{record.line:04d}.png"  # named by its input line
                save_attention_plot(
                    out["attention"][:best_length, : len(record.source)], record.source, output_tokens, path
                )
        if cut:
            log(
                f"warning: {cut} of {sum(r.source != [] for r in records)} outputs reached the maximum length (decode.max_len_ratio) "
                "without <eos> and were cut"
            )
        return rows
