"""A language model's text, without Lightning: reading one token stream a split (``error: file:line: reason``),
the vocabulary learnt from the training text, truncated-BPTT batches, line scoring for ``predict.py``, and the
text <-> ids of generation (prompts, streamed pieces, banned ids).

How truncated backpropagation through time is laid out (as in char-rnn, PyTorch's word_language_model and
AWD-LSTM): the text is one token stream cut into ``batch_size`` contiguous streams (row i of every batch continues
row i of the previous one); batches are the next ``bptt`` steps of all streams, in order
(``seqkit.tasks.language_model.tbptt.TBPTTChunks``). The network carries its state from one batch to the next.

``ConditionalLanguageModelCodec`` (one-to-many): labelled sentences, each its own sequence with its class as the
batch's ``condition``; read as the classification codec reads them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor

from seqkit.data.batch import IGNORE_INDEX, Batch, lengths_of, pad
from seqkit.data.builtin import builtin_files
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import LabelledText
from seqkit.data.notice import log
from seqkit.data.sampler import sorted_batches
from seqkit.data.textfile import read_lines
from seqkit.data.vocab import UNK, Vocabulary
from seqkit.nn.padding import PAD_INDEX
from seqkit.tasks.classification.codec import ClassificationCodec, Example
from seqkit.tasks.language_model.tbptt import TBPTTChunks

LEVELS = ("char", "word")
EOS = "<eos>"  # word level: the end of every line
NOTICE_EXAMPLES = 5  # how many unseen tokens a notice names
LINE_END = "\n"  # word level: a line's end in a token stream, read as <eos> (text.split() never gives "\n")
Splits = Dict[str, Tuple[List[str], str]]  # split -> (tokens, source name for errors)

DEFAULTS = {
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "builtin": None,
    "level": "char",
    "bptt": 128,
    "bptt_jitter": False,
    "val_fraction": 0.1,
    "min_freq": 1,
    "max_vocab_size": None,
    "seed": 0,
    **SHARED_DEFAULTS,
}


@dataclass
class ScoredLine:
    """One line to score with ``predict.py``: the context token, then the line's tokens as targets."""

    index: int
    text: str
    line: int
    inputs: List[int]
    targets: List[int]


