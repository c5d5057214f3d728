"""The CMU Pronouncing Dictionary: ``word PH1 PH2 ...`` lines, alternatives as ``word(2)``, ``# comments``."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from seqkit.data.errors import DataError
from seqkit.data.textfile import read_lines

_VARIANT = re.compile(r"\(\d+\)$")
_STRESS = re.compile(r"(?<=[A-Z])[012]$")


def read_cmudict(path: Union[str, Path], keep_stress: bool = False) -> Dict[str, List[Tuple[List[str], int]]]:
    """-> {word: [(phones, line number), ...]} in file order; stress digits (AH0 -> AH) dropped unless
    ``keep_stress``; a pronunciation that becomes a duplicate of the word's earlier one is kept once.
    A line with a word and no phones is a DataError naming its line."""
    words: Dict[str, List[Tuple[List[str], int]]] = {}
    for number, line in read_lines(path):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DataError(path, number, f"word {fields[0]!r} has no phones")
        word = _VARIANT.sub("", fields[0])
        phones = fields[1:] if keep_stress else [_STRESS.sub("", p) for p in fields[1:]]
        prons = words.setdefault(word, [])
        if all(phones != p for p, _ in prons):
            prons.append((phones, number))
    return words


def split_words(words: Sequence[str], fractions: Sequence[float], seed: int) -> List[List[str]]:
    """Shuffle the sorted words with ``seed`` and cut them by ``fractions``: the same split on every machine,
    and every pronunciation of a word lands in the same part."""
    order = sorted(words)
    random.Random(seed).shuffle(order)
    bounds, total = [0], 0.0
    for f in fractions:
        total += f
        bounds.append(round(total / sum(fractions) * len(order)))
    return [order[bounds[i] : bounds[i + 1]] for i in range(len(fractions))]
