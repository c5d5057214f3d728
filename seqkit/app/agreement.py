"""Does a conditional language model write what it was asked to? Classifier agreement.

``generate.py ckpt_path=<conditional lm ckpt> num_samples=200 classifier_ckpt=<classifier ckpt>`` samples
``num_samples`` sentences for each class (or for ``condition=<label>`` only), has a text classifier trained
on the same labels (``task=sentiment``) read them, and reports the share it assigns to the class each
sentence was generated from. An empty sentence (the model ended it at once) counts as a miss.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from seqkit.nn.decoding import ChooseFn

GENERATED = "<generated sentences>"  # the source name in error messages


@torch.no_grad()
def sample_sentences(network, codec, condition: int, count: int, choose: ChooseFn, max_new_tokens: int) -> List[str]:
    """``count`` sentences of class index ``condition`` from a conditional language model (network, codec), sampled
    in one batch (each row stops at its ``<eos>``), as space-joined words."""
    eos = codec.start_index()
    prompt = torch.full((count, 1), eos, dtype=torch.long)
    ids = network.generate(prompt, max_new_tokens, choose, torch.full((count,), condition, dtype=torch.long), eos=eos)
    sentences = []
    for row in ids.tolist():
        words = row[: row.index(eos)] if eos in row else row
        sentences.append(" ".join(codec.vocab.decode(words)))
    return sentences


@torch.no_grad()
def classify(classifier, codec, texts: Sequence[str]) -> List[Optional[str]]:
    """The label a classifier (network, codec) gives each text (None for an empty text), in order."""
    labels: List[Optional[str]] = [None] * len(texts)
    if not any(t.strip() for t in texts):
        return labels
    codec.set_predict_input(list(enumerate(texts, start=1)), GENERATED, input_format="text")
    classifier.eval()
    for batch in codec.predict_batches():
        out = classifier.predict(batch)
        for index, best in zip(out["index"].tolist(), out["probabilities"].argmax(-1).tolist()):
            labels[index] = codec.labels.itos[best]
    return labels


def agreement(
    network,
    codec,
    classifier,
    classifier_codec,
    conditions: Sequence[str],
    count: int,
    choose: ChooseFn,
    max_new_tokens: int,
) -> Dict[str, float]:
    """-> {"agreement/<label>": share of that label's ``count`` sentences the classifier assigns to it, ...,
    "agreement": their mean, "empty": sentences with no word, "samples": count}."""
    known = classifier_codec.labels.itos
    for name in conditions:
        if name not in known:
            raise ValueError(
                f"condition {name!r} is not a label of the classifier (it has {known}): "
                f"give classifier_ckpt a classifier trained on the same labels"
            )
    shares, empty = {}, 0
    for name in conditions:
        texts = sample_sentences(network, codec, codec.condition_index(name), count, choose, max_new_tokens)
        empty += sum(not t.strip() for t in texts)
        predicted = classify(classifier, classifier_codec, texts)
        shares[f"agreement/{name}"] = round(sum(p == name for p in predicted) / count, 6)
    return {**shares, "agreement": round(sum(shares.values()) / len(shares), 6), "empty": empty, "samples": count}
