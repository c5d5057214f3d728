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
``beam_search`` keeps several hypotheses per sequence as extra batch rows, reorders the state with
``reorder_state``, and returns a ``BeamResult`` (n-best tokens, lengths, length-penalised scores).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], Tuple[Tensor, Any]]  # (ids [B], state) -> (logits [B, V], state)
ChooseFn = Callable[[Tensor], Tensor]  # logits [B, V] -> ids [B]


def greedy_choice(logits: Tensor) -> Tensor:
    """The most likely token of each row (the ``choose`` rule of greedy decoding).

    Args:
        logits: ``[B, V]`` next-token scores.

    Returns:
        ``[B]`` token ids.
    """
    return logits.argmax(-1)


def filter_logits(logits: Tensor, top_k: Optional[int] = None, top_p: Optional[float] = None) -> Tensor:
    """Keep the ``top_k`` most likely tokens and/or the smallest set whose probability reaches ``top_p``
    (nucleus sampling, Holtzman et al. 2020); the rest get -inf. The most likely token is always kept.

    Args:
        logits: ``[B, V]`` next-token scores.
        top_k: tokens kept per row (None or 0: all). Default: None
        top_p: probability mass kept per row (None or 1: all). Default: None

    Returns:
        ``[B, V]`` the logits, -inf where filtered out.
    """
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
    """The ``choose`` rule of sampling: draw each token from ``softmax(logits / temperature)`` restricted by
    ``top_k`` / ``top_p``.

    Args:
        temperature: > 0; below 1 sharpens (towards greedy), above 1 flattens. Default: 1.0
        top_k: draw among the k most likely tokens only. Default: None (all)
        top_p: draw among the smallest set of tokens reaching this probability (nucleus). Default: None (all)
        generator: a seeded ``torch.Generator``, for reproducible draws. Default: None (torch's global one)
        banned: ids never drawn (padding, unknown). Default: ()

    Inputs: logits, the next-token scores.
    Outputs: the drawn token ids.

    Shape:
        - logits: ``[B, V]``; output: ``[B]`` long
    """

    def __init__(
        self,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        banned: Sequence[int] = (),
    ):
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
    """The logits with the given token ids made impossible (-inf).

    Args:
        logits: ``[B, V]`` next-token scores (not modified).
        ids: the token ids to ban.

    Returns:
        ``[B, V]`` a copy with -inf at ``ids`` (``logits`` itself when ``ids`` is empty).
    """
    if not ids:
        return logits
    logits = logits.clone()
    logits[:, list(ids)] = float("-inf")
    return logits


