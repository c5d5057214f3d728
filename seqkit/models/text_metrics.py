"""Scores of generated sequences: word/phone error rates (grapheme-to-phoneme) and sacreBLEU BLEU/chrF."""
from __future__ import annotations

from typing import Dict, List, Sequence

import sacrebleu


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token lists (insertions, deletions, substitutions cost 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def error_rates(hypotheses: List[List[str]], references: List[List[List[str]]]) -> Dict[str, float]:
    """G2P scoring: a word is wrong unless its output equals one of its references (WER); phone errors are
    the edit distance to the closest reference over that reference's length, summed over words (PER)."""
    wrong, edits, phones = 0, 0, 0
    for hyp, refs in zip(hypotheses, references):
        distance, ref = min((edit_distance(hyp, r), r) for r in refs)
        wrong += distance > 0
        edits += distance
        phones += len(ref)
    return {"wer": wrong / max(len(hypotheses), 1), "per": edits / max(phones, 1)}


def bleu_chrf(hypotheses: List[str], references: List[List[str]]) -> Dict[str, object]:
    """Corpus BLEU (sacreBLEU defaults: 13a tokenisation, cased) and chrF on detokenised text.
    references: per hypothesis its reference strings (the same count for each). -> bleu, chrf, signature."""
    streams = [list(r) for r in zip(*references)]
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hypotheses, streams), chrf.corpus_score(hypotheses, streams)
    return {"bleu": b.score, "chrf": c.score, "signature": str(bleu.get_signature())}
