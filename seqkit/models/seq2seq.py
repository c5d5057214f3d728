"""Encoder-decoder for unaligned many-to-many tasks: source [B, S] -> target [B, T], T unrelated to S.

embed source -> RecurrentEncoder (any cell, uni/bidirectional, stacked) -> Bridge -> Seq2SeqDecoder (same
cell, attention none | additive | dot | general, input feeding) -> next-token logits. Trained with teacher
forcing (optionally scheduled sampling) and label smoothing; validation decodes greedily and reports the
task metric (``metric=wer``: word and phone error rates; ``bleu``: sacreBLEU BLEU and chrF); test and
predict use batched beam search (``decode``: beam_size, length_penalty, max_len_ratio, n_best).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from seqkit.models.base import SeqkitModule
from seqkit.models.classifier import DEFAULT_OPTIMIZER
from seqkit.models.text_metrics import bleu_chrf, error_rates
from seqkit.nn import PAD_INDEX, RecurrentEncoder, WordEmbedding, lengths_to_mask
from seqkit.nn.decoding import ban, beam_search, decode
from seqkit.nn.seq2seq_decoder import Bridge, DecoderState, Seq2SeqDecoder

DEFAULT_DECODE = {"beam_size": 5, "length_penalty": 0.0, "max_len_ratio": 2.0, "max_len_extra": 5, "n_best": 1}
METRICS = {"wer": ("wer", "per"), "bleu": ("bleu", "chrf")}


class Seq2Seq(SeqkitModule):
    """source_vocab_size, target_vocab_size, bos_index, eos_index, shared_vocab: from the data module.

    backbone: RecurrentEncoder arguments of the encoder (its cell is the decoder's too). decoder_hidden_size /
    decoder_layers: default the encoder output size (hidden * directions) and depth. bridge: initialise the
    decoder from the encoder's final states (else zeros). teacher_forcing: probability of feeding the
    reference token while training (1 = always). tie_embeddings: the output layer shares the target
    embedding matrix. decode: DEFAULT_DECODE keys; the maximum output length is
    ``max_len_ratio * source length + max_len_extra``.
    Logs ``{val,test}/loss`` (teacher-forced NLL per token) and the metric's scores (error rates as fractions).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        bos_index: int,
        eos_index: int,
        shared_vocab: bool = False,
        metric: str = "wer",
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        backbone: Optional[Dict[str, Any]] = None,
        decoder_hidden_size: Optional[int] = None,
        decoder_layers: Optional[int] = None,
        attention: str = "additive",
        input_feeding: bool = True,
        bridge: bool = True,
        dropout: float = 0.0,
        teacher_forcing: float = 1.0,
        label_smoothing: float = 0.0,
        tie_embeddings: bool = False,
        decode: Optional[Dict[str, Any]] = None,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
    ):
        super().__init__()
        if metric not in METRICS:
            raise ValueError(f"model.metric must be one of {sorted(METRICS)}, got {metric!r}")
        unknown = set(decode or {}) - set(DEFAULT_DECODE)
        if unknown:
            raise ValueError(f"unknown decode settings {sorted(unknown)}; known: {sorted(DEFAULT_DECODE)}")
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        self.save_hyperparameters()
        backbone = dict(backbone or {})
        self.source_embedding = WordEmbedding(source_vocab_size, embedding_dim, embedding_dropout)
        self.encoder = RecurrentEncoder(embedding_dim, **backbone)
        hidden = decoder_hidden_size or self.encoder.output_size
        layers = decoder_layers or self.encoder.num_layers
        self.bridge = (
            Bridge(
                self.encoder.cell,
                self.encoder.num_layers,
                self.encoder.num_directions,
                self.encoder.hidden_size,
                self.encoder.cell,
                layers,
                hidden,
            )
            if bridge
            else None
        )
        self.decoder = Seq2SeqDecoder(
            target_vocab_size,
            embedding_dim,
            hidden,
            self.encoder.output_size,
            self.encoder.cell,
            layers,
            dropout,
            embedding_dropout,
            attention,
            input_feeding,
            tie_embeddings,
        )
        self.decode_settings = {**DEFAULT_DECODE, **(decode or {})}
        self._outputs: List[Tuple[List[int], List[List[str]]]] = []
        self._loss_sum, self._loss_count = 0.0, 0

    # ---- the network ---------------------------------------------------------------------------
    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """source [B, S], lengths [B] -> the decoder's initial state (memory, mask, bridged recurrent state)."""
        memory, final = self.encoder(self.source_embedding(source), lengths)
        mask = lengths_to_mask(lengths.to(source.device), source.size(1))
        return self.decoder.start(memory, mask, self.bridge(final) if self.bridge is not None else None)

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Teacher-forced: -> (logits [B, T, V], attention [B, T, S] or None)."""
        return self.decoder(target_in, self.encode(source, lengths), self.hparams.teacher_forcing)

    def _start(self, source: Tensor, lengths: Tensor) -> Tuple[Tensor, DecoderState]:
        """-> (logits of the first output token [B, V], state after reading <bos>)."""
        bos = torch.full((source.size(0),), self.hparams.bos_index, dtype=torch.long, device=source.device)
        return self.decoder.step(bos, self.encode(source, lengths))

    def max_lengths(self, lengths: Tensor) -> Tensor:
        """[B] the longest output (tokens with <eos>) decoding may produce for each source."""
        d = self.decode_settings
        return (lengths.float() * d["max_len_ratio"]).long() + int(d["max_len_extra"])

    @torch.no_grad()
    def greedy_decode(self, source: Tensor, lengths: Tensor) -> List[List[int]]:
        """-> per source its output ids (up to its maximum length; the final <eos> dropped)."""
        logits, state = self._start(source, lengths)
        limits = self.max_lengths(lengths)
        banned = self._banned_ids()
        ids = decode(
            self.decoder.step,
            state,
            logits,
            int(limits.max()),
            lambda l: ban(l, banned).argmax(-1),
            eos=self.hparams.eos_index,
        )
        return [self._strip(row[: int(n)]) for row, n in zip(ids.tolist(), limits.tolist())]

    @torch.no_grad()
    def beam_decode(self, source: Tensor, lengths: Tensor):
        """-> seqkit.nn.decoding.BeamResult (tokens [B, n, N], lengths [B, n], scores [B, n])."""
        d = self.decode_settings
        logits, state = self._start(source, lengths)
        return beam_search(
            self.decoder.step,
            state,
            logits,
            self.max_lengths(lengths).to(logits.device),
            int(d["beam_size"]),
            self.hparams.eos_index,
            float(d["length_penalty"]),
            int(d["n_best"]),
            banned=self._banned_ids(),
        )

    def _banned_ids(self) -> List[int]:
        """Tokens an output never contains: padding and <bos>."""
        return [PAD_INDEX, self.hparams.bos_index]

    def _strip(self, ids: List[int]) -> List[int]:
        eos = self.hparams.eos_index
        return ids[: ids.index(eos)] if eos in ids else ids

    # ---- training and evaluation ---------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> Tensor:
        logits, _ = self(batch.source, batch.source_lengths, batch.target_in)
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            batch.target_out.flatten(),
            ignore_index=PAD_INDEX,
            label_smoothing=self.hparams.label_smoothing,
        )
        self.log_train_loss(loss, len(batch))
        return loss

    def _evaluate(self, batch, beam: bool) -> None:
        logits, _ = self.decoder(batch.target_in, self.encode(batch.source, batch.source_lengths))
        self._loss_sum += float(
            F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=PAD_INDEX, reduction="sum")
        )
        self._loss_count += int((batch.target_out != PAD_INDEX).sum())
        if beam:
            result = self.beam_decode(batch.source, batch.source_lengths)
            outputs = [
                self._strip(row[: int(n)]) for row, n in zip(result.best().tolist(), result.lengths[:, 0].tolist())
            ]
        else:
            outputs = self.greedy_decode(batch.source, batch.source_lengths)
        self._outputs.extend(zip(outputs, batch.references))

    def _log_scores(self, stage: str) -> None:
        self.log(f"{stage}/loss", self._loss_sum / max(self._loss_count, 1), prog_bar=True)
        datamodule = getattr(self.trainer, "datamodule", None)
        if self._outputs and datamodule is not None:
            hyps = [datamodule.output_units(ids) for ids, _ in self._outputs]  # tokens, or words of decoded subwords
            refs = [r for _, r in self._outputs]
            if self.hparams.metric == "wer":
                scores = error_rates(hyps, refs)
            else:
                scores = bleu_chrf(
                    [datamodule.detokenize(h) for h in hyps], [[datamodule.detokenize(t) for t in r] for r in refs]
                )
                print(f"[seqkit] {stage} sacreBLEU signature: {scores.pop('signature')}", file=sys.stderr, flush=True)
            for name in METRICS[self.hparams.metric]:
                self.log(f"{stage}/{name}", float(scores[name]), prog_bar=True)
        self._outputs, self._loss_sum, self._loss_count = [], 0.0, 0

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, beam=False)

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, beam=True)

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    # ---- prediction ----------------------------------------------------------------------------
    def predict_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """Take the decoding settings among predict.py's ``options`` (beam_size, n_best, length_penalty,
        max_len_ratio); return the others for the data module."""
        rest = {}
        for key, value in options.items():
            if key in DEFAULT_DECODE:
                self.decode_settings[key] = value
            else:
                rest[key] = value
        return rest

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """Beam search -> {index, tokens [B, n, N], lengths [B, n], scores [B, n], attention [B, N, S] of the
        best output (a teacher-forced pass over it; zeros without attention)}."""
        result = self.beam_decode(batch.source, batch.source_lengths)
        best = result.best()
        bos = torch.full_like(best[:, :1], self.hparams.bos_index)
        _, weights = self.decoder(torch.cat([bos, best[:, :-1]], 1), self.encode(batch.source, batch.source_lengths))
        if weights is None:
            weights = torch.zeros(best.size(0), best.size(1), batch.source.size(1))
        return {
            "index": batch.index,
            "tokens": result.tokens,
            "lengths": result.lengths,
            "scores": result.scores,
            "attention": weights,
        }
