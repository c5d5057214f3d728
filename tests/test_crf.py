"""Tests for seqkit.nn.crf: forward algorithm, Viterbi and constraints checked against brute force."""

import io
import itertools

import pytest
import torch

from seqkit.nn.crf import CONSTRAINT_PENALTY, CRF, iob_constraints

DT = torch.float64


def make_crf(k, constraints=None, seed=0):
    torch.manual_seed(seed)
    crf = CRF(k, constraints).to(DT)
    with torch.no_grad():  # larger than the default init so paths differ clearly
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    return crf


def make_batch(lengths, k, seed=1):
    torch.manual_seed(seed)
    b, t = len(lengths), max(lengths)
    emissions = torch.randn(b, t, k, dtype=DT)
    mask = torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]
    tags = torch.randint(0, k, (b, t)).masked_fill(~mask, -100)
    return emissions, mask, tags


def path_score(crf, em, path):
    """Independent scalar implementation of the CRF path score (em: [L, K], path: tuple of L tags)."""
    trans = crf.transitions + crf.transition_penalty
    start = crf.start + crf.start_penalty
    end = crf.end + crf.end_penalty
    s = start[path[0]] + end[path[-1]]
    for i, y in enumerate(path):
        s = s + em[i, y]
    for a, b in zip(path[:-1], path[1:]):
        s = s + trans[a, b]
    return s


def all_scores(crf, em, length, valid=None):
    """Scores of all K^L paths (optionally only those with valid(path)), as (paths, tensor)."""
    k = em.size(-1)
    paths = [p for p in itertools.product(range(k), repeat=length) if valid is None or valid(p)]
    return paths, torch.stack([path_score(crf, em[:length], p) for p in paths])


LENGTHS = [4, 2, 1, 3]


@pytest.mark.parametrize("k", [3, 4])
def test_log_partition_brute_force(k):
    crf = make_crf(k)
    em, mask, _ = make_batch(LENGTHS, k)
    logz = crf.log_partition(em, mask)
    assert logz.shape == (len(LENGTHS),)
    for b, length in enumerate(LENGTHS):
        _, scores = all_scores(crf, em[b], length)
        torch.testing.assert_close(logz[b], torch.logsumexp(scores, 0))


@pytest.mark.parametrize("k", [3, 4])
def test_viterbi_brute_force(k):
    crf = make_crf(k)
    em, mask, _ = make_batch(LENGTHS, k)
    tags, best = crf.viterbi(em, mask)
    assert tags.shape == mask.shape and tags.dtype == torch.long
    assert (tags[~mask] == 0).all()
    torch.testing.assert_close(crf(em, mask), tags)
    for b, length in enumerate(LENGTHS):
        paths, scores = all_scores(crf, em[b], length)
        i = int(scores.argmax())
        assert tuple(tags[b, :length].tolist()) == paths[i]
        torch.testing.assert_close(best[b], scores[i])


def test_nll_and_gradients():
    k = 4
    crf = make_crf(k)
    em, mask, tags = make_batch(LENGTHS, k)
    em.requires_grad_(True)
    nll = crf.nll(em, tags, mask, reduction="none")
    expected = crf.log_partition(em, mask) - crf.score(em, tags, mask)
    torch.testing.assert_close(nll, expected)
    assert (nll >= 0).all()
    # gold score agrees with the scalar reference, garbage (-100) in padding ignored
    for b, length in enumerate(LENGTHS):
        ref = path_score(crf, em[b], tuple(tags[b, :length].tolist()))
        torch.testing.assert_close(crf.score(em, tags, mask)[b], ref)
    torch.testing.assert_close(crf.nll(em, tags, mask), nll.mean())
    torch.testing.assert_close(crf.nll(em, tags, mask, reduction="sum"), nll.sum())
    with pytest.raises(ValueError):
        crf.nll(em, tags, mask, reduction="bogus")

    crf.nll(em, tags, mask).backward()
    for p in (crf.transitions, crf.start, crf.end, em):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert (em.grad[~mask] == 0).all()  # padding does not influence the loss


def test_float32_default_dtype():
    crf = CRF(3)
    em, mask, tags = make_batch(LENGTHS, 3)
    em = em.float()
    assert crf.nll(em, tags, mask).dtype == torch.float32
    assert crf.log_partition(em, mask).dtype == torch.float32
    tags_hat, best = crf.viterbi(em, mask)
    assert best.dtype == torch.float32
    torch.testing.assert_close(crf.score(em, tags_hat, mask), best)


