"""Truncated BPTT, exactly: streams and chunks, carried state equals one pass, gradients stop at a chunk
boundary, and carried state learns a dependency longer than a chunk that reset state cannot."""

import random

import pytest
import torch
import torch.nn.functional as F

from seqkit.data.batch import IGNORE_INDEX
from seqkit.tasks.language_model.network import STATE
from seqkit.tasks.language_model.network import LanguageModelNetwork as LanguageModel
from seqkit.tasks.language_model.tbptt import TBPTTChunks, jittered_lengths, split_streams


def tiny_lm(cell="lstm", layers=2, vocab=11, hidden=12, **kw):
    torch.manual_seed(0)
    return LanguageModel(
        vocab, embedding_dim=6, backbone=dict(cell=cell, hidden_size=hidden, num_layers=layers), **kw
    ).eval()


def test_streams_are_contiguous_and_every_token_but_the_first_is_a_target_once():
    ids = torch.arange(23)
    inputs, targets, lengths = split_streams(ids, 4)
    assert lengths.tolist() == [6, 6, 5, 5]  # 22 targets, sizes differ by at most one
    got = torch.cat([targets[i, :n] for i, n in enumerate(lengths.tolist())])
    assert got.tolist() == list(range(1, 23))
    for i, n in enumerate(lengths.tolist()):
        assert (targets[i, :n] == inputs[i, :n] + 1).all()  # the next token of the same stream
        assert (targets[i, n:] == IGNORE_INDEX).all()


def test_chunks_walk_each_stream_in_order_bptt_steps_at_a_time():
    ids = torch.arange(50)
    chunks = list(TBPTTChunks(ids, 3, bptt=5))
    assert len(chunks) == len(TBPTTChunks(ids, 3, bptt=5)) == 4  # 49 targets -> 17, 16, 16 steps
    assert [c.tokens.size(1) for c in chunks] == [5, 5, 5, 2]
    row0 = torch.cat([c.tokens[0, : int(c.lengths[0])] for c in chunks])
    assert row0.tolist() == list(range(17))
    assert chunks[-1].lengths.tolist() == [2, 1, 1] and (chunks[-1].labels[1:, 1] == IGNORE_INDEX).all()
    last = list(TBPTTChunks(ids, 3, bptt=8))[-1]  # steps 16..: only stream 0 has one left
    assert last.lengths.tolist() == [1, 1, 1] and last.labels[0].tolist() == [17]
    assert (last.labels[1:] == IGNORE_INDEX).all()  # streams that ended: length 1, nothing scored


def test_jittered_lengths_cover_the_stream_and_vary():
    rng = random.Random(0)
    lengths = jittered_lengths(1000, 30, rng)
    assert sum(lengths) == 1000 and min(lengths[:-1]) >= 5 and len(set(lengths)) > 3
    chunks = TBPTTChunks(torch.arange(500), 2, bptt=20, jitter=True, seed=1)
    first, second = [c.tokens.size(1) for c in chunks], [c.tokens.size(1) for c in chunks]
    assert first != second  # boundaries move from epoch to epoch


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_state_over_chunks_equals_one_pass_over_the_whole_stream(cell):
    model = tiny_lm(cell)
    ids = torch.randint(2, 11, (203,))
    inputs, targets, lengths = split_streams(ids, 4)
    whole, _ = model(inputs, lengths)  # one forward over each whole stream
    state, pieces = None, []
    for batch in TBPTTChunks(ids, 4, bptt=7):
        logits, state = model(batch.tokens, batch.lengths, model._carry_over(state, len(batch)))
        pieces.append(logits)
    chunked = torch.cat(pieces, dim=1)
    real = targets != IGNORE_INDEX
    assert torch.allclose(chunked[real], whole[real], atol=1e-5)


