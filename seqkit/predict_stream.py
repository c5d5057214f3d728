"""Prediction over inputs of any size: read a chunk of lines, predict it, write it, flush, repeat.

Memory stays that of one chunk whatever the input's length; the output keeps the input's order; and when a line
is bad (invalid UTF-8, a CoNLL line with the wrong number of columns) everything before it is predicted and
written first, then the DataError names the line.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import sys
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch

from seqkit.data.errors import DataError
from seqkit.safe_files import Reads, atomic_open, check_not_read, reading

CHUNK_LINES = 8192  # lines read, predicted and written at a time
Lines = List[Tuple[int, str]]


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


def chunks(lines: Iterator[Tuple[int, str]], size: int, sentences: bool) -> Iterator[Lines]:
    """Consecutive runs of about ``size`` lines; with ``sentences`` (CoNLL input) cut only at blank lines, so no
    sentence is split. A DataError while reading first yields what came before the bad line (whole sentences)."""
    chunk: Lines = []
    try:
        for number, text in lines:
            chunk.append((number, text))
            if len(chunk) >= size and (not sentences or not text.strip()):
                yield chunk
                chunk = []
    except DataError as error:
        if sentences:
            chunk = _whole_sentences(chunk, None)
        if chunk:
            yield chunk
        raise error
    if chunk:
        yield chunk


def _whole_sentences(chunk: Lines, before: Optional[int]) -> Lines:
    """The lines of ``chunk`` before line ``before`` (all if None), cut back to the last blank line."""
    kept = [(n, t) for n, t in chunk if before is None or n < before]
    while kept and kept[-1][1].strip():
        kept.pop()
    return kept


def stream_predictions(model: Any, datamodule: Any, trainer: Any, source: str,
                       output: Optional[str], options: Dict[str, Any], chunk_lines: int = CHUNK_LINES,
                       reads: Reads = {}) -> int:
    """Predict every example of ``source`` (a file, ``.gz`` too, or ``-`` for standard input) into ``output`` (a
    file; None: standard output), one JSON object a line (or the data module's ``format_output``). -> examples.

    trainer: a Lightning Trainer runs ``model`` over ``datamodule.predict_dataloader()``; None (seqkit.light_predict,
    no Lightning) runs ``model.predict_step`` over ``datamodule.predict_batches()`` under ``torch.inference_mode``.
    reads: the other files the run read (``{"checkpoint": path}``), which neither the output nor a plot may be.
    The output file is written atomically (seqkit.safe_files): published whole at the end, or, when a bad input
    line stops prediction, with the predictions before it; a write error (a full disk) keeps the previous file."""
    fmt = options.get("input_format") or datamodule.hparams.get("format", "text")  # default: the training format
    sentences = fmt in ("conll", "conllu")
    formatter = getattr(datamodule, "format_output", None)
    if formatter is None or options.get("output_format", "json") == "json":
        formatter = _json_lines
    name = "<stdin>" if source == "-" else source
    reads = {"input": source, **reads}
    for path in (output, options.get("plot")):
        if path:
            check_not_read(path, reads)  # before anything is opened for writing
    count, any_text = 0, False
    with reading(reads), _open_input(source) as stream, _open_output(output) as out:
        for chunk in chunks(numbered_lines(stream, name), chunk_lines, sentences):
            if sentences and not any(text.strip() for _, text in chunk):
                continue  # blank lines only separate sentences
            any_text = any_text or any(text.strip() for _, text in chunk)
            try:
                count += _predict_chunk(model, datamodule, trainer, chunk, name, options, formatter, out)
            except DataError as error:  # a bad line inside the chunk: predict and write what precedes it, then stop
                if error.path == name and error.line is not None:
                    before = _whole_sentences(chunk, error.line) if sentences else [(n, t) for n, t in chunk if n < error.line]
                    if any(text.strip() for _, text in before):
                        _predict_chunk(model, datamodule, trainer, before, name, options, formatter, out)
                raise
    if count == 0 or not any_text:
        raise DataError(name, None, "no text to predict")
    return count


def _predict_chunk(model, datamodule, trainer: Any, chunk: Lines, source: str, options: Dict[str, Any],
                   formatter: Callable, out: IO[str]) -> int:
    records = datamodule.set_predict_input(chunk, source, **options)
    outputs: List[Optional[Dict[str, Any]]] = [None] * len(records)  # None: a blank line's record
    for batch in _run(model, datamodule, trainer) if datamodule.datasets["predict"] else []:
        columns = {k: v.unbind(0) if isinstance(v, torch.Tensor) else v for k, v in batch.items() if k != "index"}
        for row, index in enumerate(batch["index"].tolist()):  # unbind: every row's view in one call
            outputs[index] = {k: v[row] for k, v in columns.items()}
    rows = datamodule.format_predictions(records, outputs)
    for line in formatter(rows, options.get("output_format", "json")):
        out.write(line + "\n")
    out.flush()
    return len(rows)


def _run(model, datamodule, trainer: Any) -> Iterator[Dict[str, Any]]:
    """The model's predict_step outputs over the ``predict`` set, batch by batch."""
    if trainer is not None:
        yield from trainer.predict(model, dataloaders=datamodule.predict_dataloader())
        return
    with torch.inference_mode():
        for index, batch in enumerate(datamodule.predict_batches()):
            yield model.predict_step(batch, index)


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
