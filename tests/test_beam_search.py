"""Batched beam search: greedy at k = 1, exact against brute force, honest scores, batch-independent."""

import itertools

import pytest
import torch
from torch import nn

from seqkit.nn import RecurrentEncoder
from seqkit.nn.decoding import ban, beam_search, greedy, length_penalty

PAD, EOS = 0, 1


class TinyModel(nn.Module):
    """A random conditional GRU language model: a start vector per sequence, 5 tokens (pad, eos, a, b, c)."""

    def __init__(self, vocab=5, hidden=6, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(vocab, 4)
        self.rnn = RecurrentEncoder(4, hidden, "gru")
        self.head = nn.Linear(hidden, vocab)
        with torch.no_grad():
            self.head.weight.mul_(3)  # peaked enough that greedy and beam disagree

    def step(self, ids, state):
        y, state = self.rnn.step(self.embedding(ids), state)
        return self.head(y), state

    def start(self, batch, seed=1):
        g = torch.Generator().manual_seed(seed)
        state = torch.randn(1, batch, self.rnn.hidden_size, generator=g)
        return self.head(state[0]), state

    def log_prob(self, start_state, start_logits, tokens):
        """Teacher-forced log P(tokens) of one sequence (state [1, 1, H], logits [1, V])."""
        total, logits, state = 0.0, start_logits, start_state
        for i, tok in enumerate(tokens):
            total += float(logits.log_softmax(-1)[0, tok])
            if i < len(tokens) - 1:
                logits, state = self.step(torch.tensor([tok]), state)
        return total


@torch.no_grad()
def test_beam_of_one_is_greedy():
    model = TinyModel()
    logits, state = model.start(16)
    result = beam_search(model.step, state, logits, 12, beam_size=1, eos=EOS, banned=[PAD])
    expected = greedy(model.step, state, ban(logits, [PAD]), 12, eos=EOS)
    for row in range(16):
        n = int(result.lengths[row, 0])
        assert result.tokens[row, 0, :n].tolist() == expected[row, :n].tolist()
        assert n == expected.size(1) or expected[row, n - 1] == EOS


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@torch.no_grad()
def test_large_beam_finds_the_brute_force_best_and_reports_its_true_score(alpha):
    model, max_len = TinyModel(), 4
    logits, state = model.start(3)
    result = beam_search(model.step, state, logits, max_len, beam_size=40, eos=EOS, alpha=alpha, banned=[PAD], n_best=3)
    for row in range(3):
        s, lo = state[:, row : row + 1], logits[row : row + 1]
        scored = []
        for n in range(1, max_len + 1):  # every sequence ending in eos, or cut at the maximum length
            for body in itertools.product([2, 3, 4], repeat=n - 1):
                for last in [EOS, 2, 3, 4] if n == max_len else [EOS]:
                    seq = list(body) + [last]
                    lp = float(length_penalty(torch.tensor(n), alpha))
                    scored.append((model.log_prob(s, lo, seq) / lp, seq))
        scored.sort(key=lambda x: -x[0])
        for j in range(3):
            n = int(result.lengths[row, j])
            assert result.tokens[row, j, :n].tolist() == scored[j][1]
            assert float(result.scores[row, j]) == pytest.approx(scored[j][0], abs=1e-5)


@torch.no_grad()
def test_score_is_the_penalised_teacher_forced_log_probability():
    model = TinyModel(seed=3)
    logits, state = model.start(5, seed=4)
    result = beam_search(
        model.step,
        state,
        logits,
        torch.tensor([3, 6, 9, 12, 4]),
        beam_size=4,
        eos=EOS,
        alpha=0.6,
        banned=[PAD],
        n_best=2,
    )
    for row in range(5):
        for j in range(2):
            n = int(result.lengths[row, j])
            tokens = result.tokens[row, j, :n].tolist()
            assert n <= [3, 6, 9, 12, 4][row]
            lp = float(length_penalty(torch.tensor(n), 0.6))
            expected = model.log_prob(state[:, row : row + 1], logits[row : row + 1], tokens) / lp
            assert float(result.scores[row, j]) == pytest.approx(expected, abs=1e-5)
        assert result.scores[row, 0] >= result.scores[row, 1]


@torch.no_grad()
def test_a_sequence_decodes_the_same_alone_or_in_a_batch():
    model = TinyModel(seed=5)
    logits, state = model.start(6, seed=6)
    limits = torch.tensor([4, 9, 6, 12, 3, 8])
    together = beam_search(model.step, state, logits, limits, beam_size=3, eos=EOS, alpha=0.8, banned=[PAD])
    for row in range(6):
        alone = beam_search(
            model.step,
            state[:, row : row + 1],
            logits[row : row + 1],
            limits[row : row + 1],
            beam_size=3,
            eos=EOS,
            alpha=0.8,
            banned=[PAD],
        )
        n = int(alone.lengths[0, 0])
        assert together.lengths[row, 0] == n
        assert together.tokens[row, 0, :n].tolist() == alone.tokens[0, 0, :n].tolist()
        assert float(together.scores[row, 0]) == pytest.approx(float(alone.scores[0, 0]), abs=1e-5)
