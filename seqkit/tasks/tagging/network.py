"""The many-to-many aligned network: word (+ character) features -> recurrent encoder -> per-token emission
scores -> softmax or linear-chain CRF, in plain torch.nn, with its training objective (``loss``), what its
metrics need (``evaluate``) and its predictions (``predict``)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.data.batch import IGNORE_INDEX
from seqkit.nn.casing import CasingEmbedding
from seqkit.nn.crf import CRF, iob_constraints
from seqkit.nn.dropout import Dropout
from seqkit.nn.embedding import word_features, word_input_layers
from seqkit.nn.encoder import RecurrentEncoder


class TaggerNetwork(nn.Module):
    """The many-to-many aligned network: tag every token (NER, POS, copy memory).

    Word (+ character) features -> RecurrentEncoder -> per-token emission scores -> a linear-chain CRF (tags
    scored jointly, so an entity's tags stay consistent) or an independent softmax per token.

    Args:
        vocab_size: word vocabulary V, from the codec. Default: 0
        tags: the K tag names, from the codec. Default: ()
        num_chars: character vocabulary, from the codec. Default: 0
        scheme: "iob2" / "iobes" (entity tags: with ``constrained`` the CRF forbids invalid moves such as
            O -> I-PER) or "none" (any tags). Default: "iob2"
        embedding_dim: word embedding size. Default: 100
        embedding_dropout: on the concatenated word + character features. Default: 0.5
        word_dropout: ``WordEmbedding``'s word dropout. Default: 0.0
        char_encoder: "none", "cnn" (Ma & Hovy 2016), "lstm" (Lample et al. 2016) or "cnn+lstm" (both, their
            vectors concatenated). Default: "cnn"
        char: the character encoder's keyword arguments (for "cnn+lstm": ``{"cnn": {...}, "lstm": {...}}``).
            Default: None
        backbone: ``RecurrentEncoder`` keyword arguments. Default: None
        head: "crf" (linear-chain CRF, Viterbi decoding) or "softmax" (independent tags). Default: "crf"
        constrained: with an entity scheme, forbid the scheme's invalid moves in the CRF. Default: True
        dropout: before the emission layer. Default: 0.5
        freeze_embeddings: keep the trainable word table fixed. Default: False
        pretrained_words: pretrained vectors N, from the codec. Default: 0
        pretrained_vectors: ``[N + 1, embedding_dim]``, from the codec. Default: None
        pretrained_rows: ``[V]``, from the codec (``WordEmbedding``). Default: None
        sparse_embeddings: sparse gradients for the word table (``seqkit.training.optim``). Default: False
        casing: each token's casing class (``seqkit.nn.casing``: numeric, all_upper, initial_upper ...), computed
            from its characters and embedded, joins the word features. Default: False
        casing_dim: the casing embedding's size. Default: 8
        char_kinds: ``[num_chars]`` the kind of each character id, from the codec (``casing``; a checkpoint's
            weights hold it too). Default: None
        outside_bias: a decision bias ``b >= 0`` subtracted from the ``O`` tag's emission score before decoding
            (Viterbi or argmax), not in the loss: larger values tag more tokens as entities (recall for
            precision), chosen on dev. Needs an entity scheme with an ``O`` tag unless 0. Default: 0.0

    Inputs: tokens, lengths, chars, char_lengths
        - tokens: word ids.
        - lengths: each sentence's true length.
        - chars, char_lengths: the tokens' characters, with a char encoder or ``casing``. Default: None

    Outputs: emission scores of every tag at every token (``decode`` turns them into tags).

    Shape:
        - tokens: ``[B, T]`` long; lengths: ``[B]``; chars: ``[B, T, C]``; char_lengths: ``[B, T]``
        - output: ``[B, T, K]``

    Methods (the shape's protocol, each on a Batch):
        - loss: ``{"loss"}``, the CRF's negative log-likelihood or token cross-entropy
        - evaluate: ``{"loss", "predicted": [B, T], "targets": [B, T], "mask": [B, T]}``
        - predict: ``{"index": [B], "tags": [B, T]}`` best tag ids (0 at padding)
        - predict_options: takes ``outside_bias`` among predict's / evaluate's options (``decode_settings``)
    """

    def __init__(
        self,
        vocab_size: int = 0,
        tags: Sequence[str] = (),
        num_chars: int = 0,
        scheme: str = "iob2",
        embedding_dim: int = 100,
        embedding_dropout: float = 0.5,
        word_dropout: float = 0.0,
        char_encoder: str = "cnn",
        char: Optional[Dict[str, Any]] = None,
        backbone: Optional[Dict[str, Any]] = None,
        head: str = "crf",
        constrained: bool = True,
        dropout: float = 0.5,
        freeze_embeddings: bool = False,
        pretrained_words: int = 0,
        pretrained_vectors: Optional[Tensor] = None,
        pretrained_rows: Optional[Tensor] = None,
        sparse_embeddings: bool = False,
        casing: bool = False,
        casing_dim: int = 8,
        char_kinds: Optional[Tensor] = None,
        outside_bias: float = 0.0,
    ):
        super().__init__()
        if head not in ("crf", "softmax"):
            raise ValueError(f"model.head must be 'crf' or 'softmax', got {head!r}")
        self.tags: List[str] = list(tags)
        self.scheme, self.vocab_size, self.num_chars = scheme, vocab_size, num_chars  # sizes (export, metrics)
        self.embedding, self.chars, features = word_input_layers(
            vocab_size,
            embedding_dim,
            0.0,
            pretrained_vectors,
            freeze_embeddings,
            word_dropout,
            pretrained_rows,
            pretrained_words,
            sparse_embeddings,
            char_encoder=char_encoder,
            num_chars=num_chars,
            char=char,
        )
        if casing and num_chars == 0:
            raise ValueError("model.casing=true reads the tokens' characters: this data gives none")
        self.casing = CasingEmbedding(num_chars, casing_dim, char_kinds) if casing else None
        if self.casing is not None:
            features += self.casing.output_dim
        self.input_dropout = Dropout(embedding_dropout)
        self.encoder = RecurrentEncoder(features, **(backbone or {}))
        self.dropout = Dropout(dropout)
        self.emissions = nn.Linear(self.encoder.output_size, len(self.tags))
        self.entities = scheme in ("iob2", "iobes")
        self.crf = None
        if head == "crf":
            self.crf = CRF(
                len(self.tags), iob_constraints(self.tags, scheme) if constrained and self.entities else None
            )
        self.outside = self.tags.index("O") if self.entities and "O" in self.tags else None  # the O tag's id
        self.decode_settings = {"outside_bias": self._outside_bias(outside_bias, "model.outside_bias")}

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], **extra: Any) -> "TaggerNetwork":
        """The network of saved hyper-parameters (keys it does not take, e.g. the optimiser, are left out)."""
        names = inspect.signature(TaggerNetwork.__init__).parameters
        return cls(**{k: v for k, v in {**hparams, **extra}.items() if k in names and k != "self"})

    # ---- the forward pass ------------------------------------------------------------------------
    def forward(
        self, tokens: Tensor, lengths: Tensor, chars: Optional[Tensor] = None, char_lengths: Optional[Tensor] = None
    ) -> Tensor:
        features = word_features(self.embedding, self.chars, tokens, chars, char_lengths)
        if self.casing is not None:
            features = torch.cat([features, self.casing(chars, char_lengths)], dim=-1)
        outputs = self.encoder.outputs(self.input_dropout(features), lengths)
        return self.emissions(self.dropout(outputs))

    @property
    def reads_chars(self) -> bool:
        """Whether ``forward`` reads the tokens' characters (a character encoder or ``casing``)."""
        return self.chars is not None or self.casing is not None

    def scores(self, batch) -> Tensor:
        """A Batch -> emission scores [B, T, num_tags]."""
        return self(batch.tokens, batch.lengths, batch.chars, batch.char_lengths)

    def _outside_bias(self, value: Any, name: str) -> float:
        """``value`` as a checked outside bias; ``name`` is the setting that gave it (for the error line)."""
        try:
            bias = float(value)
        except (TypeError, ValueError):
            bias = float("nan")
        if not 0 <= bias < float("inf"):  # NaN too
            raise ValueError(f"{name} must be a number >= 0 (subtracted from the O tag's score), got {value!r}")
        if bias and self.outside is None:
            raise ValueError(
                f"{name} needs an O tag of an entity scheme (data.scheme=iob2 or data.scheme=iobes); this model's "
                f"tags (data.scheme={self.scheme}) have none: {name}=0"
            )
        return bias

    def predict_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """Take ``outside_bias`` among predict.py's / evaluate.py's ``options`` (it replaces the checkpoint's
        ``model.outside_bias``); return the others for the codec."""
        rest = dict(options)
        if "outside_bias" in rest:
            self.decode_settings["outside_bias"] = self._outside_bias(rest.pop("outside_bias"), "options.outside_bias")
        return rest

    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """emissions [B, T, K], mask [B, T] bool -> best tag ids [B, T] (0 at padding): Viterbi, or argmax, after
        ``outside_bias`` is subtracted from the O tag's scores."""
        bias = self.decode_settings["outside_bias"]
        if bias:
            shift = emissions.new_zeros(emissions.size(-1))
            shift[self.outside] = bias
            emissions = emissions - shift
        if self.crf is not None:
            return self.crf.viterbi(emissions.float(), mask)[0]
        return emissions.argmax(-1).masked_fill(~mask, 0)

    # ---- the shape protocol: loss, evaluate, predict ---------------------------------------------
    def criterion(self, emissions: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """CRF negative log-likelihood (mean over sentences; float32 even under mixed precision, since path scores
        sum over a whole sentence) or token cross-entropy ignoring ``IGNORE_INDEX`` labels."""
        if self.crf is not None:
            return self.crf.nll(emissions.float(), labels, mask, reduction="mean")
        return F.cross_entropy(emissions.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)

    def loss(self, batch) -> Dict[str, Tensor]:
        """The training objective of a labelled Batch: ``{"loss"}``."""
        emissions = self.scores(batch)
        return {"loss": self.criterion(emissions, batch.labels, batch.mask)}

    def evaluate(self, batch) -> Dict[str, Tensor]:
        """What the metrics need of a labelled Batch: ``{"loss": mean over the batch, "predicted": [B, T] tag ids,
        "targets": [B, T] (IGNORE_INDEX where not scored), "mask": [B, T] real tokens}``."""
        emissions = self.scores(batch)
        mask = batch.mask
        return {
            "loss": self.criterion(emissions, batch.labels, mask),
            "predicted": self.decode(emissions, mask),
            "targets": batch.labels,
            "mask": mask,
        }

    def predict(self, batch) -> Dict[str, Tensor]:
        """A Batch -> ``{"index": [B], "tags": [B, T] best tag ids}``."""
        return {"index": batch.index, "tags": self.decode(self.scores(batch), batch.mask)}
