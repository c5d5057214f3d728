"""LightningDataModule for next-step prediction over one long text, batched for truncated BPTT.

How truncated backpropagation through time is laid out (as in char-rnn, PyTorch's word_language_model and
AWD-LSTM): the text is one token stream; it is cut into ``batch_size`` contiguous streams (row i of every
batch continues row i of the previous batch), and batches are the next ``bptt`` steps of all streams, in
order. The model carries its recurrent state from one batch to the next and detaches it, so outputs are
those of one pass over each whole stream while gradients flow at most ``bptt`` steps back.

Every token but the first is a target exactly once (the streams overlap by one token: the last target of
stream i is the first input of stream i+1), so the token-weighted validation loss is the per-token loss of
the whole text, whatever the batch size.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from seqkit.data.batch import IGNORE_INDEX, Batch, lengths_of, pad
from seqkit.data.builtin import builtin_files
from seqkit.data.datamodule import SeqkitDataModule, log
from seqkit.data.errors import DataError
from seqkit.data.language_model_text import EOS, LanguageModelText
from seqkit.data.textfile import read_lines
from seqkit.data.vocab import Vocabulary

LEVELS = ("char", "word")
LINE_END = "\n"  # word level: a line's end in a token stream, read as <eos> (text.split() never gives "\n")
# TBPTTChunks runs in the main process only (num_workers=0), so Lightning's caution about sharded workers does not apply
warnings.filterwarnings("ignore", message=".*IterableDataset.* has `__len__` defined.*")


from seqkit.tasks.language_model.tbptt import TBPTTChunks, jittered_lengths, split_streams  # noqa: E402,F401 (moved)


@dataclass
class ScoredLine:
    """One line to score with ``predict.py``: the context token, then the line's tokens as targets."""

    index: int
    text: str
    line: int
    inputs: List[int]
    targets: List[int]


class LanguageModelingDataModule(LanguageModelText, SeqkitDataModule):
    """A language model's text: one UTF-8 file per split, read as one token stream.

    level: "char" (every character, case and whitespace kept; decoding is a join) or "word" (whitespace
        split, ``<eos>`` at each line end, ``<unk>`` for words seen fewer than ``min_freq`` times or beyond
        ``max_vocab_size``). The vocabulary comes from the training text only.
    builtin: "tinyshakespeare" (used while ``train_path`` is null): first 90% of the text trains, last 10%
        validates. Without ``val_path`` the last ``val_fraction`` of the training text is held out (never shuffled).
    bptt: steps per batch (gradients reach at most this far back); bptt_jitter: AWD-LSTM variable lengths.
    batch_size: number of parallel streams in training; eval_batch_size: in validation and test.
    Prompts and generated text: ``LanguageModelText`` (shared with generation's LanguageModelReader).
    """

    vocabularies = ("vocab",)

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        builtin: Optional[str] = None,
        level: str = "char",
        bptt: int = 128,
        bptt_jitter: bool = False,
        val_fraction: float = 0.1,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        seed: int = 0,
        **loader_kwargs: Any,
    ):
        super().__init__(**loader_kwargs)
        if level not in LEVELS:
            raise ValueError(f"data.level must be one of {list(LEVELS)}, got {level!r}")
        if bptt <= 0:
            raise ValueError(f"data.bptt must be a positive number of steps, got {bptt}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
        self.save_hyperparameters()
        self._sources: Dict[str, str] = {}

    # ---- reading -------------------------------------------------------------------------------
    def tokenize_lines(self, lines: List[Tuple[int, str]]) -> List[str]:
        """Numbered lines -> tokens: characters (each line with its newline) or words, each line followed by
        ``LINE_END`` (``<eos>``'s place, which no word of the text can take: a word ``<eos>`` is a word)."""
        if self.hparams.level == "char":
            return [c for _, text in lines for c in text + "\n"]
        return [w for _, text in lines for w in [*text.split(), LINE_END]]

    def _read_splits(self) -> Dict[str, Tuple[List[str], str]]:
        hp = self.hparams
        splits: Dict[str, Tuple[List[str], str]] = {}
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
        self._sources = {name: source for name, (_, source) in splits.items()}
        return splits

    def build_vocabularies(self, splits: Dict[str, Tuple[List[str], str]]) -> None:
        train = splits["train"][0]
        specials = [EOS] if self.hparams.level == "word" else []
        words = train if self.hparams.level == "char" else (t for t in train if t != LINE_END)
        self.vocab = Vocabulary.build(
            [words], min_freq=self.hparams.min_freq, max_size=self.hparams.max_vocab_size, specials=specials
        )
        log(f"{len(train)} training {self.hparams.level}s, vocabulary {len(self.vocab)}")

    def encode(self, tokens: List[str], source: str) -> Tensor:
        """Tokens -> ids ``[N]``."""
        return torch.tensor(self.token_ids(tokens), dtype=torch.long)

    def token_ids(self, tokens: List[str]) -> List[int]:
        """Tokens (``tokenize_lines``) -> ids: text through the vocabulary, a word-level ``LINE_END`` as ``<eos>``."""
        ids = self.vocab.encode(tokens)
        if self.hparams.level == "char":
            return ids
        eos = self.vocab.index(EOS)
        return [eos if t == LINE_END else i for t, i in zip(tokens, ids)]

    def setup(self, stage: Optional[str] = None) -> None:
        super().setup(stage)
        for name in ("train", "val", "test"):
            if name in self.datasets:
                self._check_length(name)

    def _check_length(self, name: str) -> None:
        """Training needs one target per stream; validation and test at least one BPTT chunk."""
        n, hp = self.datasets[name].numel(), self.hparams
        if name == "train":
            needed, fix = self.batch_size + 1, "lower data.batch_size"
        else:
            needed, fix = max(hp.bptt, self.eval_batch_size) + 1, "lower data.bptt or data.eval_batch_size"
        if n < needed:
            raise DataError(
                self._sources.get(name),
                None,
                f"{name} text has {n} {hp.level}s, fewer than one BPTT chunk of every stream needs ({needed}); {fix}",
            )

    # ---- batching ------------------------------------------------------------------------------
    def stream_loader(self, name: str, train: bool) -> DataLoader:
        chunks = TBPTTChunks(
            self.datasets[name],
            self.batch_size if train else self.eval_batch_size,
            self.hparams.bptt,
            jitter=train and self.hparams.bptt_jitter,
            seed=self.hparams.seed,
            **(self.replicas() if train else {}),
        )  # each DDP rank trains on its own streams
        return DataLoader(chunks, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self.stream_loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.stream_loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.stream_loader("test", train=False)

    def model_kwargs(self) -> Dict[str, Any]:
        return {"vocab_size": len(self.vocab), "level": self.hparams.level}

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

    def format_predictions(self, records: List[ScoredLine], outputs: List[Dict[str, Tensor]]) -> List[Dict[str, Any]]:
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
