"""Data sets shipped inside the package (licences allow it; each folder keeps its SOURCE.md attribution).

| name               | task                         | files                                  | licence      |
|--------------------|------------------------------|----------------------------------------|--------------|
| sentiment_labelled | binary sentence sentiment    | amazon/imdb/yelp, 3,000 sentences      | CC BY 4.0    |
| wnut17             | NER, 6 types                 | train / dev / test                     | CC BY 4.0    |
| ud_english_ewt     | UPOS tagging                 | train / dev (release 2.16)             | CC BY-SA 4.0 |
| tinyshakespeare    | character language model     | one text, 1,115,394 characters         | public domain|
| airpassengers      | monthly forecasting          | one series, 144 months (1949-1960)     | public data  |
| cmudict            | grapheme-to-phoneme          | 135,166 pronunciations (0.7b)          | BSD-style    |
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent

FILES: Dict[str, Dict[str, List[str]]] = {
    "sentiment_labelled": {
        "all": ["amazon_cells_labelled.txt.gz", "imdb_labelled.txt.gz", "yelp_labelled.txt.gz"],
    },
    "wnut17": {
        "train": ["wnut17train.conll.gz"],
        "val": ["emerging.dev.conll.gz"],
        "test": ["emerging.test.annotated.gz"],
    },
    "ud_english_ewt": {
        "train": ["en_ewt-ud-train.conllu.gz"],
        "val": ["en_ewt-ud-dev.conllu.gz"],
    },
    "tinyshakespeare": {
        "all": ["input.txt.gz"],  # first 90% of characters train, last 10% validation
    },
    "airpassengers": {
        "all": ["airline-passengers.csv.gz"],  # one series: the splits are rows (seqkit/configs/task/forecast.yaml)
    },
    "cmudict": {
        "all": ["cmudict.dict.gz"],  # split 90/5/5 by word (seqkit.data.cmudict)
    },
}


def builtin_files(name: str, split: str) -> List[Path]:
    """Paths of a built-in data set's split; raises ValueError naming the choices."""
    if name not in FILES:
        raise ValueError(f"unknown built-in data set {name!r}; choose one of {sorted(FILES)}")
    if split not in FILES[name]:
        raise ValueError(f"built-in data set {name!r} has no split {split!r}; it has {sorted(FILES[name])}")
    return [ROOT / name / f for f in FILES[name][split]]
