"""Readers for tagged sentences: CoNLL column files (CoNLL-2003, WNUT-17, ...) and CoNLL-U.

Both return :class:`TaggedSentence` objects that remember the line number of every token, so that
any later problem (an unknown tag, a bad scheme) can still be reported as ``file:line: reason``.
Every problem with the input raises :class:`~seqkit.data.errors.DataError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

from seqkit.data import tag_schemes as ts
from seqkit.data.errors import DataError
from seqkit.data.textfile import iter_blocks, iter_lines

PathLike = Union[str, Path]
# Split on ASCII spaces/tabs only: tokens in noisy corpora hold U+00A0, U+200B, U+FEFF, which are text.
_FIELD_SEP = re.compile(r"[ \t]+")
DOCSTART = "-DOCSTART-"
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
_CONLLU_ID = re.compile(r"^(?:[1-9][0-9]*|[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*)$")


@dataclass
class TaggedSentence:
    """One sentence: tokens, their tags (``[]`` for unlabelled input) and where each token was read."""

    tokens: List[str]
    tags: List[str]  # may be [] for unlabelled input
    line: int  # line number of the first token
    token_lines: List[int]  # line number of each token (for error messages)


def _resolve_column(column: int, n_columns: int, what: str, path: PathLike, line: int) -> int:
    if not isinstance(column, int) or isinstance(column, bool):
        raise TypeError(f"{what} must be an int, got {column!r}")
    if not -n_columns <= column < n_columns:
        raise DataError(path, line, f"{what} {column} is out of range: the file has {n_columns} column(s)")
    return column % n_columns


def read_conll(
    path: PathLike,
    *,
    token_column: int = 0,
    label_column: int = -1,
    scheme: str = "iob2",
    strict: bool = True,
    labelled: bool = True,
    log: Callable[[str], object] = print,
    lines: Optional[List[Tuple[int, str]]] = None,
) -> List[TaggedSentence]:
    """Read a whitespace-separated column file, one token per line, blank lines between sentences.

    Columns split on spaces/tabs; every token line must have as many columns as the first one.
    ``-DOCSTART-`` lines are document markers, not sentences. ``label_column`` counts from the end
    when negative. ``scheme``: ``"iob2"`` or ``"iobes"`` (the file may be IOB1, IOB2 or IOBES; it is
    detected over the whole file and converted, with one ``log`` message) or ``"none"`` (any tags,
    e.g. POS). ``strict``: an I- tag that starts an entity in a non-IOB1 file is an error (naming
    its line); otherwise it is repaired to B- and the number of repairs is logged.
    ``labelled=False`` reads prediction input: one or more columns, ``tags == []``.
    ``lines``: numbered lines already read (standard input, say); ``path`` then only names them in errors.
    """
    _check_scheme(scheme)
    sentences = list(
        iter_conll(path, token_column=token_column, label_column=label_column, labelled=labelled, lines=lines)
    )
    if not sentences:
        raise DataError(path, None, "no sentences (only -DOCSTART- lines)")
    if labelled and scheme != "none":
        normalise_scheme(sentences, scheme, strict=strict, path=path, log=log)
    return sentences


def _check_scheme(scheme: str) -> None:
    if scheme not in ("iob2", "iobes", "none"):
        raise ValueError(f"unknown tag scheme {scheme!r}; expected 'iob2', 'iobes' or 'none'")


def iter_conll(
    path: PathLike,
    *,
    token_column: int = 0,
    label_column: int = -1,
    labelled: bool = True,
    lines: Optional[Iterable[Tuple[int, str]]] = None,
) -> Iterator[TaggedSentence]:
    """The sentences of a CoNLL column file as written (tags not yet checked against a scheme), read lazily:
    ``read_conll``'s reading, one sentence at a time."""
    n_columns = None
    token_col = label_col = None
    for block in iter_blocks(iter_lines(path) if lines is None else lines):
        current: List[Tuple[int, List[str]]] = []
        for number, text in block + [(None, None)]:
            fields = None if text is None else _FIELD_SEP.split(text.strip(" \t"))
            if fields is None or fields[0] == DOCSTART:
                if current:
                    yield _make_sentence(current, token_col, label_col, labelled)
                current = []
                continue
            if n_columns is None:
                n_columns = len(fields)
                token_col = _resolve_column(token_column, n_columns, "token_column", path, number)
                if labelled:
                    label_col = _resolve_column(label_column, n_columns, "label_column", path, number)
                    if label_col == token_col:
                        raise DataError(
                            path,
                            number,
                            f"labelled data needs a token column and a separate label"
                            f" column, but both are column {token_col} of {n_columns}"
                            f" (set data.token_column=<column> and data.label_column=<another column>)",
                        )
            elif len(fields) != n_columns:
                raise DataError(
                    path,
                    number,
                    f"expected {n_columns} columns, found {len(fields)} (the first token line has {n_columns})",
                )
            current.append((number, fields))


