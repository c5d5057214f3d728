"""LightningDataModule for unaligned many-to-many tasks (translation, grapheme-to-phoneme): source -> target.

Input: two line-aligned files per split (``{prefix}.{src_lang}`` / ``{prefix}.{tgt_lang}``, ``.gz`` found by
itself), one tab-separated ``source<TAB>target`` file, or the built-in CMU dictionary (``builtin=cmudict``).
Each side is tokenised on its own (``char``: every character; ``space``: whitespace-separated tokens; ``bpe`` /
``unigram``: sentencepiece subword units learnt from that side of the training split, see seqkit.data.subword).
Vocabularies (and subword models) come from the training split only; the target one adds ``<bos>``/``<eos>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torch import Tensor

from seqkit.data.batch import collate_indices, encode_records, lengths_of, pad
from seqkit.data.builtin import builtin_files
from seqkit.data.cmudict import read_cmudict, split_words
from seqkit.data.datamodule import SeqkitDataModule, log
from seqkit.data.errors import DataError
from seqkit.data.subword import SUBWORD_KINDS, SubwordModel
from seqkit.data.vocab import Vocabulary

# the Lightning-free half lives in the seq2seq shape's codec (issue #25); this old data module goes with seqkit.models
from seqkit.tasks.seq2seq.codec import (
    BOS,
    EOS,
    TOKENIZATIONS,
    Pair,
    ParallelBatch,
    ParallelExample,  # noqa: F401
    group_by_source,
    read_parallel,
    read_tsv,
    tokenize,
)


class ParallelTextDataModule(SeqkitDataModule):
    """Source/target pairs for ``seqkit.models.Seq2Seq``.

    builtin="cmudict": the CMU Pronouncing Dictionary, spelling -> phones, stress stripped unless
    ``keep_stress``, split ``split`` (train/val/test fractions) by word with ``split_seed``.
    Your own data: ``train_path`` / ``val_path`` / ``test_path``: a ``.tsv`` file, or (with ``src_lang`` and
    ``tgt_lang``) a prefix: ``train`` reads ``train.en`` and ``train.de`` (or ``train.en.gz``...).
    source_tokens / target_tokens: ``char`` | ``space`` | ``bpe`` | ``unigram`` (sentencepiece, learnt from that side
    of the training split; about ``subword_vocab_size`` pieces, or ``subword_vocab_size_src`` / ``_tgt`` per side;
    the models are kept in the checkpoint). Outputs are scored and printed as text: subword outputs are decoded
    and their error rates counted over words. share_vocab: one vocabulary for both sides (and, when both sides
    use the same subword kind, one subword model learnt from both).
    group_references: validation/test sources that occur several times are decoded once and scored
    against all their targets (the dictionary's alternative pronunciations); training keeps every pair.
    """

    def __init__(
        self,
        builtin: Optional[str] = None,
        keep_stress: bool = False,
        split: Sequence[float] = (0.9, 0.05, 0.05),
        split_seed: int = 13,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        src_lang: Optional[str] = None,
        tgt_lang: Optional[str] = None,
        source_tokens: str = "char",
        target_tokens: str = "space",
        share_vocab: bool = False,
        subword_vocab_size: int = 8000,
        subword_vocab_size_src: Optional[int] = None,
        subword_vocab_size_tgt: Optional[int] = None,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        group_references: bool = False,
        **loader_kwargs: Any,
    ):
        super().__init__(**loader_kwargs)
        for side, mode in (("source_tokens", source_tokens), ("target_tokens", target_tokens)):
            if mode not in TOKENIZATIONS:
                raise ValueError(f"data.{side} must be one of {sorted(TOKENIZATIONS)}, got {mode!r}")
        self.save_hyperparameters()
        self.target_vocab: Optional[Vocabulary] = None
        self.vocabularies = ("vocab", "target_vocab")
        self.source_subword: Optional[SubwordModel] = None  # learnt in build_vocabularies, or restored
        self.target_subword: Optional[SubwordModel] = None
        self.predict_records: List[Pair] = []

    # ---- reading -------------------------------------------------------------------------------
    def _files(self, prefix: str) -> Tuple[Path, Path]:
        found = []
        for lang in (self.hparams.src_lang, self.hparams.tgt_lang):
            path = self.resolve(f"{prefix}.{lang}")
            gz = path.with_name(path.name + ".gz")
            found.append(gz if not path.exists() and gz.exists() else path)
        return found[0], found[1]

    def _read(self, path: str) -> Tuple[List[Pair], str]:
        hp = self.hparams
        if hp.src_lang and hp.tgt_lang:
            source, target = self._files(path)
            return read_parallel(source, target), str(source)
        if not (hp.src_lang or hp.tgt_lang):
            resolved = self.resolve(path)
            return read_tsv(resolved), str(resolved)
        raise ValueError("give both data.src_lang and data.tgt_lang (line-aligned files) or neither (a TSV file)")

    def _read_splits(self) -> Dict[str, Tuple[List[Pair], str]]:
        hp = self.hparams
        if hp.builtin is not None and hp.train_path is None:
            return self._read_cmudict()
        splits = {}
        for name in ("train", "val", "test"):
            path = hp.get(f"{name}_path")
            if path is not None:
                pairs, source = self._read(path)
                splits[name] = (group_by_source(pairs) if hp.group_references and name != "train" else pairs, source)
        return splits

    def _read_cmudict(self) -> Dict[str, Tuple[List[Pair], str]]:
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

    # ---- tokens --------------------------------------------------------------------------------
    def state_fields(self) -> Dict[str, Any]:
        return {**super().state_fields(), "source_subword": SubwordModel, "target_subword": SubwordModel}

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

    def build_vocabularies(self, splits: Dict[str, Tuple[List[Pair], str]]) -> None:
        hp, train = self.hparams, splits["train"][0]
        self.train_subword_models(train)
        self.tokenize_pairs(train)
        sources = [p.source for p in train]
        targets = [t for p in train for t in p.targets]
        kwargs = dict(min_freq=hp.min_freq, max_size=hp.max_vocab_size)
        if hp.share_vocab:
            self.vocab = Vocabulary.build(sources + targets, specials=(BOS, EOS), **kwargs)
            self.target_vocab = self.vocab
        else:
            self.vocab = Vocabulary.build(sources, **kwargs)
            self.target_vocab = Vocabulary.build(targets, specials=(BOS, EOS), **kwargs)
        log(
            f"{len(train)} training pairs, source vocabulary {len(self.vocab)}, target vocabulary {len(self.target_vocab)}"
        )

    def encode(self, pairs: List[Pair], source: str) -> List[ParallelExample]:
        """Pairs -> ids; ``references`` are the targets as scored units (seqkit.models.text_metrics)."""
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

    # ---- batching ------------------------------------------------------------------------------
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

    # ---- what the model needs, what the checkpoint keeps ---------------------------------------
    def model_kwargs(self) -> Dict[str, Any]:
        return {
            "source_vocab_size": len(self.vocab),
            "target_vocab_size": len(self.target_vocab),
            "bos_index": self.target_vocab.index(BOS),
            "eos_index": self.target_vocab.index(EOS),
            "shared_vocab": bool(self.hparams.share_vocab),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.hparams.share_vocab:
            self.target_vocab = self.vocab

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

    def format_predictions(self, records: List[Pair], outputs: List[Dict[str, Tensor]]) -> List[Dict[str, Any]]:
        """Per-source outputs (tokens [n, N], lengths [n], scores [n], attention [N, S]) -> {source, output,
        score} (+ ``n_best`` alternatives when n > 1); heat maps saved when asked."""
        from seqkit.plotting import save_attention_plot  # matplotlib only when predicting

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
            if getattr(self, "attention_plot", None) and out.get("attention") is not None:
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
