"""The encoder-decoder network in plain torch.nn: source [B, S] -> target [B, T], T unrelated to S, with its
training objective (``loss``), what its metrics need (``evaluate``: teacher-forced loss and decoded outputs) and
its predictions (``predict``: batched beam search)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.decoding import BeamResult, ban, beam_search, decode
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.padding import PAD_INDEX, lengths_to_mask
from seqkit.nn.seq2seq_decoder import Bridge, DecoderState, Seq2SeqDecoder

DEFAULT_DECODE = {"beam_size": 5, "length_penalty": 0.0, "max_len_ratio": 2.0, "max_len_extra": 5, "n_best": 1}
METRICS = {"wer": ("wer", "per"), "bleu": ("bleu", "chrf")}


class Seq2SeqNetwork(nn.Module):
    """The encoder-decoder network: source ``[B, S]`` -> target ``[B, T]``, T unrelated to S.

    Embed the source -> RecurrentEncoder -> Bridge -> Seq2SeqDecoder (attention, optional input feeding) ->
    next-token logits. Training is teacher-forced; outputs come from greedy or batched beam search over
    ``decoder.step``, each output at most ``max_len_ratio * source length + max_len_extra`` tokens.

    Args:
        source_vocab_size: source vocabulary, from the codec.
        target_vocab_size: target vocabulary V, from the codec.
        bos_index: the target's <bos> id, from the codec.
        eos_index: the target's <eos> id, from the codec.
        shared_vocab: source and target share one vocabulary, from the codec. Default: False
        metric: "wer" (word and phone error rates) or "bleu" (sacreBLEU BLEU and chrF). Default: "wer"
        embedding_dim: both sides' embedding size. Default: 128
        embedding_dropout: on both sides' embeddings. Default: 0.0
        backbone: ``RecurrentEncoder`` arguments of the encoder (its cell is the decoder's too). Default: None
        decoder_hidden_size: the decoder's hidden size. Default: None (the encoder output size, hidden * directions)
        decoder_layers: the decoder's depth. Default: None (the encoder's)
        attention: "none", "additive", "dot" or "general". Default: "additive"
        input_feeding: Luong input feeding (the decoder then steps token by token). Default: True
        bridge: start the decoder from the encoder's final states (else zeros). Default: True
        dropout: in the decoder. Default: 0.0
        teacher_forcing: probability of feeding the reference token while training (less: scheduled sampling).
            Default: 1.0
        label_smoothing: of the training loss only. Default: 0.0
        tie_embeddings: the output layer shares the target embedding matrix. Default: False
        decode: ``DEFAULT_DECODE`` keys (beam_size, length_penalty, max_len_ratio, max_len_extra, n_best).
            Default: None (``DEFAULT_DECODE``)

    Inputs: source, lengths, target_in
        - source: source token ids.
        - lengths: each source's true length.
        - target_in: <bos> + target, padded (teacher forcing).

    Outputs: logits, attention
        - logits: next-token scores at every target position.
        - attention: the decoder's attention over the source, or None without attention.

    Shape:
        - source: ``[B, S]`` long; lengths: ``[B]``; target_in: ``[B, T]`` long
        - logits: ``[B, T, V]``; attention: ``[B, T, S]``

    Methods (the shape's protocol, each on a Batch):
        - loss: ``{"loss"}``, token-mean cross-entropy, teacher-forced
        - evaluate: ``{"loss_sum", "tokens", "outputs", "references"}``; outputs greedy (val) or beam (test)
        - predict: beam search: ``{"index", "tokens": [B, n, N], "lengths", "scores": [B, n], "attention"}``
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
    ):
        super().__init__()
        if metric not in METRICS:
            raise ValueError(f"model.metric must be one of {sorted(METRICS)}, got {metric!r}")
        unknown = set(decode or {}) - set(DEFAULT_DECODE)
        if unknown:
            raise ValueError(f"unknown decode settings {sorted(unknown)}; known: {sorted(DEFAULT_DECODE)}")
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        self.bos_index, self.eos_index, self.shared_vocab = bos_index, eos_index, shared_vocab
        self.metric, self.teacher_forcing, self.label_smoothing = metric, teacher_forcing, label_smoothing
        self.source_embedding = WordEmbedding(source_vocab_size, embedding_dim, embedding_dropout)
        self.encoder = RecurrentEncoder(embedding_dim, **dict(backbone or {}))
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

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "Seq2SeqNetwork":
        """The network of saved hyper-parameters (keys it does not take, e.g. the optimiser, are left out)."""
        names = inspect.signature(Seq2SeqNetwork.__init__).parameters
        return cls(**{k: v for k, v in hparams.items() if k in names and k != "self"})

    # ---- the network ---------------------------------------------------------------------------
    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """source [B, S], lengths [B] -> the decoder's initial state (memory, mask, bridged recurrent state)."""
        memory, final = self.encoder(self.source_embedding(source), lengths)
        mask = lengths_to_mask(lengths.to(source.device), source.size(1))
        return self.decoder.start(memory, mask, self.bridge(final) if self.bridge is not None else None)

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Teacher-forced: -> (logits [B, T, V], attention [B, T, S] or None)."""
        return self.decoder(target_in, self.encode(source, lengths), self.teacher_forcing)

    def _start(self, source: Tensor, lengths: Tensor) -> Tuple[Tensor, DecoderState]:
        """-> (logits of the first output token [B, V], state after reading <bos>)."""
        bos = torch.full((source.size(0),), self.bos_index, dtype=torch.long, device=source.device)
        return self.decoder.step(bos, self.encode(source, lengths))

    def max_lengths(self, lengths: Tensor) -> Tensor:
        """[B] the longest output (tokens with <eos>) decoding may produce for each source."""
        d = self.decode_settings
        return (lengths.float() * d["max_len_ratio"]).long() + int(d["max_len_extra"])

    @torch.no_grad()
    def greedy_decode(self, source: Tensor, lengths: Tensor, on_token=None) -> List[List[int]]:
        """-> per source its output ids (up to its maximum length; the final <eos> dropped). ``on_token``: called
        with each step's ids [B] as they are picked (streaming)."""
        logits, state = self._start(source, lengths)
        limits = self.max_lengths(lengths)
        banned = self._banned_ids()
        ids = decode(
            self.decoder.step,
            state,
            logits,
            int(limits.max()),
            lambda l: ban(l, banned).argmax(-1),
            eos=self.eos_index,
            on_token=on_token,
        )
        return [self._strip(row[: int(n)]) for row, n in zip(ids.tolist(), limits.tolist())]

    @torch.no_grad()
    def beam_decode(self, source: Tensor, lengths: Tensor) -> BeamResult:
        """-> seqkit.nn.decoding.BeamResult (tokens [B, n, N], lengths [B, n], scores [B, n])."""
        d = self.decode_settings
        logits, state = self._start(source, lengths)
        return beam_search(
            self.decoder.step,
            state,
            logits,
            self.max_lengths(lengths).to(logits.device),
            int(d["beam_size"]),
            self.eos_index,
            float(d["length_penalty"]),
            int(d["n_best"]),
            banned=self._banned_ids(),
        )

    def _banned_ids(self) -> List[int]:
        """Tokens an output never contains: padding and <bos>."""
        return [PAD_INDEX, self.bos_index]

    def _strip(self, ids: List[int]) -> List[int]:
        eos = self.eos_index
        return ids[: ids.index(eos)] if eos in ids else ids

    # ---- the shape protocol: loss, evaluate, predict ---------------------------------------------
    def loss(self, batch) -> Dict[str, Tensor]:
        """``{"loss"}``: token-mean cross-entropy of the teacher-forced decoder (label smoothing, scheduled
        sampling while training)."""
        logits, _ = self(batch.source, batch.source_lengths, batch.target_in)
        return {
            "loss": F.cross_entropy(
                logits.flatten(0, 1),
                batch.target_out.flatten(),
                ignore_index=PAD_INDEX,
                label_smoothing=self.label_smoothing,
            )
        }

    def evaluate(self, batch, stage: str = "val") -> Dict[str, Any]:
        """What the metrics need: ``{"loss_sum": summed token NLL (teacher-forced, no smoothing), "tokens": target
        tokens counted, "outputs": per source its decoded ids (<eos> dropped), "references"}``; the outputs are
        greedy at validation (``stage="val"``) and beam search's best at test (``stage="test"``)."""
        logits, _ = self.decoder(batch.target_in, self.encode(batch.source, batch.source_lengths))
        loss_sum = F.cross_entropy(
            logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=PAD_INDEX, reduction="sum"
        )
        if stage == "test":
            result = self.beam_decode(batch.source, batch.source_lengths)
            outputs = [
                self._strip(row[: int(n)]) for row, n in zip(result.best().tolist(), result.lengths[:, 0].tolist())
            ]
        else:
            outputs = self.greedy_decode(batch.source, batch.source_lengths)
        return {
            "loss_sum": float(loss_sum),
            "tokens": int((batch.target_out != PAD_INDEX).sum()),
            "outputs": outputs,
            "references": batch.references,
        }

    def predict_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """Take the decoding settings among predict.py's ``options`` (beam_size, n_best, length_penalty,
        max_len_ratio, max_len_extra); return the others for the codec."""
        rest = {}
        for key, value in options.items():
            if key in DEFAULT_DECODE:
                self.decode_settings[key] = value
            else:
                rest[key] = value
        return rest

    def predict(self, batch) -> Dict[str, Tensor]:
        """Beam search -> {index, tokens [B, n, N], lengths [B, n], scores [B, n], attention [B, N, S] of the
        best output (a teacher-forced pass over it; zeros without attention)}."""
        result = self.beam_decode(batch.source, batch.source_lengths)
        best = result.best()
        bos = torch.full_like(best[:, :1], self.bos_index)
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
