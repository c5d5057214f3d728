"""Readers of files with named columns: CSV, TSV and JSON lines, through the standard library's ``csv`` and ``json``.

Each reader is a generator over numbered lines (``(line number, text)``, as ``seqkit.data.textfile.read_lines``
gives them, or a stream's) that yields one example at a time as ``(line number, {role: value})``, where a role is
what a shape needs of a row ("text" and "label", "source" and "target") and its column is chosen by name or index.

Formats (``data.format``):
  - ``csv``: comma-separated, RFC 4180 quoting (``"a, b"``; ``""`` is one quote; a quoted field may hold a tab or
    a line break); a stray quote is an error, never a silently changed text.
  - ``tsv``: tab-separated, no quoting (the IANA rule: a quote is text; a field holds no tab).
  - ``jsonl``: one JSON object a line; columns are its keys (text or whole numbers).
``header``: ``auto`` (line 1 is a header when it holds the name of every column chosen by name, defaults
included), ``true`` or ``false``. Blank lines carry no example. Every problem is a DataError naming the line.
"""

from __future__ import annotations

import csv
import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from seqkit.data.errors import DataError

FORMATS = ("csv", "tsv", "jsonl")
HEADER = ("auto", True, False)
Column = Union[str, int]
Row = Tuple[int, Dict[str, str]]  # (line number, {role: value})


def _csv_rows(lines: Iterable[Tuple[int, str]], fmt: str, source: Any) -> Iterator[Tuple[int, List[str]]]:
    """(first line number, fields) of each CSV/TSV record (a blank line: no fields); a quoted field may span
    lines."""
    numbers: List[int] = []

    def texts() -> Iterator[str]:
        for number, text in lines:
            numbers.append(number)
            yield text + "\n"

    options = dict(delimiter=",", strict=True) if fmt == "csv" else dict(delimiter="\t", quoting=csv.QUOTE_NONE)
    reader = csv.reader(texts(), **options)
    while True:
        seen = len(numbers)
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            line = numbers[-1] if numbers else None
            raise DataError(
                source, line, f"not valid CSV ({e}): quote a field holding a comma, a quote or a line break"
            ) from None
        yield numbers[seen], fields if any(f.strip() for f in fields) else []


def _json_rows(lines: Iterable[Tuple[int, str]], source: Any) -> Iterator[Tuple[int, Optional[Dict[str, Any]]]]:
    """(line number, object) of each JSON line (a blank line: None)."""
    for number, text in lines:
        if not text.strip():
            yield number, None
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(
                source, number, f"not valid JSON ({e.msg} at column {e.colno}): one object a line"
            ) from None
        if not isinstance(value, dict):
            raise DataError(source, number, f'a JSON {type(value).__name__}, expected an object ({{"text": ...}})')
        yield number, value