def decode(
    step: StepFn,
    state: Any,
    logits: Tensor,
    max_new_tokens: int,
    choose: ChooseFn,
    eos: Optional[int] = None,
    on_token: Optional[Callable[[Tensor], None]] = None,
) -> Tensor:
    """Pick ``max_new_tokens`` tokens one at a time, feeding each back through ``step``.

    Args:
        step: ``(ids [B], state) -> (logits [B, V], state)``, one token per sequence.
        state: the model's state after the prompt.
        logits: ``[B, V]`` the next-token scores after the prompt.
        max_new_tokens: the most tokens picked.
        choose: ``logits [B, V] -> ids [B]`` (``greedy_choice``, a ``Sampler``).
        eos: a sequence that produces it stops (it is kept; later positions repeat ``eos``), and decoding ends
            when all have. Default: None
        on_token: called with each new ``ids [B]`` as it is made (streaming). Default: None

    Returns:
        ``[B, N]`` long, the new tokens (N <= max_new_tokens).
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


def greedy(
    step: StepFn,
    state: Any,
    logits: Tensor,
    max_new_tokens: int,
    eos: Optional[int] = None,
    on_token: Optional[Callable[[Tensor], None]] = None,
) -> Tensor:
    """Greedy decoding: the most likely token at every step.

    Args:
        step, state, logits, max_new_tokens, eos, on_token: as for ``decode``.

    Returns:
        ``[B, N]`` long, the new tokens.
    """
    return decode(step, state, logits, max_new_tokens, greedy_choice, eos, on_token)


def sample(
    step: StepFn,
    state: Any,
    logits: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
    eos: Optional[int] = None,
    banned: Sequence[int] = (),
    on_token: Optional[Callable[[Tensor], None]] = None,
) -> Tensor:
    """Ancestral sampling with temperature, top-k and top-p.

    Args:
        step, state, logits, max_new_tokens, eos, on_token: as for ``decode``.
        temperature, top_k, top_p, generator, banned: as for ``Sampler``.

    Returns:
        ``[B, N]`` long, the new tokens.
    """
    return decode(
        step, state, logits, max_new_tokens, Sampler(temperature, top_k, top_p, generator, banned), eos, on_token
    )


def reorder_state(state: Any, index: Tensor) -> Any:
    """Select (and repeat) batch rows of a state; beam search uses it to follow surviving hypotheses.

    Args:
        state: None, a tensor with the batch in dimension 1 (``[layers, B, H]`` as nn.RNN/LSTM/GRU keep it), or a
            tuple / list of such states (nested).
        index: ``[B']`` long, the rows to keep, in order (repeats allowed).

    Returns:
        the state of the same structure with ``B'`` rows.
    """
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    return state.index_select(1, index)


# ---- beam search ---------------------------------------------------------------------------------------------


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty (Wu et al. 2016): ``((5 + |Y|) / 6) ** alpha``; a hypothesis scores log P(Y) / lp(|Y|).

    Args:
        lengths: hypothesis lengths, any shape.
        alpha: 0: plain log-probability (favours short outputs); larger alpha favours longer ones.

    Returns:
        float tensor of the shape of ``lengths``.
    """
    return ((5.0 + lengths.to(torch.float)) / 6.0) ** alpha


class BeamResult:
    """What ``beam_search`` returns: the ``n_best`` hypotheses of each sequence, best first.

    Args:
        tokens: the hypotheses' token ids, padded after each hypothesis.
        lengths: tokens of each hypothesis including the final ``eos`` (a hypothesis cut at the maximum length
            has no ``eos``).
        scores: sum of token log-probabilities / ``length_penalty(length)``.

    Shape:
        - tokens: ``[B, n, N]`` long; lengths: ``[B, n]`` long; scores: ``[B, n]``; ``best()``: ``[B, N]``
    """

    def __init__(self, tokens: Tensor, lengths: Tensor, scores: Tensor):
        self.tokens, self.lengths, self.scores = tokens, lengths, scores

    def best(self) -> Tensor:
        """Top hypothesis of each sequence: ids [B, N]."""
        return self.tokens[:, 0]


def beam_search(
    step: StepFn,
    state: Any,
    logits: Tensor,
    max_new_tokens: Any,
    beam_size: int,
    eos: int,
    alpha: float = 0.0,
    n_best: int = 1,
    banned: Sequence[int] = (),
    pad: int = 0,
) -> BeamResult:
    """Batched beam search: B sequences x ``beam_size`` hypotheses as B*k rows of one step call, no loop over
    sequences.

    Each step extends every live hypothesis by every token and keeps the best 2k candidates: those ending in
    ``eos`` among the best k become finished; the best k others stay live (with k = 1 this is greedy
    decoding). Finished hypotheses are kept until no live one can beat them: a live score can only fall
    (log-probabilities are <= 0) while the penalty, monotone in the length, is bounded by the maximum length,
    so ``cum / lp(L)`` at the two ends of the remaining lengths bounds every completion, also when alpha > 0
    rewards length. A sequence is done when it has ``n_best`` finished hypotheses no live one can beat.

    Args:
        step: ``(ids [B*k], state) -> (logits [B*k, V], state)``; the state keeps the batch in dimension 1.
        state: the state after the prompt (a decoder's BOS step).
        logits: ``[B, V]`` the next-token scores after the prompt.
        max_new_tokens: an int or ``[B]`` longs (a maximum per sequence, e.g. a ratio of its source length); a
            hypothesis that reaches it without ``eos`` is finished as it is.
        beam_size: hypotheses kept per sequence (k).
        eos: the end token.
        alpha: ``length_penalty``'s alpha. Default: 0.0
        n_best: hypotheses returned per sequence (at most ``beam_size``). Default: 1
        banned: ids never produced. Default: ()
        pad: the id that pads ``BeamResult.tokens``. Default: 0

    Returns:
        ``BeamResult`` (tokens ``[B, n_best, N]``, lengths and scores ``[B, n_best]``).
    """
    batch, vocab = logits.shape
    k, n_best = beam_size, min(n_best, beam_size)
    if n_best < 1 or k < 1:
        raise ValueError(f"beam_size and n_best must be >= 1, got {beam_size} and {n_best}")
    device = logits.device
    limits = torch.as_tensor(max_new_tokens, device=device).expand(batch).clone().clamp(min=1)
    longest = int(limits.max())
    rows = torch.arange(batch, device=device)
    state = reorder_state(state, rows.repeat_interleave(k))
    logits = logits.repeat_interleave(k, dim=0)
    cum = torch.full((batch, k), float("-inf"), device=device)
    cum[:, 0] = 0.0  # k copies of the start; only one may extend, so the first step keeps k distinct tokens
    history = torch.full((batch, k, longest), pad, dtype=torch.long, device=device)
    pool_tokens = torch.full((batch, n_best, longest), pad, dtype=torch.long, device=device)
    pool_scores = torch.full((batch, n_best), float("-inf"), device=device)
    pool_lengths = torch.zeros(batch, n_best, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    width = min(2 * k, k * vocab)

    def add_to_pool(scores: Tensor, tokens: Tensor, length: int) -> None:
        """scores [B, m] (-inf: not finished), tokens [B, m, longest]: merge into the pool, keep the n best."""
        nonlocal pool_tokens, pool_scores, pool_lengths
        scores = scores.masked_fill(done[:, None], float("-inf"))
        all_scores = torch.cat([pool_scores, scores], 1)
        all_tokens = torch.cat([pool_tokens, tokens], 1)
        all_lengths = torch.cat([pool_lengths, torch.full_like(scores, length, dtype=torch.long)], 1)
        pool_scores, top = all_scores.topk(n_best, dim=1)  # stable for ties: earlier (pool) entries first
        pool_tokens = all_tokens.gather(1, top[:, :, None].expand(-1, -1, longest))
        pool_lengths = all_lengths.gather(1, top)

    for t in range(longest):
        logp = ban(logits.log_softmax(-1), banned).view(batch, k, vocab)
        candidates = (cum[:, :, None] + logp).view(batch, k * vocab)
        top_scores, top_index = candidates.topk(width, dim=1)  # [B, 2k], best first
        beam, token = top_index // vocab, top_index % vocab
        paths = history.gather(1, beam[:, :, None].expand(-1, -1, longest)).clone()
        paths[:, :, t] = token
        length = t + 1
        lp = float(length_penalty(torch.tensor(length), alpha))
        finished = (token == eos) & (torch.arange(width, device=device) < k)[None] & top_scores.isfinite()
        add_to_pool(torch.where(finished, top_scores / lp, float("-inf")), paths, length)
        # the best k candidates that do not end in eos stay live
        live_scores, live_pick = top_scores.masked_fill(token == eos, float("-inf")).topk(k, dim=1)
        cum = live_scores
        history = paths.gather(1, live_pick[:, :, None].expand(-1, -1, longest))
        beam, token = beam.gather(1, live_pick), token.gather(1, live_pick)
        at_limit = limits == length
        if bool(at_limit.any()):  # hypotheses that reached their maximum length finish without eos
            add_to_pool(torch.where(at_limit[:, None], cum / lp, float("-inf")), history, length)
            done = done | at_limit
        best_live = torch.maximum(cum / lp, cum / length_penalty(limits, alpha)[:, None]).max(1).values
        best_live = best_live.masked_fill(~cum.isfinite().any(1), float("-inf"))
        done = done | (pool_scores[:, -1] >= best_live)
        if bool(done.all()):
            break
        state = reorder_state(state, (rows[:, None] * k + beam).flatten())
        logits, state = step(token.flatten(), state)
    width_used = int(pool_lengths.max().clamp(min=1))
    return BeamResult(pool_tokens[:, :, :width_used], pool_lengths, pool_scores)
