"""TEMPORARY (issue 25): the benchmark's view of the tasks that still train an old ``seqkit.models`` class in this
branch (tagger, language model, seq2seq, forecaster), so that every section is written against the shape
protocol alone (``module.network``, ``network.loss(batch)``, ``network.scores(batch)`` ...).

THE INTEGRATION STEP DELETES THIS FILE (and the two fallbacks in ``seqkit.benchmark.loops`` that import it) once
every task trains ``seqkit.training.TaskModule``: nothing else in seqkit.benchmark knows an old model class.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch import nn


def loss_of_unmigrated(model, batch, state: Any = None) -> Dict[str, Any]:
    """What the old LightningModule's ``training_step`` computes, as ``network.loss`` would return it."""
    kind = type(model).__name__
    if kind == "SequenceTagger":  # CRF nll (mean over sentences) of the emissions
        return {"loss": model.loss(model(batch), batch)}
    if kind == "Forecaster":  # each ensemble member's nll, averaged (recursive head: teacher-forced)
        teacher = batch.y if model.hparams.head == "recursive" else None
        mask = batch.mask[..., None].expand_as(batch.y)
        losses = [model.output.nll(out, batch.y, mask) for out in model.member_forecasts(batch.x, batch.future, teacher)]
        return {"loss": torch.stack(losses).mean()}
    if kind == "Seq2Seq":  # token-mean cross-entropy of the teacher-forced decoder
        logits, _ = model(batch.source, batch.source_lengths, batch.target_in)
        return {"loss": F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=0,
                                        label_smoothing=model.hparams.label_smoothing)}
    if kind == "LanguageModel":  # token-mean cross-entropy; the state carried to the next chunk (TBPTT)
        logits, state = model(batch.tokens, batch.lengths, model._carried(state, len(batch)), condition=batch.condition)
        total, count = model._token_loss(logits, batch.labels)
        return {"loss": total / count.clamp(min=1), "state": state}
    raise TypeError(f"{kind} has neither a network with loss(batch) nor a temporary benchmark loss")


class _OldTagger(nn.Module):
    """The old SequenceTagger (its forward took a Batch) seen as seqkit.tasks.tagging's TaggerNetwork."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def __getattr__(self, name: str):  # crf, chars, embedding, encoder ...: the old model's parts
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    def forward(self, tokens, lengths, chars=None, char_lengths=None):
        return self.model(SimpleNamespace(tokens=tokens, lengths=lengths, chars=chars, char_lengths=char_lengths))

    def scores(self, batch):
        return self.model(batch)

    def decode(self, emissions, mask):
        return self.model.decode(emissions, mask)


def network_of_unmigrated(model):
    """An old model class is its own network (the tagger wrapped to take tensors and give ``scores(batch)``)."""
    return _OldTagger(model) if type(model).__name__ == "SequenceTagger" else model
