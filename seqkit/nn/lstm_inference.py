"""A faster one-layer LSTM for prediction over word ids: each word's input projection is looked up, not multiplied.

Without gradients or dropout, an LSTM layer's input projection of a word, ``W_ih e_w + b_ih + b_hh``, is the same
wherever the word occurs, so ``WordLSTMInference`` computes it once for the whole vocabulary (a table
``[directions * V, 4H]``) and a batch's projections become one gather: half of a BiLSTM's multiply-adds gone.
What is left a step is ``h W_hh^T`` for both directions in one batched matmul, then the gates. Sequences run sorted
by length, so step t touches only the ``b_t`` sequences still going (as packed sequences do); the backward
direction reads each sequence reversed within its own length, which makes it a forward loop over the same rows.
``tanh(x)`` is computed as ``2 sigmoid(2x) - 1``: ATen's float tanh is much slower than its sigmoid on AVX2.

The outputs equal ``nn.LSTM``'s up to float rounding (about 1e-7), not bit for bit; the classification network
(``seqkit.tasks.classification.network``) uses this for ``predict`` only (training, validation and testing keep ``nn.LSTM``).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _gates_ifog(weight: Tensor) -> Tensor:
    """Rows (or the last dim's blocks) of nn.LSTM's gate order i, f, g, o -> i, f, o, 2g: the three sigmoid gates
    first, and the cell input doubled so that one sigmoid over all four gives tanh(g) = 2 sigmoid(2g) - 1."""
    i, f, g, o = weight.chunk(4, 0)
    return torch.cat([i, f, o, 2 * g], 0)


class WordLSTMInference:
    """One (bi)LSTM layer over word embeddings, frozen for prediction: each word's input projection is looked up
    in a table built once, not multiplied (see the module). Not an ``nn.Module``: it holds no parameters.

    Args:
        embedding: ``[V, E]`` the vector of every word id as the model sees it in eval mode.
        lstm: a one-layer ``nn.LSTM`` (batch_first, with biases, no projection), one or two directions (D).

    Inputs: tokens, lengths
        - tokens: word ids ``< V``.
        - lengths: each sequence's true length.

    Outputs: the LSTM's outputs, zero at padding, as ``RecurrentEncoder.outputs``; ``max_pooled(tokens,
    lengths)``: their max over each sequence's real positions, without building them.

    Shape:
        - tokens: ``[B, T]`` long; lengths: ``[B]``
        - output: ``[B, T, D * H]``; ``max_pooled``: ``[B, D * H]``
    """

    def __init__(self, embedding: Tensor, lstm: nn.LSTM):
        if lstm.num_layers != 1 or lstm.proj_size or not lstm.bias:
            raise ValueError("WordLSTMInference covers one-layer LSTMs with biases and no projection")
        suffixes = ["_l0", "_l0_reverse"][: 2 if lstm.bidirectional else 1]
        self.hidden_size, self.directions, self.vocab_size = lstm.hidden_size, len(suffixes), embedding.size(0)
        with torch.no_grad():
            tables, recurrent = [], []
            for s in suffixes:
                w_ih, w_hh = getattr(lstm, "weight_ih" + s), getattr(lstm, "weight_hh" + s)
                bias = getattr(lstm, "bias_ih" + s) + getattr(lstm, "bias_hh" + s)
                tables.append(torch.addmm(_gates_ifog(bias), embedding, _gates_ifog(w_ih).t()))  # [V, 4H]
                recurrent.append(_gates_ifog(w_hh).t())  # [H, 4H]
            self.table = torch.cat(tables).contiguous()  # [D * V, 4H]: direction d's rows start at d * V
            self.w_hh = torch.stack(recurrent).contiguous()  # [D, H, 4H]

    def _run(self, tokens: Tensor, lengths: Tensor, max_pool: bool) -> Tuple[Tensor, Tensor, List[int]]:
        """-> (per-step outputs [T, D, B, H] in length-sorted row order, or their max [D, B, H]; the sort
        order [B]; batch sizes b_t)."""
        batch, steps = tokens.shape
        H, D = self.hidden_size, self.directions
        lengths = lengths.to(torch.long)
        sorted_lengths, order = lengths.sort(descending=True, stable=True)
        steps = int(sorted_lengths[0]) if batch else 0
        tokens = tokens[order, :steps]
        positions = torch.arange(steps)
        batch_sizes = (sorted_lengths[None, :] > positions[:, None]).sum(1).tolist()
        index = [tokens.t()]  # [T, B]
        if D == 2:  # the backward direction reads each sequence reversed within its length
            last = (sorted_lengths[:, None] - 1 - positions[None, :]).clamp(min=0)
            index.append(tokens.gather(1, last).t() + self.vocab_size)
        index = torch.stack(index, 1)  # [T, D, B]: rows of the table
        c = torch.zeros(D, batch, H)
        h = torch.zeros(D, batch, H)
        out = torch.zeros(steps, D, batch, H) if not max_pool else None
        pooled = torch.full((D, batch, H), float("-inf")) if max_pool else None
        tanh_c = torch.empty(D, batch, H)
        for t, b in enumerate(batch_sizes):
            # input gates looked up, plus h W_hh^T: one contiguous [b, 4H] matmul a direction (a batched matmul
            # over the strided h[:, :b] would copy it first)
            gates = F.embedding(index[t, :, :b], self.table)  # [D, b, 4H]: i f o 2g
            for d in range(D):
                gates[d].addmm_(h[d, :b], self.w_hh[d])
            gates.sigmoid_()
            g = gates[..., 3 * H :].mul_(2).sub_(1)  # tanh(g)
            cell = c[:, :b]
            cell.mul_(gates[..., H : 2 * H]).addcmul_(gates[..., :H], g)
            th = torch.mul(cell, 2, out=tanh_c[:, :b]).sigmoid_().mul_(2).sub_(1)  # tanh(c)
            h_t = torch.mul(gates[..., 2 * H : 3 * H], th, out=h[:, :b])
            if out is not None:
                out[t, :, :b] = h_t
            else:
                torch.maximum(pooled[:, :b], h_t, out=pooled[:, :b])
        return (pooled if max_pool else out), order, batch_sizes

    def __call__(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [B, T], lengths [B] -> outputs [B, T, D * H], zero at padded positions, as RecurrentEncoder's."""
        batch, total = tokens.shape
        out, order, _ = self._run(tokens, lengths, max_pool=False)  # [T', D, B, H], sorted rows
        result = out.new_zeros(batch, total, self.directions * self.hidden_size)
        if batch == 0 or out.size(0) == 0:
            return result
        steps, H = out.size(0), self.hidden_size
        sorted_lengths = lengths.to(torch.long)[order]
        rows = torch.empty_like(order)
        rows[order] = torch.arange(batch)  # sorted position of each original row
        forward = out[:, 0].permute(1, 0, 2)[rows]  # [B, T', H]
        result[:, :steps, :H] = forward
        if self.directions == 2:
            positions = torch.arange(steps)
            lengths_b = sorted_lengths[rows][:, None]
            back = torch.where(positions[None, :] < lengths_b, lengths_b - 1 - positions[None, :], positions[None, :])
            backward = out[:, 1].permute(1, 0, 2)[rows]  # [B, T', H], reversed within lengths
            result[:, :steps, H:] = backward.gather(1, back[:, :, None].expand(-1, -1, H))
        return result

    def max_pooled(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [B, T], lengths [B] -> [B, D * H], each feature's max over the sequence's real positions
        (SequencePooling("max") of ``__call__``'s outputs, without building them)."""
        pooled, order, _ = self._run(tokens, lengths, max_pool=True)  # [D, B, H], sorted rows
        rows = torch.empty_like(order)
        rows[order] = torch.arange(order.numel())
        return pooled.permute(1, 0, 2).reshape(order.numel(), -1)[rows]


def frozen_key(*modules: nn.Module) -> Tuple:
    """Identifies the current values of the modules' parameters (storage and in-place version): a table
    built from them is stale once an optimiser step or ``load_state_dict`` changes the key.

    Args:
        *modules: the modules whose parameters the table was built from.

    Returns:
        a tuple of ``(data_ptr, version)`` pairs, one per parameter.
    """
    return tuple((p.data_ptr(), p._version) for m in modules for p in m.parameters())


def word_lstm_inference(embedding: Optional[nn.Module], encoder: nn.Module, cache: dict) -> Optional[WordLSTMInference]:
    """The WordLSTMInference of a WordEmbedding + one-layer fused-LSTM RecurrentEncoder pair, rebuilt only when
    their parameters change.

    Args:
        embedding: the model's ``WordEmbedding`` (None: no word embedding).
        encoder: the model's ``RecurrentEncoder``.
        cache: a dict the caller keeps between calls (the table and its ``frozen_key``).

    Returns:
        the ``WordLSTMInference``, or None where it does not apply (other cells, several layers, pretrained
        vectors with open-vocabulary rows, training mode, a GPU or another dtype).
    """
    if (
        embedding is None
        or embedding.training
        or encoder.training
        or getattr(embedding, "pretrained", None) is not None
        or encoder.cell != "lstm"
        or encoder.num_layers != 1
        or encoder.impl != "fused"
        or encoder.record_states
    ):
        return None
    weight = encoder.rnn.weight_hh_l0
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        return None  # on a GPU cuDNN's LSTM is the fast one; the table trick is for CPU float32 inference
    key = frozen_key(embedding, encoder)
    if cache.get("key") != key:
        with torch.no_grad():
            vectors = embedding(torch.arange(embedding.embedding.num_embeddings))
        cache.clear()
        cache.update(key=key, model=WordLSTMInference(vectors, encoder.rnn))
    return cache["model"]