def _make_sentence(rows, token_col, label_col, labelled) -> TaggedSentence:
    return TaggedSentence(
        tokens=[fields[token_col] for _, fields in rows],
        tags=[fields[label_col] for _, fields in rows] if labelled else [],
        line=rows[0][0],
        token_lines=[number for number, _ in rows],
    )


def _check_tag_forms(s: TaggedSentence, scheme: str, path) -> None:
    """Malformed tags first: they would make detection meaningless."""
    for tag, number in zip(s.tags, s.token_lines):
        if ts.parse_tag(tag) is None:
            raise DataError(
                path,
                number,
                f"tag {tag!r} is not O or B-/I-/E-/S- followed by a type"
                f" (scheme {scheme!r}; set data.scheme=none for POS or chunk tags)",
            )


def _convert(s: TaggedSentence, found: str, scheme: str, *, strict: bool, path) -> int:
    """Rewrite one sentence's tags (in ``found``, the file's scheme) into ``scheme``; return how many were repaired."""
    changed = 0
    if found != "iob1":  # IOB1 needs no check: every I-X/B-X sequence is valid IOB1
        if strict:
            ts.check_tags(s.tags, found, path=path, first_line_numbers=s.token_lines)
        else:
            s.tags, changed = ts.repair(s.tags, found)
    s.tags = ts.encode(ts.spans(s.tags), len(s.tags), scheme)
    return changed


def normalise_scheme(sentences: List[TaggedSentence], scheme: str, *, strict: bool, path, log) -> str:
    """Validate the tags of a whole file and rewrite them in place into ``scheme`` ("iob2"/"iobes") -> the scheme
    the file was written in (``tag_schemes.detect_scheme``)."""
    for s in sentences:
        _check_tag_forms(s, scheme, path)
    found = ts.detect_scheme(s.tags for s in sentences)
    repairs = sum(_convert(s, found, scheme, strict=strict, path=path) for s in sentences)
    if repairs:
        how = "an entity starting with I- became B-" if found == "iob2" else "entities re-encoded as B- I-* E- or S-"
        log(f"{path}: repaired {repairs} tag(s) that {found.upper()} forbids ({how})")
    if found != scheme:
        log(conversion_notice(path, found, scheme))
    return found


def conversion_notice(path, found: str, scheme: str) -> str:
    """The notice of a file whose tags, written in ``found``, are read in ``scheme``."""
    return (
        f"{path}: tags are {found.upper()}; converted to {scheme.upper()} (predictions come in {scheme.upper()}; "
        f"options.output_scheme=input writes them in {found.upper()})"
    )


def stream_conll(
    path: PathLike,
    *,
    scheme: str = "iob2",
    strict: bool = True,
    found: Optional[str] = None,
    **columns: Any,
) -> Iterator[TaggedSentence]:
    """``read_conll`` of a file larger than memory, one sentence at a time, tags in ``scheme``: ``found``, the
    file's own scheme, comes from ``detect_conll_scheme`` (a pass of its own over the file; the caller keeps it
    for the next epoch). A tag repaired without ``strict`` is not counted (``read_conll`` logs the count)."""
    _check_scheme(scheme)
    for s in iter_conll(path, **columns):
        if scheme != "none":
            _check_tag_forms(s, scheme, path)
            _convert(s, found or "iob2", scheme, strict=strict, path=path)
        yield s


