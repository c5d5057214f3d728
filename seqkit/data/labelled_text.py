"""Reader for one-example-a-line classification files.

Formats (``data.format``):
  - ``text_tab_label``: ``<text>\\t<label>`` (the built-in sentiment files; spaces around either are stripped)
  - ``label_space_text``: ``<label> <text>``: the label is the first word, so it holds no space (SST-2's
    ``stsa.binary.*``); a label always followed by the same word (``billing issue ...``) is refused as a class
    name with a space, which needs a column format
  - ``csv`` / ``tsv`` / ``jsonl``: named columns (``seqkit.data.columns``), ``text_column`` and ``label_column``
  - ``text``: ``<text>`` only, no label (prediction input)
Blank lines carry no example and are passed over; every other problem raises DataError naming the line.
``header``: ``true`` skips line 1, ``auto`` (the default) refuses a first line that looks like a header
(``seqkit.data.columns.check_header_like``), ``false`` reads every line as an example.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from seqkit.data import columns
from seqkit.data.errors import DataError
from seqkit.data.textfile import iter_lines

LINE_FORMATS = ("text_tab_label", "label_space_text", "text")
FORMATS = (*LINE_FORMATS, *columns.FORMATS)
DEFAULT_COLUMNS = {"text": ("text", 0), "label": ("label", -1)}  # role -> (name with a header, index without)


@dataclass
class LabelledText:
    text: str
    label: Optional[str]
    line: int  # 1-based line number in its file


def parse_line(text: str, fmt: str) -> Tuple[str, Optional[str], Optional[str]]:
    """-> (text, label, error reason or None)."""
    if fmt == "text":
        return text.strip(), None, None
    if fmt == "text_tab_label":
        if "\t" not in text:
            return "", None, "no tab-separated label (expected '<text>\\t<label>')"
        body, label = text.rsplit("\t", 1)
    else:
        parts = text.strip().split(maxsplit=1)
        if len(parts) < 2:
            return "", None, "no text after the label (expected '<label> <text>')"
        label, body = parts
    body, label = body.strip(), label.strip()
    if not label:
        return "", None, "empty label"
    if not body:
        return "", None, "empty text"
    return body, label, None


def iter_labelled_text(
    lines: Iterable[Tuple[int, str]],
    fmt: str,
    source: Union[str, Path, None],
    header: Union[str, bool] = "auto",
    text_column: Optional[columns.Column] = None,
    label_column: Optional[columns.Column] = None,
    labelled: bool = True,
    blanks: bool = False,
) -> Iterator[LabelledText]:
    """The examples of numbered ``lines`` in ``fmt``, one at a time; ``labelled=False`` reads the text only (a
    column format's text column; a line format's whole line, as ``text``); ``blanks``: a blank line is an example
    with no text (prediction: an output line for each input line) instead of nothing."""
    if fmt not in FORMATS:
        raise ValueError(f"data.format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt in columns.FORMATS:
        roles = {"text": text_column, "label": label_column} if labelled else {"text": text_column}
        for number, row in columns.read_columns(lines, fmt, roles, DEFAULT_COLUMNS, header, source, blanks):
            yield LabelledText(row.get("text", ""), row.get("label"), number)
        return
    first = True
    for number, line in lines:
        if not line.strip():
            if blanks:
                yield LabelledText("", None, number)
            continue
        if first and header is True:
            first = False
            continue
        first = False
        body, label, problem = parse_line(line, fmt if labelled else "text")
        if problem:
            choices = ", ".join(f for f in FORMATS if f != "text")
            raise DataError(source, number, f"{problem}; data.format={fmt} (choices: {choices})")
        yield LabelledText(body, label, number)


def note_label_word(follow: Dict[str, Tuple[Optional[str], int, int]], ex: LabelledText) -> None:
    """Record in ``follow`` (label -> (the word always after it so far or None, count, first line)) the word after
    ``ex``'s label, for ``check_label_words``: memory grows with the labels, not the lines."""
    word = ex.text.split(maxsplit=1)[0]
    seen, count, line = follow.get(ex.label, (word, 0, ex.line))
    follow[ex.label] = (word if seen == word else None, count + 1, line)


def check_label_words(follow: Dict[str, Tuple[Optional[str], int, int]], source: Union[str, Path, None]) -> None:
    """``label_space_text``: a label seen three times or more and always followed by the same word (``follow``,
    from ``note_label_word``) is a class name with a space that the format would split (``billing issue`` ->
    ``billing``): a DataError saying what to set."""
    for label, (word, count, line) in follow.items():
        if word is not None and count >= 3:
            raise DataError(
                source,
                line,
                f"label {label!r} is always followed by {word!r} ({count} lines): label_space_text takes the first "
                f"word as the label, so a class named {label + ' ' + word!r} would be split; write it as one word "
                "(billing_issue) or use a file with a label column (data.format=csv)",
            )


def iter_labelled_file(
    path: Union[str, Path],
    fmt: str = "text_tab_label",
    header: Union[str, bool] = "auto",
    text_column: Optional[columns.Column] = None,
    label_column: Optional[columns.Column] = None,
) -> Iterator[LabelledText]:
    """The labelled examples of a file, read lazily (a file larger than memory: ``seqkit.data.streaming``), and
    checked as a whole at its end: no header-like first line (``header`` auto) and, in ``label_space_text``, no
    class name split at its space. The checks keep counts a label, never the lines."""
    first: Optional[Tuple[int, str]] = None
    counts: Counter = Counter()
    follow: Dict[str, Tuple[Optional[str], int, int]] = {}
    for ex in iter_labelled_text(iter_lines(path), fmt, path, header, text_column, label_column):
        first = first or (ex.line, ex.label)
        counts[ex.label] += 1
        if fmt == "label_space_text":
            note_label_word(follow, ex)
        yield ex
    if fmt != "text" and first is not None:
        columns.check_header_like(first, counts, header, path)
    check_label_words(follow, path)


def read_labelled_text(
    path: Union[str, Path],
    fmt: str = "text_tab_label",
    header: Union[str, bool] = "auto",
    text_column: Optional[columns.Column] = None,
    label_column: Optional[columns.Column] = None,
) -> List[LabelledText]:
    """All labelled examples of a file (``iter_labelled_file``, held in memory)."""
    return list(iter_labelled_file(path, fmt, header, text_column, label_column))
