"""Read a text file as numbered lines, turning every I/O or decoding problem into a DataError."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, List, Tuple, Union

from seqkit.data.errors import DataError


def resolve_path(path: Union[str, Path], root: Union[str, Path, None]) -> Path:
    """``path`` with ``~`` expanded; a relative one is taken under ``root`` when a root is given (``data.root``)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or root is None else Path(root).expanduser() / p


READ_ERRORS = (OSError, EOFError, zlib.error)  # EOFError, zlib.error: a truncated or damaged .gz


def open_binary(p: Path) -> BinaryIO:
    """The file's bytes (a ``.gz`` decompressed); a missing path or a directory is a DataError."""
    if not p.exists():
        raise DataError(p, None, "file not found")
    if p.is_dir():
        raise DataError(p, None, "is a directory, expected a file")
    return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")


def read_lines(path: Union[str, Path], *, allow_empty: bool = False) -> List[Tuple[int, str]]:
    """Return ``[(line_number, line), ...]`` (1-based, newline stripped) of a UTF-8 file (``.gz`` too).

    Splits on ``\\n`` only (some corpora hold U+0085 inside lines, which ``str.splitlines`` would break on)
    and strips one trailing ``\\r``. Raises DataError for a missing path, a directory, invalid UTF-8
    (naming the line) or, unless ``allow_empty``, a file with no non-blank line.
    """
    p = Path(path)
    try:
        with open_binary(p) as f:
            raw = f.read()
    except READ_ERRORS as e:
        raise DataError(p, None, f"cannot read: {e}") from None
    return decode_lines(raw, p, allow_empty=allow_empty)


def iter_lines(path: Union[str, Path], *, allow_empty: bool = False) -> Iterator[Tuple[int, str]]:
    """``read_lines`` one line at a time (a file larger than memory): the same lines, numbers and errors; the
    empty-file error comes at the end of the file."""
    p = Path(path)
    seen_text = False
    try:
        with open_binary(p) as f:
            for number, chunk in enumerate(f, start=1):  # binary lines end at b"\n" only
                text = decode_line(chunk[:-1] if chunk.endswith(b"\n") else chunk, number, p)
                seen_text = seen_text or bool(text.strip())
                yield number, text
    except READ_ERRORS as e:
        raise DataError(p, None, f"cannot read: {e}") from None
    if not allow_empty and not seen_text:
        raise DataError(p, None, "file is empty")


def decode_line(chunk: bytes, number: int, source: Union[str, Path]) -> str:
    """One line's UTF-8 bytes (no ``\\n``) -> its text: a BOM on line 1 and one trailing ``\\r`` dropped."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(source, number, f"invalid UTF-8 at byte {e.start} of the line") from None
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text[:-1] if text.endswith("\r") else text


def decode_lines(raw: bytes, source: Union[str, Path], *, allow_empty: bool = False) -> List[Tuple[int, str]]:
    """The numbered lines of UTF-8 bytes (a file's or standard input's), as ``read_lines`` returns them."""
    lines = [(number, decode_line(chunk, number, source)) for number, chunk in enumerate(raw.split(b"\n"), start=1)]
    if lines and lines[-1][1] == "":
        lines.pop()
    if not allow_empty and not any(t.strip() for _, t in lines):
        raise DataError(source, None, "file is empty")
    return lines


def iter_blocks(lines: Iterable[Tuple[int, str]]) -> Iterator[List[Tuple[int, str]]]:
    """Group numbered lines into blank-line separated blocks (CoNLL sentences)."""
    block: List[Tuple[int, str]] = []
    for number, text in lines:
        if text.strip():
            block.append((number, text))
        elif block:
            yield block
            block = []
    if block:
        yield block
