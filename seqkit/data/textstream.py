"""A text file read as a stream of decoded pieces, never whole in memory: what ``read_lines`` gives, in blocks.

``text_blocks`` yields the file's text in pieces of about ``piece_bytes`` that end at a line end (so a multi-byte
UTF-8 character, a ``\\r\\n`` or a word is never cut; a line longer than a piece is cut after a space or a tab), with
exactly ``read_lines``' reading: lines split on ``\\n`` only, one trailing ``\\r`` of each line dropped, a leading
byte-order mark dropped, a last line without its newline given one; invalid UTF-8 and an empty file are a
``DataError`` naming the file and the line. ``content_hash`` is the streamed SHA-256 of the file's bytes. Both show a
tqdm progress bar in bytes per second on a terminal (stderr).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Iterator, Union

from seqkit.data.errors import DataError
from seqkit.data.textfile import READ_ERRORS, open_binary

PIECE_BYTES = 4 << 20  # bytes read at a time (a piece is cut at its last line end)
_CUTS = (b"\n", b" ", b"\t")  # where a piece may end: a line end, else (a very long line) a space or a tab


def _progress(path: Path, what: str):
    from tqdm import tqdm

    return tqdm(
        total=path.stat().st_size if path.suffix != ".gz" else None,
        desc=f"{what} {path.name}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None,  # on a terminal only
        leave=False,
    )


def raw_pieces(path: Union[str, Path], what: str = "reading", piece_bytes: int = PIECE_BYTES) -> Iterator[bytes]:
    """The file's bytes (decompressed ``.gz``) in pieces of ``piece_bytes``, with a progress bar; I/O errors are
    a DataError."""
    path = Path(path)
    with open_binary(path) as f, _progress(path, what) as bar:
        while True:
            try:
                piece = f.read(piece_bytes)
            except READ_ERRORS as e:
                raise DataError(path, None, f"cannot read: {e}") from None
            if not piece:
                return
            bar.update(len(piece))
            yield piece


def content_hash(path: Union[str, Path], piece_bytes: int = PIECE_BYTES) -> str:
    """The SHA-256 of the file's bytes, streamed."""
    digest = hashlib.sha256()
    for piece in raw_pieces(path, "hashing", piece_bytes):
        digest.update(piece)
    return digest.hexdigest()


def _cut(data: bytes) -> int:
    """Where the complete part of ``data`` ends: after its last line end, else its last space or tab, else 0."""
    for mark in _CUTS:
        at = data.rfind(mark)
        if at >= 0:
            return at + 1
    return 0


def text_blocks(path: Union[str, Path], what: str = "reading", piece_bytes: int = PIECE_BYTES) -> Iterator[str]:
    """The file's text in blocks, each ending at a line end (or after a space or tab of a very long line); joined,
    they are ``"".join(line + "\\n" for _, line in read_lines(path))``."""
    path = Path(path)
    rest, line, column, first, any_text = b"", 1, 0, True, False
    for piece in raw_pieces(path, what, piece_bytes):
        data = rest + piece
        end = _cut(data)
        if end == 0:
            rest = data
            continue
        block, rest = data[:end], data[end:]
        text = _decode(block, path, line, column)
        line += block.count(b"\n")
        column = 0 if block.endswith(b"\n") else column + len(block) - (block.rfind(b"\n") + 1)
        if first and text.startswith("\ufeff"):
            text = text[1:]
        first = False
        any_text = any_text or not text.isspace()
        yield text.replace("\r\n", "\n")
    if rest:
        text = _decode(rest, path, line, column)
        if first and text.startswith("\ufeff"):
            text = text[1:]
        text = text[:-1] if text.endswith("\r") else text
        any_text = any_text or (bool(text) and not text.isspace())
        if text:
            yield text.replace("\r\n", "\n") + "\n"
    if not any_text:
        raise DataError(path, None, "file is empty")


def _decode(block: bytes, path: Path, line: int, column: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as e:
        before = block[: e.start]
        number = line + before.count(b"\n")
        start = before.rfind(b"\n") + 1
        at = e.start - start + (column if start == 0 else 0)
        raise DataError(path, number, f"invalid UTF-8 at byte {at} of the line") from None