def test_no_gradient_reaches_a_previous_chunk():
    model = tiny_lm().train()
    chunks = list(TBPTTChunks(torch.randint(2, 11, (101,)), 2, bptt=10))
    embedded = []
    original = model.embedding.forward

    def spy(ids):  # keep every chunk's embedded inputs so we can ask what gradient reached them
        out = original(ids)
        out.retain_grad()
        embedded.append(out)
        return out

    model.embedding.forward = spy
    state = None
    for batch in chunks[:2]:
        logits, state = model(batch.tokens, batch.lengths, model._carry_over(state, len(batch)))
    loss = F.cross_entropy(logits.flatten(0, 1), chunks[1].labels.flatten(), ignore_index=IGNORE_INDEX)
    loss.backward()
    assert embedded[0].grad is None  # the graph of chunk 0 was cut off: no gradient flows there
    assert embedded[1].grad is not None and embedded[1].grad.abs().sum() > 0
    # and without detaching, it would have
    model.zero_grad()
    embedded.clear()
    state = None
    for batch in chunks[:2]:
        logits, state = model(batch.tokens, batch.lengths, state)
    F.cross_entropy(logits.flatten(0, 1), chunks[1].labels.flatten(), ignore_index=IGNORE_INDEX).backward()
    assert embedded[0].grad is not None and embedded[0].grad.abs().sum() > 0


MODES, QUERY, ANSWERS, FILLERS = (2, 3), 4, {2: 5, 3: 6}, (7, 8, 9)


def long_range_stream(n_segments: int, seg: int, seed: int):
    """Segments of ``seg`` tokens: a mode (2 or 3), random fillers, and once, at a random distance d from
    the mode, a query 4 whose next token is the mode's answer (5 or 6). -> (ids [N], [(query position, d)])."""
    rng = random.Random(seed)
    ids, queries = [], []
    for _ in range(n_segments):
        mode, d = rng.choice(MODES), rng.randint(1, seg - 3)
        segment = [mode] + [rng.choice(FILLERS) for _ in range(seg - 1)]
        segment[d], segment[d + 1] = QUERY, ANSWERS[mode]
        queries.append((len(ids) + d, d))
        ids += segment
    return torch.tensor(ids), queries


def train_lm(carry: bool, ids, bptt: int, epochs: int) -> LanguageModel:
    torch.manual_seed(0)
    model = LanguageModel(10, embedding_dim=8, backbone=dict(cell="lstm", hidden_size=24)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    chunks = TBPTTChunks(ids, 16, bptt=bptt)
    for _ in range(epochs):
        state = None
        for batch in chunks:  # the TaskModule protocol: loss(batch, state) returns the state to carry, detached
            out = model.loss(batch, state if carry else None)
            loss, state = out["loss"], out[STATE]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def far_answer_accuracy(model, ids, queries, bptt: int, carry: bool) -> float:
    """Accuracy on the answers whose mode lies more than ``bptt`` steps back (never in the query's chunk),
    reading the stream in chunks of ``bptt`` the way the model was trained (state carried or reset)."""
    predictions, state = [], None
    with torch.no_grad():
        for start in range(0, ids.numel() - 1, bptt):
            chunk = ids[None, start : min(start + bptt, ids.numel() - 1)]
            logits, state = model(chunk, torch.tensor([chunk.size(1)]), state if carry else None)
            predictions.append(logits[0].argmax(-1))
    predictions = torch.cat(predictions)
    far = [(p, d) for p, d in queries if d > bptt]
    return sum(int(predictions[p] == ids[p + 1]) for p, _ in far) / len(far)


def test_carried_state_learns_a_dependency_longer_than_bptt_and_reset_state_does_not():
    bptt = 4  # modes come back up to 9 steps later
    train_ids, _ = long_range_stream(500, 12, 0)
    test_ids, queries = long_range_stream(200, 12, 1)
    carried = far_answer_accuracy(train_lm(True, train_ids, bptt, 6), test_ids, queries, bptt, carry=True)
    reset = far_answer_accuracy(train_lm(False, train_ids, bptt, 6), test_ids, queries, bptt, carry=False)
    print(carried, reset)
    assert carried > 0.9, carried
    assert reset < 0.7, reset  # chance is 0.5: without the carried state the mode is out of sight
