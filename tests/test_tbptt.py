"""Truncated BPTT, exactly: streams and chunks, carried state equals one pass, gradients stop at a chunk
boundary, and carried state learns a dependency longer than a chunk that reset state cannot."""
import random

import pytest
import torch
import torch.nn.functional as F

from seqkit.data.batch import IGNORE_INDEX
from seqkit.data.language_modeling import TBPTTChunks, jittered_lengths, split_streams
from seqkit.models import LanguageModel


def tiny_lm(cell="lstm", layers=2, vocab=11, hidden=12, **kw):
    torch.manual_seed(0)
    return LanguageModel(vocab, embedding_dim=6, backbone=dict(cell=cell, hidden_size=hidden, num_layers=layers), **kw).eval()


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
    row0 = torch.cat([c.tokens[0, :int(c.lengths[0])] for c in chunks])
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
        logits, state = model(batch.tokens, batch.lengths, model._carried(state, len(batch)))
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
        logits, state = model(batch.tokens, batch.lengths, model._carried(state, len(batch)))
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


def training_step_trace(model, chunks):
    model.on_train_epoch_start()
    return [model.training_step(batch, i) for i, batch in enumerate(chunks)]


def long_range_stream(n_segments: int, gap: int, seed: int) -> torch.Tensor:
    """Segments ``k f f ... f k``: a key (2 or 3) then ``gap`` random fillers (4..7), then the same key again.
    Predicting the second key needs memory of a token ``gap + 1`` steps back; everything else is noise."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_segments):
        key = rng.choice([2, 3])
        out += [key] + [rng.randint(4, 7) for _ in range(gap)] + [key]
    return torch.tensor(out)


def key_accuracy(model, ids, gap):
    """Share of second keys predicted right, reading the whole stream in one pass (the text's own memory)."""
    with torch.no_grad():
        logits, _ = model(ids[None, :-1], torch.tensor([ids.numel() - 1]))
    seg = gap + 2
    positions = torch.arange(seg - 2, ids.numel() - 1, seg)  # input positions whose next token is a repeated key
    return (logits[0, positions].argmax(-1) == ids[positions + 1]).float().mean().item()


def train_lm(carry: bool, ids, bptt: int, epochs: int) -> LanguageModel:
    torch.manual_seed(0)
    model = LanguageModel(8, embedding_dim=8, backbone=dict(cell="lstm", hidden_size=24), dropout=0.0)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    chunks = TBPTTChunks(ids, 8, bptt=bptt)
    for _ in range(epochs):
        state = None
        for batch in chunks:
            logits, state = model(batch.tokens, batch.lengths, model._carried(state, len(batch)) if carry else None)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return model.eval()


def test_carried_state_learns_a_dependency_longer_than_bptt_and_reset_state_does_not():
    gap, bptt = 6, 4  # the key comes back 7 steps later; a chunk is 4 steps
    train, test = long_range_stream(400, gap, 0), long_range_stream(100, gap, 1)
    carried = key_accuracy(train_lm(True, train, bptt, epochs=12), test, gap)
    reset = key_accuracy(train_lm(False, train, bptt, epochs=12), test, gap)
    assert carried > 0.95, carried
    assert reset < 0.75, reset  # chance is 0.5: within a chunk the key is never visible
