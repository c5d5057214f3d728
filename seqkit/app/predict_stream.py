"""Prediction over inputs of any size: read a chunk of lines, predict it, write it, flush, repeat.

Memory stays that of one chunk whatever the input's length: a chunk holds at most about CHUNK_LINES lines and
CHUNK_TOKENS tokens, and no sentence (a CoNLL sentence, else a line) is longer than ``options.max_length``
tokens: a longer one is refused, or with ``options.too_long=split`` (taggers) tagged in pieces and written as one
record. Tokens: a CoNLL sentence's non-blank lines, a line's words separated by spaces or tabs. The output keeps
the input's order; and when a line is bad (invalid UTF-8, a CoNLL line with the wrong number of columns, a
sentence refused) everything before it is predicted and written first, then the DataError names the line.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import sys
import zlib
from bisect import bisect_right
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch

from seqkit.data.errors import DataError
from seqkit.safe_files import Reads, atomic_open, check_not_read, reading

CHUNK_LINES = 8192  # lines read, predicted and written at a time (CoNLL: up to the next sentence end)
CHUNK_TOKENS = 65536  # and at most this many tokens (or options.max_length, if more)
MAX_LENGTH = 1000  # options.max_length: the most tokens of one sentence or text
TOO_LONG = ("refuse", "split")  # options.too_long: what a longer one gets
Lines = List[Tuple[int, str]]
Row = Dict[str, Any]
Pending = Optional[Tuple[int, List[Row]]]  # a split sentence the next chunk goes on with: (key, rows so far)
_WORDS = re.compile(r"[ \t]+")  # a line's tokens as the CoNLL reader and a tagger's text input split them


def numbered_lines(stream: IO[bytes], source: str) -> Iterator[Tuple[int, str]]:
    """``(line number, text)`` of a binary stream, one line at a time, as seqkit.data.textfile.read_lines numbers
    and cleans them (split on ``\\n`` only, one trailing ``\\r`` and a leading BOM removed)."""
    number = 0
    try:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(source, number, f"invalid UTF-8 at byte {e.start} of the line") from None
            if text.endswith("\n"):
                text = text[:-1]
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text[:-1] if text.endswith("\r") else text
    except (OSError, EOFError, zlib.error) as e:  # a damaged .gz, a read error
        raise DataError(source, number + 1, f"cannot read: {e}") from None


class Limit(NamedTuple):
    """``options.max_length`` and ``options.too_long``: the most tokens of a sentence, and whether a longer one is
    split into pieces of that many (else refused)."""

    max_length: int = MAX_LENGTH
    split: bool = False
    source: str = "<input>"
    what: str = "sentence"  # how an error names a record
    hint: str = "raise it, or options.too_long=split"

    def refuse(self, line: int, tokens: int) -> DataError:
        return DataError(
            self.source,
            line,
            f"{self.what} of {tokens} tokens is longer than options.max_length={self.max_length} ({self.hint})",
        )


class _Cut(str):
    """The blank line added after each piece of a CoNLL sentence split by ``too_long=split``: a sentence end to
    the reader, not to ``_whole_sentences``."""


class _Record(NamedTuple):
    lines: Lines  # a sentence (with the blank line that ends it), a line, or a piece of a split one
    tokens: int
    key: Optional[int] = None  # the pieces of a split sentence: its first line
    last: bool = True  # the last piece (a whole record: True)


class Chunk(list):
    """Numbered lines predicted together. ``split``: ``(first line, last line, key)`` of the lines of each split
    sentence here; ``continued``: the key of the split sentence the next chunk goes on with, else None."""

    def __init__(self, lines: Lines = ()):
        super().__init__(lines)
        self.tokens = 0
        self.split: List[Tuple[int, int, int]] = []
        self.continued: Optional[int] = None

    def add(self, record: _Record) -> None:
        self.extend(record.lines)
        self.tokens += record.tokens
        if record.key is not None:
            first = self.split.pop()[0] if self.split and self.split[-1][2] == record.key else record.lines[0][0]
            self.split.append((first, record.lines[-1][0], record.key))
        self.continued = None if record.last else record.key


def chunks(
    lines: Iterator[Tuple[int, str]], size: int, sentences: bool, limit: Limit = Limit(), budget: int = CHUNK_TOKENS
) -> Iterator[Chunk]:
    """Consecutive runs of whole records (CoNLL sentences with ``sentences``, else lines) of about ``size`` lines
    (a CoNLL chunk ends at the next sentence end) and never more than ``budget`` tokens (``limit.max_length`` if
    more); a record longer than ``limit.max_length`` is split into pieces (``limit.split``) or refused. A DataError
    (reading, a refusal) first yields the whole records before the bad line."""
    budget, chunk = max(budget, limit.max_length), Chunk()
    try:
        for record in (_sentence_records if sentences else _line_records)(iter(lines), limit):
            if chunk and chunk.tokens + record.tokens > budget:
                yield chunk
                chunk = Chunk()
            chunk.add(record)
            if len(chunk) >= size and chunk.continued is None:
                yield chunk
                chunk = Chunk()
    except DataError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _line_records(lines: Iterator[Tuple[int, str]], limit: Limit) -> Iterator[_Record]:
    """A record a line; a line of more than ``limit.max_length`` tokens split into pieces of that many (joined by
    one space, the same line number) or refused."""
    most = limit.max_length
    for number, text in lines:
        tokens = len(text.split())  # at least the count of _WORDS' tokens, and quicker
        if tokens > most:
            words = _WORDS.split(text.strip(" \t"))
            tokens = len(words)
        if tokens <= most:
            yield _Record([(number, text)], tokens)
        elif not limit.split:
            raise limit.refuse(number, tokens)
        else:
            for start in range(0, tokens, most):
                piece = words[start : start + most]
                yield _Record([(number, " ".join(piece))], len(piece), number, start + most >= tokens)


def _sentence_records(lines: Iterator[Tuple[int, str]], limit: Limit) -> Iterator[_Record]:
    """A record a CoNLL sentence with the blank line after it (a blank line alone: a record of no tokens); a
    sentence of more than ``limit.max_length`` token lines split into pieces of that many or refused, holding
    no more than one piece at a time."""
    sentence: Lines = []
    key: Optional[int] = None
    for number, text in lines:
        if not text.strip():
            yield _Record(sentence + [(number, text)], len(sentence), key)
            sentence, key = [], None
            continue
        if len(sentence) == limit.max_length:
            if not limit.split:
                raise limit.refuse(sentence[0][0], len(sentence) + 1 + _count_tokens(lines))
            key = sentence[0][0] if key is None else key
            yield _Record(sentence + [(sentence[-1][0], _Cut())], len(sentence), key, last=False)
            sentence = []
        sentence.append((number, text))
    if sentence:
        yield _Record(sentence, len(sentence), key)


def _count_tokens(lines: Iterator[Tuple[int, str]]) -> int:
    """The token lines up to the end of the sentence, read and let go."""
    count = 0
    for _, text in lines:
        if not text.strip():
            break
        count += 1
    return count


def _whole_sentences(chunk: Lines, before: Optional[int]) -> Lines:
    """The lines of ``chunk`` before line ``before`` (all if None), cut back to the last blank line (a blank
    line between the pieces of a split sentence is not its end)."""
    kept = [(n, t) for n, t in chunk if before is None or n < before]
    while kept and (kept[-1][1].strip() or isinstance(kept[-1][1], _Cut)):
        kept.pop()
    return kept


def _records_before(chunk: Chunk, line: int, sentences: bool) -> Chunk:
    """The records of ``chunk`` before line ``line`` (CoNLL: whole sentences), with its split sentences."""
    before = Chunk(_whole_sentences(chunk, line) if sentences else [(n, t) for n, t in chunk if n < line])
    before.split = chunk.split
    return before


def _limit(options: Dict[str, Any], codec: Any, source: str) -> Limit:
    """``options.max_length`` and ``options.too_long``, taken out of ``options`` and checked. Only a data module
    that joins the predictions of pieces (``join_pieces``: taggers) splits; other models answer a text whole."""
    most = options.pop("max_length", None)
    most = MAX_LENGTH if most is None else most
    too_long = options.pop("too_long", None) or "refuse"
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        raise ValueError(f"options.max_length must be a positive number of tokens, got {most!r}")
    if too_long not in TOO_LONG:
        raise ValueError(f"options.too_long must be one of {list(TOO_LONG)}, got {too_long!r}")
    if not hasattr(codec, "join_pieces"):
        if too_long == "split":
            raise ValueError(
                f"options.too_long=split is for taggers: a {type(codec).__name__} answers a text "
                "whole; raise options.max_length instead"
            )
        return Limit(most, False, source, "text", "raise it")
    return Limit(most, too_long == "split", source)


def stream_predictions(
    network: Any,
    codec: Any,
    source: str,
    output: Optional[str],
    options: Dict[str, Any],
    chunk_lines: int = CHUNK_LINES,
    chunk_tokens: int = CHUNK_TOKENS,
    reads: Reads = {},
) -> int:
    """Predict every example of ``source`` (a file, ``.gz`` too, or ``-`` for standard input) into ``output`` (a
    file; None: standard output), one JSON object a line (or the codec's ``format_output``). -> examples.

    network: a shape's network (``predict(batch)``), run over ``codec.predict_batches()`` under
    ``torch.inference_mode``; codec: its reading and writing (``set_predict_input``, ``format_output``).
    options: the data module's, and ``max_length`` / ``too_long`` (see ``Limit``).
    reads: the other files the run read (``{"checkpoint": path}``), which neither the output nor a plot may be.
    The output file is written atomically (seqkit.safe_files): published whole at the end, or, when a bad input
    line stops prediction, with the predictions before it; a write error (a full disk) keeps the previous file."""
    options = dict(options)
    fmt = options.get("input_format") or codec.hparams.get("format", "text")  # default: the training format
    sentences = fmt in ("conll", "conllu")
    output_format = options.get("output_format", "json")
    formatter = getattr(codec, "format_output", None)
    if formatter is None or output_format == "json":
        formatter = _json_lines
    name = "<stdin>" if source == "-" else source
    reads = {"input": source, **reads}
    for path in (output, options.get("plot")):
        if path:
            check_not_read(path, reads)  # before anything is opened for writing
    limit = _limit(options, codec, name)
    count, any_text, pending = 0, False, None
    with reading(reads), _open_input(source) as stream, _open_output(output) as out:
        for chunk in chunks(numbered_lines(stream, name), chunk_lines, sentences, limit, chunk_tokens):
            if sentences and not any(text.strip() for _, text in chunk):
                continue  # blank lines only separate sentences
            any_text = any_text or any(text.strip() for _, text in chunk)
            try:
                rows, pending = _predict_chunk(network, codec, chunk, name, options, pending)
            except DataError as error:  # a bad line inside the chunk: predict and write what precedes it, then stop
                if error.path == name and error.line is not None:
                    before = _records_before(chunk, error.line, sentences)
                    if any(text.strip() for _, text in before):
                        rows = _predict_chunk(network, codec, before, name, options, pending)[0]
                        _write(rows, formatter, output_format, out)
                raise
            count += _write(rows, formatter, output_format, out)
    if count == 0 or not any_text:
        raise DataError(name, None, "no text to predict")
    return count


def predict_lines(network: Any, codec: Any, lines: Lines, source: str, options: Dict[str, Any]) -> List[Row]:
    """Numbered lines held in memory (a server's requests) -> their rows, exactly as ``stream_predictions`` writes
    them for a file of those lines: the same chunks, limit, batches and formatting. A DataError names the line."""
    options = dict(options)
    limit = _limit(options, codec, source)
    sentences = (options.get("input_format") or codec.hparams.get("format", "text")) in ("conll", "conllu")
    rows: List[Row] = []
    pending: Pending = None
    for chunk in chunks(iter(lines), CHUNK_LINES, sentences, limit):
        got, pending = _predict_chunk(network, codec, chunk, source, options, pending)
        rows += got
    return rows


def _predict_chunk(
    network, codec, chunk: Chunk, source: str, options: Dict[str, Any], pending: Pending
) -> Tuple[List[Row], Pending]:
    """The rows of a chunk's records, a split sentence's pieces joined (``pending``: one begun before)."""
    records = codec.set_predict_input(chunk, source, **options)
    outputs: List[Optional[Dict[str, Any]]] = [None] * len(records)  # None: a blank line's record
    for batch in _run(network, codec) if codec.datasets["predict"] else []:
        columns = {k: v.unbind(0) if isinstance(v, torch.Tensor) else v for k, v in batch.items() if k != "index"}
        for row, index in enumerate(batch["index"].tolist()):  # unbind: every row's view in one call
            outputs[index] = {k: v[row] for k, v in columns.items()}
    rows = codec.format_predictions(records, outputs)
    return _join_pieces(codec, chunk, records, rows, pending) if chunk.split or pending else (rows, None)


def _join_pieces(
    codec, chunk: Chunk, records: List[Any], rows: List[Row], pending: Pending
) -> Tuple[List[Row], Pending]:
    """``rows`` with the pieces of each split sentence joined into its row (``codec.join_pieces``), except
    the one the next chunk goes on with: held as pending."""
    starts = [first for first, _, _ in chunk.split]
    key, parts = pending or (None, [])
    joined: List[Row] = []
    for record, row in zip(records, rows):
        i = bisect_right(starts, record.line) - 1
        of = chunk.split[i][2] if i >= 0 and record.line <= chunk.split[i][1] else None  # the split sentence
        if parts and of != key:
            joined.append(codec.join_pieces(parts))
            parts = []
        if of is None:
            joined.append(row)
        else:
            key = of
            parts.append(row)
    if parts and key == chunk.continued:
        return joined, (key, parts)
    return joined + ([codec.join_pieces(parts)] if parts else []), None


def _write(rows: List[Row], formatter: Callable, output_format: str, out: IO[str]) -> int:
    for line in formatter(rows, output_format):
        out.write(line + "\n")
    out.flush()
    return len(rows)


def _run(network, codec) -> Iterator[Dict[str, Any]]:
    """The network's predictions over the codec's ``predict`` set, batch by batch."""
    network.eval()
    with torch.inference_mode():
        for batch in codec.predict_batches():
            yield network.predict(batch)


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(r, ensure_ascii=False) builds one of these a call


def _json_lines(rows: List[Dict[str, Any]], output_format: str) -> Iterator[str]:
    return map(_JSON.encode, rows)


@contextlib.contextmanager
def _open_input(source: str) -> Iterator[IO[bytes]]:
    if source == "-":
        yield sys.stdin.buffer
        return
    path = Path(source)
    if not path.exists():
        raise DataError(path, None, "file not found")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a file")
    try:
        stream = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as e:
        raise DataError(path, None, f"cannot read: {e.strerror or e}") from None
    with stream:
        yield stream


@contextlib.contextmanager
def _open_output(output: Optional[str]) -> Iterator[IO[str]]:
    """Standard output, streamed; or the file, written atomically: on a DataError (a bad input line) what was
    written before it is published, on any other exception the previous file stays."""
    if not output:
        yield sys.stdout
        return
    with atomic_open(output, keep_on=(DataError,)) as stream:
        yield stream