def _value(value: Any, role: str, column: Column, source: Any, line: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(source, line, f"{role} column {column!r} holds {json.dumps(value)[:30]}, expected text")
    text = str(value).strip()
    if not text:
        raise DataError(source, line, f"empty {role} (column {column!r})")
    return text


def read_columns(
    lines: Iterable[Tuple[int, str]],
    fmt: str,
    columns: Mapping[str, Optional[Column]],
    defaults: Mapping[str, Tuple[str, int]],
    header: Union[str, bool] = "auto",
    source: Any = None,
    blanks: bool = False,
) -> Iterator[Row]:
    """Yield ``(line number, {role: value})`` for each example of ``lines``, one at a time.

    columns: role -> the column chosen (a name, or an index, negative from the end); None takes the role's
    ``defaults`` entry (its name in JSON lines or a header that has it, else its index). header: see the module docstring.
    source: the file named in errors. blanks: a blank line yields ``(line number, {})`` (prediction: an output
    line for each input line) instead of nothing. Values are stripped; an empty one, a missing column, a record with another
    number of fields than line 1's (an unquoted comma in a CSV text) are DataErrors at their line.
    """
    if fmt not in FORMATS:
        raise ValueError(f"data.format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if header not in HEADER:
        raise ValueError(f"data.header must be auto, true or false, got {header!r}")
    chosen = {role: (defaults[role][0] if c is None else c) for role, c in columns.items()}
    if fmt == "jsonl":
        for role, c in columns.items():
            if isinstance(c, int):
                raise ValueError(
                    f"data.{role}_column={c}: JSON lines name their columns (data.{role}_column={defaults[role][0]})"
                )
        for number, obj in _json_rows(lines, source):
            if obj is None:
                if blanks:
                    yield number, {}
                continue
            row = {}
            for role, key in chosen.items():
                if key not in obj:
                    raise DataError(
                        source,
                        number,
                        f"no key {key!r} (keys: {list(obj)[:10]}): set data.{role}_column to one of them",
                    )
                row[role] = _value(obj[key], role, key, source, number)
            yield number, row
        return
    positions: Optional[Dict[str, int]] = None
    width = 0
    for number, fields in _csv_rows(lines, fmt, source):
        if not fields:
            if blanks:
                yield number, {}
            continue
        if positions is None:  # the first record: a header, or the first example
            width = len(fields)
            names = [f.strip() for f in fields]
            named = {role: c for role, c in chosen.items() if isinstance(c, str)}
            is_header = header is True or (header == "auto" and bool(named) and all(c in names for c in named.values()))
            positions = _positions(
                columns, chosen, defaults, names if is_header else None, width, header, source, number
            )
            if is_header:
                continue
        if len(fields) != width:
            raise DataError(
                source,
                number,
                f"{len(fields)} fields, but line 1 has {width}"
                + (
                    ': quote a text that holds a comma ("a, b")'
                    if fmt == "csv"
                    else ": a text may not hold a tab in TSV (use data.format=csv)"
                ),
            )
        yield number, {role: _value(fields[k], role, chosen[role], source, number) for role, k in positions.items()}


def _positions(
    columns: Mapping[str, Optional[Column]],
    chosen: Mapping[str, Column],
    defaults: Mapping[str, Tuple[str, int]],
    names: Optional[List[str]],
    width: int,
    header: Union[str, bool],
    source: Any,
    line: int,
) -> Dict[str, int]:
    """role -> field index, from the header's ``names`` (None: no header) and the chosen columns."""
    out = {}
    for role, c in chosen.items():
        if names is None and isinstance(c, str):
            if columns[role] is None:  # a default name with no header: the default index
                c = defaults[role][1]
            else:
                why = "data.header=false" if header is False else f"line {line} is no header holding it"
                raise DataError(
                    source,
                    line,
                    f"data.{role}_column={c} names a column, but {why}: set data.header=true or give an index",
                )
        if isinstance(c, str) and columns[role] is None and c not in names:
            c = defaults[role][1]  # a header without the default name: the default index
        if isinstance(c, str):
            if c not in names:
                raise DataError(
                    source,
                    line,
                    f"the header has no column {c!r} (it has {names}): set data.{role}_column to one of them or an index",
                )
            out[role] = names.index(c)
        elif -width <= c < width:
            out[role] = c % width
        else:
            raise DataError(source, line, f"data.{role}_column={c}, but a record has {width} fields")
    return out


def check_header_like(first: Tuple[int, str], counts: Mapping[str, int], header: Union[str, bool], source: Any) -> None:
    """In a read without a header (``header`` auto), a first example (``first``: its line and label) whose label no
    other example has, while every other label occurs twice or more (``counts``: label -> examples, the first's
    included), is a header read as data: a DataError that says what to set. Counts, not lines, so that a streamed
    file is checked at its end without being held in memory."""
    line, label = first
    if header != "auto" or sum(counts.values()) < 3:
        return
    if counts[label] == 1 and all(n >= 2 for other, n in counts.items() if other != label):
        raise DataError(
            source,
            line,
            f"looks like a header (its label {label!r} is on no other line): set data.header=true "
            "(then name the columns: data.text_column=..., data.label_column=...) or data.header=false to keep it",
        )


class StreamHeader:
    """A header across the chunks of a streamed input (``predict``): found in the chunk that starts the input
    (line 1), it is put before each later chunk, so every chunk reads its columns by the same names.

    ``before(lines, header)`` -> the chunk's lines and header setting to read them with; ``after(lines, first)``
    records, from the first chunk, whether its first non-blank line was a header (``first``: the line number of
    the first example read from it, None for none)."""

    def __init__(self) -> None:
        self.line: Optional[Tuple[int, str]] = None

    def before(self, lines: List[Tuple[int, str]], header: Union[str, bool]) -> Tuple[List[Tuple[int, str]], Any]:
        if lines and lines[0][0] == 1:
            self.line = None
            return lines, header
        if self.line is not None:
            return [self.line, *lines], True
        return lines, False if header == "auto" else header

    def after(self, lines: List[Tuple[int, str]], first: Optional[int]) -> None:
        start = next(((n, t) for n, t in lines if t.strip()), None)
        if lines and lines[0][0] == 1 and start is not None and first != start[0]:
            self.line = start
