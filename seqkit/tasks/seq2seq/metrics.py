"""The encoder-decoder figures, Lightning-free: ``loss`` (teacher-forced NLL per target token over the stage) and
the task metric of the decoded outputs: ``wer``/``per`` (grapheme-to-phoneme: word and phone error rates, as
fractions), ``bleu``/``chrf`` (sacreBLEU on detokenised text; its signature line goes to stderr) or, for any text
(``metric=text``), chrF and BLEU with ``exact`` (the share of outputs equal to a reference) and ``cer`` (character
edits / reference characters, against the closest reference)."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Sequence

from seqkit.tasks.seq2seq.network import METRICS


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


def text_scores(hypotheses: List[str], references: List[List[str]]) -> Dict[str, float]:
    """Exact match (an output equal to one of its references) and character error rate (character edits to the
    closest reference over its length, summed): ``error_rates`` over characters, so several references count."""
    rates = error_rates([list(h) for h in hypotheses], [[list(r) for r in refs] for refs in references])
    return {"exact": 1.0 - rates["wer"], "cer": rates["per"]}


def bleu_chrf(hypotheses: List[str], references: List[List[str]]) -> Dict[str, object]:
    """Corpus BLEU (sacreBLEU defaults: 13a tokenisation, cased) and chrF on detokenised text.
    references: per hypothesis its reference strings (a hypothesis with fewer than the most has None in the
    other reference streams, which sacreBLEU passes over). -> bleu, chrf, signature."""
    import sacrebleu

    most = max((len(r) for r in references), default=0)
    streams = [[r[k] if k < len(r) else None for r in references] for k in range(most)]
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hypotheses, streams), chrf.corpus_score(hypotheses, streams)
    return {"bleu": b.score, "chrf": c.score, "signature": str(bleu.get_signature())}


class Seq2SeqMetrics:
    """One stage's figures (``compute`` -> names without the stage prefix). ``update`` takes
    ``network.evaluate(batch, stage)``: ``{"loss_sum", "tokens", "outputs", "references"}``; the codec turns the
    output ids into scored units (``output_units``) and text (``detokenize``).

    stage: "val" or "test", only named in the sacreBLEU signature line printed on stderr."""

    def __init__(self, network: Any, codec: Any = None, stage: str = "val"):
        self.metric, self.codec, self.stage = network.metric, codec, stage
        self.progress = ("loss", *METRICS[self.metric])
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.count = 0.0, 0
        self.outputs: List[List[int]] = []
        self.references: List[List[List[str]]] = []

    def update(self, batch: Any, output: Dict[str, Any]) -> None:
        self.loss_sum += float(output["loss_sum"])
        self.count += int(output["tokens"])
        self.outputs.extend(output["outputs"])
        self.references.extend(output["references"])

    def compute(self) -> Dict[str, float]:
        out = {"loss": self.loss_sum / max(self.count, 1)}
        if not self.outputs or self.codec is None:
            return out
        hyps = [self.codec.output_units(ids) for ids in self.outputs]  # tokens, or words of decoded subwords
        if self.metric == "wer":
            scores = error_rates(hyps, self.references)
        elif self.metric == "text":
            texts = [self.codec.detokenize(h) for h in hyps]
            references = [[self.codec.detokenize(t) for t in r] for r in self.references]
            scores = {**bleu_chrf(texts, references), **text_scores(texts, references)}
            print(f"[seqkit] {self.stage} sacreBLEU signature: {scores.pop('signature')}", file=sys.stderr, flush=True)
        else:
            scores = bleu_chrf(
                [self.codec.detokenize(h) for h in hyps],
                [[self.codec.detokenize(t) for t in r] for r in self.references],
            )
            print(f"[seqkit] {self.stage} sacreBLEU signature: {scores.pop('signature')}", file=sys.stderr, flush=True)
        return {**out, **{name: float(scores[name]) for name in METRICS[self.metric]}}