def test_padding_invariance():
    k = 4
    crf = make_crf(k)
    em, mask, tags = make_batch(LENGTHS, k)
    em = em.clone()
    em[~mask] = 1e3 * torch.randn(int((~mask).sum()), k, dtype=DT)  # garbage in padded emissions
    logz = crf.log_partition(em, mask)
    vtags, vbest = crf.viterbi(em, mask)
    nll = crf.nll(em, tags, mask, reduction="none")
    for b, length in enumerate(LENGTHS):
        e1 = em[b : b + 1, :length]
        m1 = torch.ones(1, length, dtype=torch.bool)
        t1 = tags[b : b + 1, :length]
        torch.testing.assert_close(crf.log_partition(e1, m1)[0], logz[b])
        t_alone, s_alone = crf.viterbi(e1, m1)
        assert torch.equal(t_alone[0], vtags[b, :length])
        torch.testing.assert_close(s_alone[0], vbest[b])
        torch.testing.assert_close(crf.nll(e1, t1, m1, reduction="none")[0], nll[b])


LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def valid_iob2(path, labels=LABELS):
    prev = "O"
    for y in path:
        lab = labels[y]
        if lab.startswith("I-") and prev[2:] != lab[2:]:
            return False
        prev = lab
    return True


def test_iob_constraints_entries():
    allowed, start, end = iob_constraints(LABELS)
    o, bp, ip, bl, il = range(5)
    assert start.tolist() == [True, True, False, True, False]
    assert end.all()
    expected = torch.ones(5, 5, dtype=torch.bool)
    expected[[o, bl, il], ip] = False  # I-PER only after B-PER / I-PER
    expected[[o, bp, ip], il] = False
    assert torch.equal(allowed, expected)

    # IOBES grammar, plus an unconstrained pad label
    labels = ["<pad>", "O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
    allowed, start, end = iob_constraints(labels, scheme="iobes")
    idx = {lab: i for i, lab in enumerate(labels)}
    assert allowed[idx["<pad>"]].all() and allowed[:, idx["<pad>"]].all()
    assert start.tolist() == [True, True, True, False, False, True, True, False]
    assert end.tolist() == [True, True, False, False, True, True, False, True]

    def ok(a, b):
        return bool(allowed[idx[a], idx[b]])

    assert ok("B-X", "I-X") and ok("B-X", "E-X") and not ok("B-X", "O") and not ok("B-X", "E-Y")
    assert ok("I-X", "E-X") and not ok("I-X", "B-X") and not ok("I-X", "S-X")
    for a in ("O", "E-X", "S-X", "E-Y"):
        assert ok(a, "O") and ok(a, "B-Y") and ok(a, "S-X") and not ok(a, "I-X") and not ok(a, "E-Y")
    with pytest.raises(ValueError):
        iob_constraints(labels, scheme="bilou")


def test_constrained_viterbi_valid_and_brute_force():
    k = len(LABELS)
    crf = make_crf(k, iob_constraints(LABELS))
    # many random sentences: decoded paths must always obey IOB2
    torch.manual_seed(3)
    lengths = torch.randint(1, 9, (200,))
    em = 3 * torch.randn(200, 8, k, dtype=DT)
    em[:, :, [2, 4]] += 2.0  # push towards I- tags so violations would be likely without constraints
    mask = torch.arange(8)[None, :] < lengths[:, None]
    tags, _ = crf.viterbi(em, mask)
    for b in range(200):
        assert valid_iob2(tags[b, : lengths[b]].tolist())
    unconstrained = CRF(k).to(DT)
    unconstrained.load_state_dict({n: v for n, v in crf.state_dict().items() if "penalty" not in n}, strict=False)
    raw, _ = unconstrained.viterbi(em, mask)
    assert not all(valid_iob2(raw[b, : lengths[b]].tolist()) for b in range(200))  # test is meaningful

    # brute force restricted to valid paths
    em, mask, _ = make_batch(LENGTHS, k)
    logz = crf.log_partition(em, mask)
    tags, best = crf.viterbi(em, mask)
    for b, length in enumerate(LENGTHS):
        paths, scores = all_scores(crf, em[b], length, valid=valid_iob2)
        i = int(scores.argmax())
        assert tuple(tags[b, :length].tolist()) == paths[i]
        torch.testing.assert_close(best[b], scores[i])
        torch.testing.assert_close(logz[b], torch.logsumexp(scores, 0))


def test_state_dict_roundtrip():
    k = len(LABELS)
    crf = make_crf(k, iob_constraints(LABELS))
    sd = crf.state_dict()
    for name in ("transitions", "start", "end", "transition_penalty", "start_penalty", "end_penalty"):
        assert name in sd
    assert (sd["transition_penalty"] == CONSTRAINT_PENALTY).sum() == 6  # 3 + 3 bad moves into I-
    assert "transition_penalty" in dict(crf.named_buffers())

    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = CRF(k).to(DT)  # constructed without constraints: they come back from the state dict
    loaded.load_state_dict(torch.load(buf))
    em, mask, tags = make_batch(LENGTHS, k)
    torch.testing.assert_close(loaded.log_partition(em, mask), crf.log_partition(em, mask), rtol=0, atol=0)
    torch.testing.assert_close(loaded.nll(em, tags, mask), crf.nll(em, tags, mask), rtol=0, atol=0)
    t1, s1 = loaded.viterbi(em, mask)
    t2, s2 = crf.viterbi(em, mask)
    assert torch.equal(t1, t2) and torch.equal(s1, s2)
