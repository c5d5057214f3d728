"""Long-format files (one row a timestamp and series: ``date,store,sales``): the rows of each series, by the value
of its id column, each kept with the header and its file line numbers so that ``read_series`` reads it as a file
of its own (time order, gaps and errors are per series; errors still name the file's line)."""

from __future__ import annotations

from typing import Dict, List, Tuple

from seqkit.data.errors import DataError
from seqkit.data.timeseries import csv_fields, header_columns

Lines = List[Tuple[int, str]]


def split_long(lines: Lines, source: str, series_column: str) -> Dict[str, Lines]:
    """Numbered CSV lines with a header -> ``{series id: [header line, that series' rows...]}``, in the order each id
    first appears. Errors: an unknown ``series_column`` (names the columns), a row without an id (names its line)."""
    header_line, names = header_columns(lines, source)
    if series_column not in names:
        raise DataError(
            source, header_line, f"data.series_column: unknown column {series_column!r}; the file has columns {names}"
        )
    j = names.index(series_column)
    header = next((n, t) for n, t in lines if n == header_line)
    groups: Dict[str, Lines] = {}
    for number, text in lines:
        if number <= header_line or not text.strip():
            continue
        fields = csv_fields(text, source, number)
        key = fields[j].strip() if j < len(fields) else ""
        if not key:
            raise DataError(source, number, f"column {j + 1} ({series_column!r}): no series id")
        groups.setdefault(key, [header]).append((number, text))
    if not groups:
        raise DataError(source, None, "no rows after the header")
    return groups
