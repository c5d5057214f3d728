"""Search over a step function with incremental state: greedy decoding and sampling (temperature, top-k, top-p).

Every search here works over the same two things, so a language model, a one-to-many generator, a seq2seq
decoder and a recursive forecaster all share it:

- ``step(ids [B], state) -> (logits [B, V], state)``: feed one token per sequence, get the next-token scores
  and the new state. The state is whatever the model carries (a tensor, or a tuple of tensors with the
  batch in dimension 1 as ``nn.LSTM`` keeps it); searches never look inside, except ``reorder_state``.
- the state and the logits after the prompt (``prefill``-ed once by the model: the prefix is never run
  again; each new token costs one step).

A search takes ``(step, state, logits, max_new_tokens, ...)`` and returns the new tokens ``[B, N]``;
``decode`` is the loop and ``choose`` the rule that picks each token (``greedy_choice``, ``Sampler``).
Beam search keeps several hypotheses per sequence and reorders the state with ``reorder_state``; it sits
beside these with the same signature.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], Tuple[Tensor, Any]]  # (ids [B], state) -> (logits [B, V], state)
ChooseFn = Callable[[Tensor], Tensor]  # logits [B, V] -> ids [B]


def greedy_choice(logits: Tensor) -> Tensor:
    """The most likely token of each row: ``logits [B, V]`` -> ``ids [B]``."""
    return logits.argmax(-1)


def filter_logits(logits: Tensor, top_k: Optional[int] = None, top_p: Optional[float] = None) -> Tensor:
    """Keep the ``top_k`` most likely tokens and/or the smallest set whose probability reaches ``top_p``
    (nucleus sampling, Holtzman et al. 2020); the rest get -inf. ``logits [B, V]`` -> ``[B, V]``.
    The most likely token is always kept."""
    if top_k is not None and top_k > 0 and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p  # mass before this token already >= p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


class Sampler:
    """Draw each token from ``softmax(logits / temperature)`` restricted by ``top_k`` / ``top_p``.

    temperature < 1 sharpens (towards greedy), > 1 flattens. ``generator`` (a seeded ``torch.Generator``)
    makes the draws reproducible. ``banned``: ids never drawn (padding, unknown).
    """

    def __init__(self, temperature: float = 1.0, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 generator: Optional[torch.Generator] = None, banned: Sequence[int] = ()):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 (use greedy decoding for the argmax), got {temperature}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.generator, self.banned = generator, list(banned)

    def __call__(self, logits: Tensor) -> Tensor:
        logits = ban(logits, self.banned) / self.temperature
        probs = filter_logits(logits, self.top_k, self.top_p).softmax(-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)


def ban(logits: Tensor, ids: Sequence[int]) -> Tensor:
    """``logits [B, V]`` with the given token ids made impossible."""
    if not ids:
        return logits
    logits = logits.clone()
    logits[:, list(ids)] = float("-inf")
    return logits


def decode(step: StepFn, state: Any, logits: Tensor, max_new_tokens: int, choose: ChooseFn,
           eos: Optional[int] = None, on_token: Optional[Callable[[Tensor], None]] = None) -> Tensor:
    """Pick ``max_new_tokens`` tokens one at a time, feeding each back through ``step``.

    state, logits [B, V]: after the prompt. eos: a sequence that produced it stops (it is kept; later
    positions repeat ``eos``), and decoding ends when all have. on_token(ids [B]) sees each new token as it
    is made (streaming). Returns ids ``[B, N]`` (N <= max_new_tokens).
    """
    out = []
    finished = torch.zeros(logits.size(0), dtype=torch.bool, device=logits.device)
    for t in range(max_new_tokens):
        ids = choose(logits)
        if eos is not None:
            ids = ids.masked_fill(finished, eos)
            finished = finished | (ids == eos)
        out.append(ids)
        if on_token is not None:
            on_token(ids)
        if (eos is not None and bool(finished.all())) or t == max_new_tokens - 1:
            break
        logits, state = step(ids, state)
    if not out:
        return logits.new_zeros(logits.size(0), 0, dtype=torch.long)
    return torch.stack(out, dim=1)


def greedy(step: StepFn, state: Any, logits: Tensor, max_new_tokens: int, eos: Optional[int] = None,
           on_token: Optional[Callable[[Tensor], None]] = None) -> Tensor:
    """Greedy decoding: the most likely token at every step. -> ids ``[B, N]``."""
    return decode(step, state, logits, max_new_tokens, greedy_choice, eos, on_token)


def sample(step: StepFn, state: Any, logits: Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: Optional[int] = None, top_p: Optional[float] = None, generator: Optional[torch.Generator] = None,
           eos: Optional[int] = None, banned: Sequence[int] = (),
           on_token: Optional[Callable[[Tensor], None]] = None) -> Tensor:
    """Ancestral sampling with temperature, top-k and top-p. -> ids ``[B, N]``."""
    return decode(step, state, logits, max_new_tokens, Sampler(temperature, top_k, top_p, generator, banned), eos, on_token)


def reorder_state(state: Any, index: Tensor) -> Any:
    """Select (and repeat) batch rows of a state: ``index [B']`` into dimension 1 of every tensor
    (``[layers, B, H]`` as nn.RNN/LSTM/GRU keep it). Beam search uses it to follow surviving hypotheses."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    return state.index_select(1, index)