class LanguageModelCodec(Codec):
    """A language model's text (``task=lm``): one UTF-8 file a split, read as one token stream.

    Settings (``DEFAULTS``; ``seqkit/configs/task/lm.yaml`` ``data.*``):

    level: "char" (every character, case and whitespace kept) or "word" (whitespace split, ``<eos>`` at each line
        end, ``<unk>`` below ``min_freq`` or beyond ``max_vocab_size``).
    builtin: "tinyshakespeare" (while ``train_path`` is null): the first 90% trains, the last 10% validates.
    train_path / val_path / test_path: your own files (root: the directory relative paths are read from);
        without ``val_path`` the last ``val_fraction`` of the training text is held out (never shuffled).
    bptt: steps a batch (gradients reach at most this far back); bptt_jitter: AWD-LSTM variable lengths, drawn
        from ``seed``.
    batch_size: parallel streams in training; eval_batch_size: in validation and test. Training batches are
        truncated-BPTT windows of contiguous streams, in order (the data module's ``bucketing`` does not apply).
    """

    defaults = DEFAULTS
    state_fields = {"vocab": Vocabulary}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        hp = self.hparams
        if hp.level not in LEVELS:
            raise ValueError(f"data.level must be one of {list(LEVELS)}, got {hp.level!r}")
        if hp.bptt <= 0:
            raise ValueError(f"data.bptt must be a positive number of steps, got {hp.bptt}")
        if not 0 < hp.val_fraction < 1:
            raise ValueError(f"data.val_fraction must be between 0 and 1, got {hp.val_fraction}")
        self.batch_size = hp.batch_size or SHARED_DEFAULTS["batch_size"]
        self.vocab: Optional[Vocabulary] = None
        self.sources: Dict[str, str] = {}  # split -> source name (errors)

    @property
    def built(self) -> bool:
        return self.vocab is not None

    # ---- reading -------------------------------------------------------------------------------
    def tokenize_lines(self, lines: List[Tuple[int, str]]) -> List[str]:
        """Numbered lines -> tokens: characters (each line with its newline) or words, each line followed by
        ``LINE_END`` (``<eos>``'s place, which no word of the text can take: a word ``<eos>`` is a word)."""
        if self.hparams.level == "char":
            return [c for _, text in lines for c in text + "\n"]
        return [w for _, text in lines for w in [*text.split(), LINE_END]]

    def read_splits(self) -> Splits:
        hp = self.hparams
        splits: Splits = {}
        if hp.train_path is None and hp.builtin is not None:
            paths = builtin_files(hp.builtin, "all")
            if len(paths) != 1:
                raise ValueError(f"data.builtin={hp.builtin} is not one text; a language model takes tinyshakespeare")
            splits["train"] = (self.tokenize_lines(read_lines(paths[0])), hp.builtin)
            held_out = True
        else:
            if hp.train_path is not None:
                source = str(self.resolve(hp.train_path))
                splits["train"] = (self.tokenize_lines(read_lines(self.resolve(hp.train_path))), source)
            held_out = hp.train_path is not None and hp.val_path is None
        if held_out:
            tokens, source = splits["train"]
            cut = int(len(tokens) * (1 - hp.val_fraction))
            splits["train"] = (tokens[:cut], source)
            splits["val"] = (tokens[cut:], f"{source} (last {hp.val_fraction:.0%})")
        for name, path in (("val", hp.val_path), ("test", hp.test_path)):
            if path is not None:
                splits[name] = (self.tokenize_lines(read_lines(self.resolve(path))), str(self.resolve(path)))
        self.sources = {name: source for name, (_, source) in splits.items()}
        return splits

    def build(self, train: List[str]) -> None:
        """The vocabulary of the training text only."""
        specials = [EOS] if self.hparams.level == "word" else []
        words = train if self.hparams.level == "char" else (t for t in train if t != LINE_END)
        self.vocab = Vocabulary.build(
            [words], min_freq=self.hparams.min_freq, max_size=self.hparams.max_vocab_size, specials=specials
        )
        log(f"{len(train)} training {self.hparams.level}s, vocabulary {len(self.vocab)}")

    def network_kwargs(self) -> Dict[str, Any]:
        return {"vocab_size": len(self.vocab), "level": self.hparams.level}

    # ---- encoding and batching -----------------------------------------------------------------
    def token_ids(self, tokens: List[str]) -> List[int]:
        """Tokens (``tokenize_lines``) -> ids: text through the vocabulary, a word-level ``LINE_END`` as ``<eos>``."""
        ids = self.vocab.encode(tokens)
        if self.hparams.level == "char":
            return ids
        eos = self.vocab.index(EOS)
        return [eos if t == LINE_END else i for t, i in zip(tokens, ids)]

    def encode(self, tokens: List[str], source: str) -> Tensor:
        """Tokens -> ids ``[N]``; a split too short for one BPTT chunk of every stream is a DataError."""
        ids = torch.tensor(self.token_ids(tokens), dtype=torch.long)
        for name in [n for n, s in self.sources.items() if s == source]:
            self.check_length(name, ids)
            if name != "train":
                self.notice_unseen(name, tokens)
        return ids

    def notice_unseen(self, name: str, tokens: List[str]) -> None:
        """One notice when a held-out split has tokens the vocabulary (from the training text) lacks: how many,
        how many distinct, and the most frequent few, since the model reads each as ``<unk>`` there."""
        unseen = Counter(t for t in tokens if t != LINE_END and t not in self.vocab.stoi)
        if not unseen:
            return
        level = self.hparams.level
        examples = ", ".join(repr(t) for t, _ in unseen.most_common(NOTICE_EXAMPLES))
        more = ", ..." if len(unseen) > NOTICE_EXAMPLES else ""
        why = "never occur in the training text" if level == "char" else "are not in the training vocabulary"
        log(
            f"notice: {sum(unseen.values())} {level}s of the {name} text ({len(unseen)} distinct: {examples}{more}) "
            f"{why}; the model reads and scores them as {UNK}"
        )

    def check_length(self, name: str, ids: Tensor) -> None:
        """Training needs one target per stream; validation and test at least one BPTT chunk."""
        n, hp = ids.numel(), self.hparams
        if name == "train":
            needed, fix = self.batch_size + 1, "lower data.batch_size"
        else:
            needed, fix = max(hp.bptt, self.eval_batch_size) + 1, "lower data.bptt or data.eval_batch_size"
        if n < needed:
            raise DataError(
                self.sources.get(name),
                None,
                f"{name} text has {n} {hp.level}s, fewer than one BPTT chunk of every stream needs ({needed}); {fix}",
            )

    def chunks(
        self, ids: Tensor, num_streams: int, train: bool = False, num_replicas: int = 1, rank: int = 0
    ) -> TBPTTChunks:
        """The truncated-BPTT batches of one stream over ``num_streams`` streams (an iterable data set: one epoch
        per iteration); training ones jitter their lengths with ``bptt_jitter``."""
        return TBPTTChunks(
            ids,
            num_streams,
            self.hparams.bptt,
            jitter=train and self.hparams.bptt_jitter,
            seed=self.hparams.seed,
            num_replicas=num_replicas,
            rank=rank,
        )

    def batches(self, ids: Tensor, batch_size: Optional[int] = None) -> Iterator[Batch]:
        """Evaluation batches: ``eval_batch_size`` streams, ``bptt`` steps a batch, in order (carry the state)."""
        return iter(self.chunks(ids, batch_size or self.eval_batch_size))

    # ---- scoring lines (predict.py) ------------------------------------------------------------
    def set_predict_input(self, lines: List[Tuple[int, str]], source: str) -> List[ScoredLine]:
        """Each non-blank line is scored on its own, after a line end: its tokens (characters with the
        newline, or words plus ``<eos>``) are the targets. Char level: unknown characters are an error. A blank
        line gets a record of its own with nothing scored, so output line k answers input line k."""
        records, blank = [], []
        for number, text in lines:
            if not text.strip():
                blank.append(ScoredLine(-1, text, number, [], []))
                continue
            tokens = self.tokenize_lines([(number, text)])
            if self.hparams.level == "char":
                missing = sorted({c for c in tokens if c not in self.vocab.stoi})
                if missing:
                    raise DataError(
                        source, number, f"character(s) {''.join(missing)!r} never occur in the model's training text"
                    )
            ids = self.token_ids(tokens)
            records.append(ScoredLine(-1, text, number, [self.start_index(), *ids[:-1]], ids))
        every = sorted(records + blank, key=lambda r: r.line)
        for k, record in enumerate(every):
            record.index = k  # the output record it answers
        self.datasets["predict"] = records
        return every

    def example_length(self, example: ScoredLine) -> int:
        return len(example.inputs)

    def collate(self, examples: List[ScoredLine]) -> Batch:
        inputs = [e.inputs for e in examples]
        return Batch(
            tokens=pad(inputs),
            lengths=lengths_of(inputs),
            index=torch.tensor([e.index for e in examples]),
            labels=pad([e.targets for e in examples], value=IGNORE_INDEX),
        )

    def predict_batches(self) -> Iterator[Batch]:
        """The scored lines in length-sorted batches (not the token streams of ``batches``)."""
        examples = self.datasets["predict"]
        for indices in sorted_batches([self.example_length(e) for e in examples], self.eval_batch_size):
            yield self.collate([examples[i] for i in indices])

    def format_predictions(
        self, records: List[ScoredLine], outputs: List[Optional[Dict[str, Tensor]]]
    ) -> List[Dict[str, Any]]:
        """-> one dict a line: its text, number of scored tokens, mean loss (nats/token) and perplexity."""
        rows = []
        for record, out in zip(records, outputs):
            if out is None:  # a blank line
                rows.append({"text": record.text, "tokens": 0, "loss": None, "perplexity": None})
                continue
            loss = float(out["loss_sum"]) / len(record.targets)
            rows.append(
                {
                    "text": record.text,
                    "tokens": len(record.targets),
                    "loss": round(loss, 6),
                    "perplexity": round(math.exp(loss), 6),
                }
            )
        return rows

    # ---- generation: text <-> ids ----------------------------------------------------------------
    @property
    def start_token(self) -> str:
        """What a text is assumed to follow when nothing else is given: a line end."""
        return "\n" if self.hparams.level == "char" else EOS

    def start_index(self) -> int:
        return self.vocab.index(self.start_token)

    def banned_indices(self) -> List[int]:
        """Ids generation never draws: padding, and at char level ``<unk>`` (not a character)."""
        return [PAD_INDEX] + ([self.vocab.stoi[UNK]] if self.hparams.level == "char" else [])

    def encode_prompt(self, prompt: str) -> List[int]:
        """A prompt -> ids, after the start token (a prompt begins a line). Char level: a character the
        training text never had is an error; word level: unknown words become ``<unk>`` (with a notice)."""
        if self.hparams.level == "char":
            missing = sorted({c for c in prompt if c not in self.vocab.stoi})
            if missing:
                raise ValueError(
                    f"prompt: character(s) {''.join(missing)!r} never occur in the training text, so the "
                    f"model cannot read them; use characters of its vocabulary: "
                    f"{''.join(sorted(t for t in self.vocab.itos if len(t) == 1))!r}"
                )
            return [self.start_index(), *self.vocab.encode(list(prompt))]
        words = prompt.split()
        unknown = [w for w in words if w not in self.vocab]  # a word spelt <eos> too
        if unknown:
            log(f"warning: prompt words not in the vocabulary, read as {UNK}: {' '.join(unknown)}")
        return [self.start_index(), *self.vocab.encode(words)]

    def prompt_text(self, prompt: str) -> str:
        """How the prompt is echoed before the generated text."""
        return prompt + " " if self.hparams.level == "word" and prompt.strip() else prompt

    def decode_ids(self, ids: List[int]) -> str:
        """Ids -> text: characters joined, or words joined by spaces with ``<eos>`` as a line end."""
        tokens = self.vocab.decode(ids)
        if self.hparams.level == "char":
            return "".join(tokens)
        return " ".join(tokens).replace(f" {EOS} ", "\n").replace(EOS, "\n")

    def stream_piece(self, index: int) -> str:
        """The text one generated id adds: a character, or a word and a space (a line end for ``<eos>``)."""
        token = self.vocab.itos[index]
        if self.hparams.level == "char":
            return token
        return "\n" if token == EOS else token + " "


