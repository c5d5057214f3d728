"""Reader for one-example-a-line classification files.

Formats (``data.format``):
  - ``text_tab_label``: ``<text>\\t<label>`` (the built-in sentiment files; spaces around either are stripped)
  - ``label_space_text``: ``<label> <text>``, split on the first space (SST-2's ``stsa.binary.*``)
  - ``text``: ``<text>`` only, no label (prediction input)
Blank lines carry no example and are passed over; every other problem raises DataError naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from seqkit.data.errors import DataError
from seqkit.data.textfile import iter_lines

FORMATS = ("text_tab_label", "label_space_text", "text")


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


def iter_labelled_text(path: Union[str, Path], fmt: str = "text_tab_label") -> Iterator[LabelledText]:
    """The examples of a file one at a time, read lazily (a file larger than memory); DataError at a bad line."""
    if fmt not in FORMATS:
        raise ValueError(f"data.format must be one of {FORMATS}, got {fmt!r}")
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        body, label, problem = parse_line(line, fmt)
        if problem:
            raise DataError(path, number, problem)
        yield LabelledText(body, label, number)


def read_labelled_text(path: Union[str, Path], fmt: str = "text_tab_label") -> List[LabelledText]:
    return list(iter_labelled_text(path, fmt))
