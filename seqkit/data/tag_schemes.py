"""Entity tag schemes (IOB1, IOB2, IOBES): spans, detection, conversion and validation.

Everything here is a pure function on lists of tag strings such as ``["B-PER", "I-PER", "O"]``, so
readers, metrics and decoders share one definition of what an entity is. A tag is ``O`` or
``P-TYPE`` with ``P`` one of B/I/E/S and a non-empty ``TYPE`` (which may itself contain ``-``,
e.g. WNUT-17's ``B-creative-work``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from seqkit.data.errors import DataError

Span = Tuple[str, int, int]  # (type, start, end_exclusive)

SCHEMES = ("iob1", "iob2", "iobes", "none")
ENCODABLE = ("iob2", "iobes", "iob1")  # the schemes spans can be written in
_TAG = re.compile(r"^(?:O|([BIES])-(.+))$", re.DOTALL)
_PREFIXES = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}


@lru_cache(maxsize=4096)  # a tag set is small and every tag is parsed several times
def parse_tag(tag: str) -> Optional[Tuple[str, Optional[str]]]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", None)``, anything else -> None."""
    m = _TAG.match(tag)
    if m is None:
        return None
    return ("O", None) if m.group(1) is None else (m.group(1), m.group(2))


def _parse_or_raise(tag: str) -> Tuple[str, Optional[str]]:
    parsed = parse_tag(tag)
    if parsed is None:
        raise ValueError(f"tag {tag!r} is not O or B-/I-/E-/S- followed by a type")
    return parsed


def spans(tags: Sequence[str]) -> List[Span]:
    """Entity spans ``[(type, start, end_exclusive), ...]`` of IOB2 or IOBES tags (IOB1 works too).

    Lenient like conlleval, so that model predictions that break the grammar still score: B-/S- always
    start an entity; I-/E- continue an open entity of the same type, or else start one; E-/S- close it.
    Raises ValueError for a tag that is not ``O`` / ``P-TYPE``.
    """
    out: List[Span] = []
    cur_type: Optional[str] = None
    start = 0
    for i, tag in enumerate(tags):
        prefix, typ = _parse_or_raise(tag)
        continues = prefix in ("I", "E") and cur_type == typ
        if cur_type is not None and not continues:
            out.append((cur_type, start, i))
            cur_type = None
        if prefix != "O" and not continues:
            cur_type, start = typ, i
        if prefix in ("E", "S") and cur_type is not None:
            out.append((cur_type, start, i + 1))
            cur_type = None
    if cur_type is not None:
        out.append((cur_type, start, len(tags)))
    return out


def encode(entity_spans: Iterable[Span], length: int, scheme: str) -> List[str]:
    """Write spans back as ``length`` tags in ``"iob2"``, ``"iobes"`` or ``"iob1"`` (the inverse of :func:`spans`).
    IOB1 writes I-X on every token of an entity, except B-X on the first token of one that directly follows an
    entity of the same type (the only place IOB1 uses B-)."""
    if scheme not in ENCODABLE:
        raise ValueError(f"cannot encode spans as {scheme!r}; use one of {', '.join(ENCODABLE)}")
    tags = ["O"] * length
    previous_end, previous_type = None, None
    for typ, start, end in sorted(entity_spans, key=lambda span: span[1]):
        if scheme == "iobes" and end - start == 1:
            tags[start] = f"S-{typ}"
            continue
        adjacent = previous_end == start and previous_type == typ
        tags[start] = f"B-{typ}" if scheme != "iob1" or adjacent else f"I-{typ}"
        for i in range(start + 1, end):
            tags[i] = f"I-{typ}"
        if scheme == "iobes":
            tags[end - 1] = f"E-{typ}"
        previous_end, previous_type = end, typ
    return tags