class ConditionalLanguageModelCodec(ClassificationCodec):
    """One-to-many (``task=conditional_lm``): word-level sentences with a class each, read with the
    classification codec's settings and defaults (``ClassificationCodec``: builtin, files, format, split,
    tokenizer, min_freq, max_vocab_size, batch sizes; built-in sentiment sentences: 80/10/10 stratified, seed 13).
    Each sentence is its own sequence: ``<eos>`` then its words as inputs, its words then ``<eos>`` as targets, its
    class as the batch's ``condition``. The network gets ``num_conditions`` and ``carry_state=False``;
    ``condition=<label>`` picks the class to generate."""

    condition_shift = 0  # evaluate.py options.flip_condition=true: 1, each sentence is read under another class

    def set_evaluate_options(self, flip_condition: bool = False) -> None:
        """evaluate.py's ``options.flip_condition=true``: give every sentence the next class instead of its own
        (the other one of two), so the loss says how much the model relies on the class (true vs flipped)."""
        self.condition_shift = 1 if flip_condition else 0

    def build(self, train: List[LabelledText]) -> None:
        self.vocab = Vocabulary.build(
            (self.tokenizer(e.text) for e in train),
            min_freq=self.hparams.min_freq,
            max_size=self.hparams.max_vocab_size,
            specials=[EOS],
        )
        self.labels = Vocabulary(sorted({e.label for e in train}), unk=False, pad=False)
        log(f"{len(train)} training sentences, vocabulary {len(self.vocab)}, conditions {self.labels.itos}")

    def collate(self, examples: List[Example]) -> Batch:
        eos = self.vocab.index(EOS)
        inputs = [[eos, *e.ids] for e in examples]
        targets = [[*e.ids, eos] for e in examples]
        return Batch(
            tokens=pad(inputs),
            lengths=lengths_of(inputs),
            index=torch.tensor([e.index for e in examples]),
            labels=pad(targets, value=IGNORE_INDEX),
            condition=(torch.tensor([e.label for e in examples]) + self.condition_shift) % len(self.labels),
        )

    def network_kwargs(self) -> Dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "level": "word",
            "num_conditions": len(self.labels),
            "carry_state": False,
        }

    def set_predict_input(self, lines: List[Tuple[int, str]], source: str, **options: Any) -> List[LabelledText]:
        raise DataError(
            source,
            None,
            "a conditional language model generates text (scripts/generate.py ... condition=<label>); "
            "it does not predict labels",
        )

    # ---- generation: classes, text <-> ids -------------------------------------------------------
    def condition_names(self) -> List[str]:
        return list(self.labels.itos)

    def condition_name(self, index: int) -> str:
        return self.labels.itos[index]

    def condition_index(self, name: str) -> int:
        if name not in self.labels:
            raise ValueError(f"condition={name} is not a class of this model; choose one of {self.labels.itos}")
        return self.labels.index(name)

    def start_index(self) -> int:
        return self.vocab.index(EOS)

    def banned_indices(self) -> List[int]:
        return [PAD_INDEX]

    def encode_prompt(self, prompt: str) -> List[int]:
        """A prompt -> word ids after ``<eos>`` (a sentence start); unknown words become ``<unk>`` (with a notice)."""
        words = self.tokenizer(prompt) if prompt.strip() else []
        unknown = [w for w in words if w not in self.vocab]
        if unknown:
            log(f"warning: prompt words not in the vocabulary, read as <unk>: {' '.join(unknown)}")
        return [self.start_index(), *self.vocab.encode(words)]

    def prompt_text(self, prompt: str) -> str:
        return " ".join(self.tokenizer(prompt)) + " " if prompt.strip() else ""

    def decode_ids(self, ids: List[int]) -> str:
        return " ".join(self.vocab.decode(ids)).replace(f" {EOS} ", "\n").replace(EOS, "\n")

    def stream_piece(self, index: int) -> str:
        token = self.vocab.itos[index]
        return "\n" if token == EOS else token + " "