def detect_conll_scheme(path: PathLike, scheme: str = "iob2", **columns: Any) -> str:
    """The scheme a CoNLL file's tags are written in (``tag_schemes.detect_scheme``), in one streamed pass that
    holds no sentence; DataError at a malformed tag, or when the file holds no sentence."""
    detector, any_sentence = ts.SchemeDetector(), False
    for s in iter_conll(path, **columns):
        any_sentence = True
        if scheme != "none":
            _check_tag_forms(s, scheme, path)
            detector.add(s.tags)
    if not any_sentence:
        raise DataError(path, None, "no sentences (only -DOCSTART- lines)")
    return detector.scheme


def read_conllu(
    path: PathLike,
    *,
    label_column: Union[str, int] = "upos",
    labelled: bool = True,
    lines: Optional[List[Tuple[int, str]]] = None,
) -> List[TaggedSentence]:
    """Read a CoNLL-U file (Universal Dependencies): word lines as tokens, a column as tags.

    Lines must have 10 tab-separated columns. ``#`` comments, multiword-token ranges (ID ``3-4``) and
    empty nodes (ID ``8.1``) are skipped, so tokens are the syntactic words. ``label_column``: a
    column name (``"upos"``, ``"xpos"``, ...; see CONLLU_COLUMNS) or a 0-based index. ``lines``: as
    in :func:`read_conll`.
    """
    return list(iter_conllu(path, label_col=conllu_column(label_column, path), labelled=labelled, lines=lines))


def conllu_column(label_column: Union[str, int], path: PathLike) -> int:
    """The 0-based column of a CoNLL-U column name (``"upos"``, ``"xpos"``, ...; see CONLLU_COLUMNS) or index."""
    if isinstance(label_column, str):
        if label_column.lower() not in CONLLU_COLUMNS:
            raise ValueError(f"unknown CoNLL-U column {label_column!r}; expected one of {', '.join(CONLLU_COLUMNS)}")
        return CONLLU_COLUMNS.index(label_column.lower())
    return _resolve_column(label_column, 10, "label_column", path, None)


def iter_conllu(
    path: PathLike, *, label_col: int, labelled: bool = True, lines: Optional[Iterable[Tuple[int, str]]] = None
) -> Iterator[TaggedSentence]:
    """``read_conllu``'s sentences one at a time, read lazily (``label_col``: the tags' 0-based column)."""
    for block in iter_blocks(iter_lines(path) if lines is None else lines):
        tokens, tags, numbers = [], [], []
        for number, text in block:
            if text.startswith("#"):
                continue
            fields = text.split("\t")
            if len(fields) != 10:
                raise DataError(path, number, f"expected 10 tab-separated columns, found {len(fields)}")
            word_id = fields[0]
            if not _CONLLU_ID.match(word_id):
                raise DataError(
                    path, number, f"bad ID {word_id!r}: expected N, N-M (multiword token) or N.M (empty node)"
                )
            if "-" in word_id or "." in word_id:
                continue
            tokens.append(fields[1])
            tags.append(fields[label_col])
            numbers.append(number)
        if not tokens:
            raise DataError(path, block[0][0], "sentence with no tokens (only comments, ranges or empty nodes)")
        yield TaggedSentence(tokens, tags if labelled else [], numbers[0], numbers)


READERS = {"conll": read_conll, "conllu": read_conllu}


def read_tagged(path: PathLike, format: str = "conll", **kw) -> List[TaggedSentence]:
    """Read tagged sentences in ``format`` ("conll" or "conllu"); ``kw`` go to that reader."""
    try:
        reader = READERS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(READERS)}") from None
    return reader(path, **kw)
