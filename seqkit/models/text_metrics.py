"""Scores of generated sequences: moved to ``seqkit.tasks.seq2seq.metrics`` (issue #25); re-exported here for
the old ``seqkit.models.seq2seq`` until it goes."""

from seqkit.tasks.seq2seq.metrics import bleu_chrf, edit_distance, error_rates  # noqa: F401
