"""Prepared corpora: a language model's text file tokenised once into a flat file of ids that training memory-maps
(nanoGPT's ``train.bin``), so a corpus larger than memory trains with a memory footprint that does not grow with it.

A prepared file is a folder under ``data.prepare_dir``: ``ids.bin`` (the token ids, one after another, in the
smallest unsigned integer type that holds the vocabulary: uint8 up to 256 ids, uint16 up to 65,536, else uint32),
``vocab.json`` (the vocabulary the ids index) and ``meta.json`` (what was read: file, SHA-256, size, level, dtype,
number of tokens). Its name carries a key made of the file's content hash, its size, the tokenisation settings and
the vocabulary, so a changed file or setting is never silently reused; a folder appears whole or not at all
(written aside, then renamed). The vocabulary of a training file (``fit_vocabulary``) is cached the same way,
keyed on the file and ``level``, ``min_freq``, ``max_vocab_size`` and the fraction of the text it is learnt from.

The tokens are exactly those of the in-memory path (``LanguageModelCodec.tokenize_lines`` over ``read_lines``):
characters with each line's newline, or words with a line end (``<eos>``) after every line. The file is read in
pieces (``seqkit.data.textstream``), never whole: two passes to fit a vocabulary (counts, then ids), with a progress
bar in bytes per second on a terminal. Numpy only (no Lightning).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from seqkit.data.notice import log
from seqkit.data.textstream import PIECE_BYTES, content_hash, text_blocks
from seqkit.data.vocab import Vocabulary
from seqkit.tasks.language_model.tokens import EOS, LINE_END

FORMAT = 1  # the layout of a prepared folder; part of every key, so a new layout never reads an old one
AUTO_BYTES = 64 << 20  # data.prepare=auto: a training file of this many bytes or more is prepared
PREPARE_CHOICES = ("auto", True, False)
_CODEPOINTS = 0x110000  # every Unicode character: the char level's lookup table
_HASHES: Dict[Tuple[str, int, int], str] = {}  # (path, size, mtime) -> content hash, within one process


def default_dir() -> Path:
    """Where prepared corpora are kept when ``data.prepare_dir`` is null: ``$XDG_CACHE_HOME/seqkit/prepared``
    (``~/.cache/seqkit/prepared``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqkit" / "prepared"


def wanted(prepare: Union[str, bool], path: Path) -> bool:
    """Whether ``path`` is read through a prepared id file: ``data.prepare`` true, or auto and at least
    ``AUTO_BYTES`` long (a missing file: no, so the in-memory reader reports it)."""
    if prepare == "auto":
        return path.is_file() and path.stat().st_size >= AUTO_BYTES
    return bool(prepare)


def smallest_dtype(size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. size - 1``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise ValueError(f"a vocabulary of {size} tokens is too large for an id file")


def first_position(piece: np.ndarray, code: int) -> int:
    """Where ``code`` first occurs in ``piece`` (it does): searched in windows that double, since a text's
    characters mostly appear near its start."""
    start, width = 0, 4096
    while True:
        hits = np.flatnonzero(piece[start : start + width] == code)
        if hits.size:
            return start + int(hits[0])
        start, width = start + width, width * 2


def file_hash(path: Path) -> str:
    """The file's SHA-256 (streamed), computed once a process for an unchanged file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = content_hash(path)
    return _HASHES[key]


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([FORMAT, *parts], sort_keys=True).encode()).hexdigest()[:20]


def _publish(folder: Path, write) -> Path:
    """Write a folder aside (``write(tmp)``), then rename it into place: readers see all of it or none."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        os.replace(tmp, folder)
    except OSError:
        if not folder.is_dir():  # not another process's folder that got there first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


class PreparedCorpus:
    """Prepares a language model's text files at one ``level`` ("char" or "word") under ``folder``.

    Args:
        level: "char" (every character, each line with its newline) or "word" (whitespace split, a line end after
            every line, read as ``<eos>``).
        folder: where prepared files are kept (``data.prepare_dir``; None: ``default_dir()``).
        piece_bytes: bytes read at a time.
    """

    def __init__(self, level: str, folder: Union[str, Path, None] = None, piece_bytes: int = PIECE_BYTES):
        self.level = level
        self.folder = Path(folder).expanduser() if folder is not None else default_dir()
        self.piece_bytes = piece_bytes

    # ---- tokens ----------------------------------------------------------------------------------
    def _pieces(self, path: Path, what: str) -> Iterator[Union[np.ndarray, List[str]]]:
        """The file's tokens in pieces: code points (uint32) at char level, words and ``LINE_END`` at word level."""
        for text in text_blocks(path, what, self.piece_bytes):
            if self.level == "char":
                yield np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
                continue
            lines = text.split("\n")
            tokens: List[str] = []
            for line in lines[:-1]:
                tokens += line.split()
                tokens.append(LINE_END)
            tokens += lines[-1].split()  # a piece cut inside a very long line: its words so far
            yield tokens

    def count(self, path: Path, limit: Optional[int] = None) -> Tuple[Dict[str, int], int]:
        """-> (token counts in the order first seen, number of tokens) of the first ``limit`` tokens (all: None)."""
        seen, total = 0, 0
        codes = np.zeros(_CODEPOINTS, dtype=np.int64)
        order: List[int] = []
        words: Counter = Counter()
        for piece in self._pieces(path, "counting"):
            if limit is not None:
                piece = piece[: max(0, limit - seen)]
            seen += len(piece)
            if self.level == "char":
                counts = np.bincount(piece)
                new = np.flatnonzero((counts > 0) & (codes[: len(counts)] == 0))
                if new.size:  # first seen: in the order of their first position in the piece
                    firsts = [first_position(piece, c) for c in new.tolist()]
                    order += [int(c) for c in new[np.argsort(firsts, kind="stable")]]
                codes[: len(counts)] += counts
            else:
                words.update(t for t in piece if t != LINE_END)
            total = seen
            if limit is not None and seen >= limit:
                break
        if self.level == "char":
            return {chr(c): int(codes[c]) for c in order}, total
        return dict(words), total

    def fit_vocabulary(
        self, path: Path, *, min_freq: int = 1, max_size: Optional[int] = None, fraction: float = 1.0
    ) -> Tuple[Vocabulary, int]:
        """The vocabulary of the first ``fraction`` of the file's tokens (``LanguageModelCodec.build``'s rules),
        cached -> (vocabulary, number of tokens it was learnt from)."""
        path = Path(path)
        key = _key("vocab", file_hash(path), path.stat().st_size, self.level, min_freq, max_size, fraction)
        cached = self.folder / f"{path.name}.vocab.{key}.json"
        if cached.is_file():
            record = json.loads(cached.read_text(encoding="utf-8"))
            return Vocabulary.from_dict(record["vocab"]), record["tokens"]
        counts, total = self.count(path)
        if fraction < 1:
            counts, total = self.count(path, limit=int(total * fraction))
        specials = [EOS] if self.level == "word" else []
        vocab = Vocabulary.from_counts(counts, min_freq=min_freq, max_size=max_size, specials=specials)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"vocab": vocab.to_dict(), "tokens": total}), encoding="utf-8")
        os.replace(tmp, cached)
        return vocab, total

    # ---- ids -------------------------------------------------------------------------------------
    def location(self, path: Path, vocab: Vocabulary) -> Path:
        """The folder of ``path``'s ids under ``vocab`` (it need not exist yet)."""
        path = Path(path)
        vocab_key = _key(vocab.to_dict())
        key = _key("ids", file_hash(path), path.stat().st_size, self.level, vocab_key)
        return self.folder / f"{path.name}.{self.level}.{key}"

    def record(self, path: Union[str, Path], vocab: Vocabulary) -> Dict[str, object]:
        """A prepared file's ``meta.json`` and its ``folder`` (prepared first if it is not)."""
        self.ids(path, vocab)
        folder = self.location(Path(path), vocab)
        return {**json.loads((folder / "meta.json").read_text(encoding="utf-8")), "folder": str(folder)}

    def ids(self, path: Union[str, Path], vocab: Vocabulary) -> np.ndarray:
        """``path``'s token ids under ``vocab``, memory-mapped read-only (prepared on first use, with a notice)."""
        path = Path(path)
        folder = self.location(path, vocab)
        if not folder.is_dir():
            _publish(folder, lambda tmp: self._write(path, vocab, tmp))
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["tokens"] == 0:
            return np.zeros(0, dtype=meta["dtype"])
        return np.memmap(folder / "ids.bin", dtype=meta["dtype"], mode="r", shape=(meta["tokens"],))

    def _write(self, path: Path, vocab: Vocabulary, folder: Path) -> None:
        log(f"preparing {path} ({self.level} level) in {self.folder}: once for this file and these settings")
        start, dtype, tokens = time.perf_counter(), smallest_dtype(len(vocab)), 0
        unk, lookup = vocab.stoi.get("<unk>", 0), vocab.text_stoi
        if self.level == "char":
            table = np.full(_CODEPOINTS, unk, dtype=dtype)
            for token, index in lookup.items():
                if len(token) == 1:
                    table[ord(token)] = index
        eos = vocab.index(EOS) if self.level == "word" else unk
        with open(folder / "ids.bin", "wb") as out:
            for piece in self._pieces(path, "preparing"):
                if self.level == "char":
                    ids = table[piece]
                else:
                    get = lookup.get
                    ids = np.array([eos if t == LINE_END else get(t, unk) for t in piece], dtype=dtype)
                out.write(ids.tobytes())
                tokens += len(ids)
        size = path.stat().st_size
        (folder / "vocab.json").write_text(json.dumps(vocab.to_dict()), encoding="utf-8")
        meta = {
            "source": str(path.resolve()),
            "sha256": file_hash(path),
            "bytes": size,
            "level": self.level,
            "dtype": dtype.name,
            "tokens": tokens,
            "format": FORMAT,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        seconds = time.perf_counter() - start
        log(f"prepared {tokens} {self.level}s ({dtype.name}) in {seconds:.2f} s, {size / 1e6 / seconds:.1f} MB/s")