def detect_scheme(sentences_tags: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a whole file: ``"none"``, ``"iobes"``, ``"iob1"`` or ``"iob2"``.

    Detection runs over all sentences because a single sentence rarely shows the difference.
    ``"none"``: some tag is not O / P-TYPE (POS tags). ``"iobes"``: some E-/S- prefix.
    ``"iob1"``: some entity starts with I-X (at sentence start, after O or after another type) and
    every B-X sits directly after a B-X/I-X (its only role in IOB1: splitting adjacent entities).
    Otherwise ``"iob2"`` (also for all-O files).
    """
    detector = SchemeDetector()
    for tags in sentences_tags:
        detector.add(tags)
    return detector.scheme


class SchemeDetector:
    """``detect_scheme`` one sentence at a time (``add``), holding only three flags: a streamed file's scheme."""

    def __init__(self) -> None:
        self.untyped = self.iobes = self.i_starts = False
        self.b_only_between = True

    def add(self, tags: Sequence[str]) -> None:
        if self.untyped:
            return
        parsed = [parse_tag(tag) for tag in tags]
        if any(p is None for p in parsed):
            self.untyped = True
            return
        prev: Tuple[str, Optional[str]] = ("O", None)
        for prefix, typ in parsed:
            if prefix in ("E", "S"):
                self.iobes = True
            elif prefix == "I" and (prev[0] == "O" or prev[1] != typ):
                self.i_starts = True
            elif prefix == "B" and not (prev[0] in ("B", "I") and prev[1] == typ):
                self.b_only_between = False
            prev = (prefix, typ)

    @property
    def scheme(self) -> str:
        if self.untyped:
            return "none"
        if self.iobes:
            return "iobes"
        return "iob1" if self.i_starts and self.b_only_between else "iob2"


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """IOB1 -> IOB2: an I-X that starts an entity becomes B-X (B-X between two X entities stays)."""
    return encode(spans(tags), len(tags), "iob2")


def iob2_to_iobes(tags: Sequence[str]) -> List[str]:
    """IOB2 -> IOBES: single-token entities become S-X, the last token of longer ones E-X."""
    return encode(spans(tags), len(tags), "iobes")


def iobes_to_iob2(tags: Sequence[str]) -> List[str]:
    """IOBES -> IOB2: S-X -> B-X, E-X -> I-X."""
    return encode(spans(tags), len(tags), "iob2")


def repair(tags: Sequence[str], scheme: str) -> Tuple[List[str], int]:
    """Rewrite tags into valid ``scheme`` ("iob2"/"iobes") tags; return them and how many changed.

    Uses the lenient reading of :func:`spans`, so a stray I-X (or E-X) becomes the start of an entity.
    """
    fixed = encode(spans(tags), len(tags), scheme)
    return fixed, sum(a != b for a, b in zip(tags, fixed))


def _line_of(first_line_numbers: Union[int, Sequence[int], None], i: int) -> Optional[int]:
    if first_line_numbers is None:
        return None
    if isinstance(first_line_numbers, int):
        return first_line_numbers + i
    return first_line_numbers[i]


def check_tags(
    tags: Sequence[str],
    scheme: str,
    *,
    path: Union[str, Path, None] = None,
    first_line_numbers: Union[int, Sequence[int], None] = None,
) -> None:
    """Raise DataError at the line of the first tag that ``scheme`` forbids, so bad files fail loudly.

    ``first_line_numbers``: the line number of each tag (a sequence), or the line of the first tag
    (an int) when the tags sit on consecutive lines. Rules: every scheme but ``"none"`` needs tags of
    the form O / P-TYPE with the scheme's prefixes; ``"iob2"``: an I-X must follow B-X or I-X;
    ``"iobes"``: the B (I)* E | S grammar; ``"iob1"``: the form only; ``"none"``: anything goes.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if scheme == "none":
        return
    allowed = _PREFIXES[scheme]
    name = scheme.upper()

    def fail(i: int, reason: str) -> None:
        raise DataError(path, _line_of(first_line_numbers, i), reason)

    prev_tag, prev_prefix, prev_type = None, "O", None
    for i, tag in enumerate(tags):
        parsed = parse_tag(tag)
        if parsed is None or (parsed[0] != "O" and parsed[0] not in allowed):
            fail(
                i,
                f"tag {tag!r} is not valid in {name}: expected O or {'/'.join(p + '-' for p in allowed)}"
                f" followed by a type (use scheme 'none' for POS or other non-entity tags)",
            )
        prefix, typ = parsed
        after = "at sentence start" if prev_tag is None else f"after {prev_tag!r}"
        continues = prev_prefix in ("B", "I") and prev_type == typ
        if scheme == "iob2" and prefix == "I" and not continues:
            fail(i, f"tag {tag!r} {after} does not continue an entity; IOB2 needs 'B-{typ}' there")
        if scheme == "iobes":
            if prev_prefix in ("B", "I") and not (prefix in ("I", "E") and continues):
                fail(i, f"tag {tag!r} {after}: IOBES needs 'I-{prev_type}' or 'E-{prev_type}' there")
            if prefix in ("I", "E") and not continues:
                fail(i, f"tag {tag!r} {after} does not continue an entity; IOBES needs 'B-{typ}' or 'S-{typ}' there")
        prev_tag, prev_prefix, prev_type = tag, prefix, typ
    if scheme == "iobes" and prev_prefix in ("B", "I"):
        fail(
            len(tags) - 1,
            f"sentence ends inside an entity: {prev_tag!r} must be followed by 'I-{prev_type}' or"
            f" 'E-{prev_type}' in IOBES",
        )
