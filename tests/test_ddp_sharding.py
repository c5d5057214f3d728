"""How training data is shared among DDP processes (in-process: rank and number of processes passed explicitly).

Bucketed and shuffled batches: every rank runs the same number of steps on disjoint examples, and step k of
all ranks together is step k of one process with ``num_replicas`` times the batch size (what makes DDP's
averaged gradient that process's gradient). Language model: each rank gets its own contiguous streams, the
ranks' streams together are one process's, and carried state over a rank's chunks is one pass over its streams.
"""

import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from seqkit.data.batch import IGNORE_INDEX
from seqkit.data.sampler import BucketBatchSampler, ShuffleSampler
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.language_model.network import STATE, LanguageModelNetwork
from seqkit.tasks.language_model.tbptt import TBPTTChunks, split_streams


def random_lengths(n, seed=0):
    rng = random.Random(seed)
    return [rng.randint(1, 60) for _ in range(n)]


@pytest.mark.parametrize(
    "n,batch_size,world,drop_last",
    [
        (1000, 16, 2, False),
        (1000, 16, 3, False),
        (97, 5, 2, False),
        (97, 5, 4, True),
        (65, 8, 2, False),  # 65 = 4 * 16 + 1: the last global batch (1 example) joins the one before it
        (67, 8, 4, False),  # 67 = 2 * 32 + 3: 3 examples cannot feed 4 ranks -> merged
    ],
)
def test_bucketed_ranks_split_the_global_batches_of_one_process(n, batch_size, world, drop_last):
    lengths = random_lengths(n)
    kwargs = dict(shuffle=True, pool_batches=3, drop_last=drop_last, seed=5)
    one = BucketBatchSampler(lengths, batch_size * world, **kwargs)  # one process, world x the batch
    ranks = [BucketBatchSampler(lengths, batch_size, num_replicas=world, rank=r, **kwargs) for r in range(world)]
    for epoch in (0, 1):
        for sampler in [one, *ranks]:
            sampler.set_epoch(epoch)
        global_batches, shares = list(one), [list(s) for s in ranks]
        rest = n % (batch_size * world)
        merged = not drop_last and 0 < rest < world
        steps = {len(s) for s in shares}
        assert steps == {len(ranks[0])} == {len(global_batches) - merged}  # every rank the same steps (else DDP hangs)
        assert all(len(b) >= 1 for s in shares for b in s)
        seen = Counter(i for s in shares for b in s for i in b)
        assert max(seen.values()) == 1  # disjoint
        if not drop_last:
            assert set(seen) == set(range(n))  # nothing dropped
        if merged:
            continue
        for k, parts in enumerate(zip(*shares)):  # step k of all ranks = step k of one process, in near-equal shares
            assert sorted(i for part in parts for i in part) == sorted(global_batches[k])
            assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_one_process_is_unchanged_by_sharding():
    lengths = random_lengths(300)
    plain = list(BucketBatchSampler(lengths, 16, seed=3))
    assert list(BucketBatchSampler(lengths, 16, seed=3, num_replicas=1, rank=0)) == plain
    assert list(ShuffleSampler(40, seed=3, num_replicas=1, rank=0)) == list(ShuffleSampler(40, seed=3))


def test_a_rank_gets_a_spread_of_lengths_not_the_short_or_long_half():
    lengths = random_lengths(2000, seed=1)
    ranks = [list(BucketBatchSampler(lengths, 16, num_replicas=2, rank=r, seed=0)) for r in (0, 1)]
    tokens = [sum(lengths[i] for b in s for i in b) for s in ranks]
    assert abs(tokens[0] - tokens[1]) / sum(tokens) < 0.02  # balanced work: strided shares of sorted batches


@pytest.mark.parametrize("n,world", [(64, 2), (65, 2), (50, 3)])
def test_shuffled_ranks_split_the_batches_of_one_process(n, world):
    batch = 4
    one = [b.tolist() for b in DataLoader(range(n), batch_size=batch * world, sampler=ShuffleSampler(n, seed=2))]
    shares = [
        [
            b.tolist()
            for b in DataLoader(
                range(n), batch_size=batch, sampler=ShuffleSampler(n, seed=2, num_replicas=world, rank=r)
            )
        ]
        for r in range(world)
    ]
    assert len({len(s) for s in shares}) == 1  # same number of steps
    assert len(shares[0]) == len(ShuffleSampler(n, num_replicas=world, rank=0)) // batch + bool(-(-n // world) % batch)
    flat = [i for s in shares for b in s for i in b]
    assert set(flat) == set(range(n))
    assert len(flat) - n == (-n) % world  # only padding repeats (as torch's DistributedSampler): fewer than world
    for k, parts in enumerate(zip(*shares)):
        together = sorted(i for part in parts for i in part)
        if k < n // (batch * world):  # a full global batch
            assert together == sorted(one[k])
        else:  # the last one, padded with repeats of the epoch's first examples
            assert set(one[k]) <= set(together) and set(together) - set(one[k]) <= set(one[0])


def test_invalid_rank():
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2, 3], 2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="rank"):
        TBPTTChunks(torch.arange(50), 2, bptt=5, num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="cannot be shared"):
        BucketBatchSampler([1, 2, 3], 2, num_replicas=4, rank=0)


@pytest.mark.parametrize("jitter", [False, True])
def test_lm_ranks_hold_their_own_contiguous_streams_in_step(jitter):
    ids, streams, world = torch.arange(301), 3, 2
    one = list(TBPTTChunks(ids, streams * world, bptt=7, jitter=jitter, seed=4))
    ranks = [
        list(TBPTTChunks(ids, streams, bptt=7, jitter=jitter, seed=4, num_replicas=world, rank=r)) for r in range(world)
    ]
    assert len(ranks[0]) == len(ranks[1]) == len(one)  # same number of steps, same chunk lengths
    for k, chunk in enumerate(one):
        assert torch.equal(torch.cat([ranks[0][k].tokens, ranks[1][k].tokens]), chunk.tokens)
        assert torch.equal(torch.cat([ranks[0][k].labels, ranks[1][k].labels]), chunk.labels)
    for r, chunks in enumerate(ranks):
        for row in range(streams):  # a row of a rank continues itself from chunk to chunk: one piece of the text
            targets = torch.cat([c.labels[row] for c in chunks])
            targets = targets[targets != IGNORE_INDEX]
            assert torch.equal(targets, torch.arange(int(targets[0]), int(targets[0]) + len(targets)))
    firsts = [int(c[0].labels[row, 0]) for c in ranks for row in range(streams)]
    assert firsts == sorted(firsts) and firsts[0] == 1  # rank 0 holds the start of the text, rank 1 the end


def test_lm_carried_state_on_a_rank_equals_one_pass_over_its_streams():
    torch.manual_seed(0)
    network = LanguageModelNetwork(11, embedding_dim=6, backbone=dict(cell="lstm", hidden_size=12, num_layers=2)).eval()
    ids, streams, world, rank = torch.randint(2, 11, (203,)), 2, 2, 1
    inputs, targets, lengths = split_streams(ids, streams * world)
    mine = slice(rank * streams, (rank + 1) * streams)
    whole, _ = network(inputs[mine], lengths[mine])
    chunks = list(TBPTTChunks(ids, streams, bptt=7, num_replicas=world, rank=rank))
    state, pieces = None, []
    for batch in chunks:
        logits, state = network(batch.tokens, batch.lengths, network._carry_over(state, len(batch)))
        pieces.append(logits)
    real = targets[mine] != IGNORE_INDEX
    assert torch.allclose(torch.cat(pieces, dim=1)[real], whole[real], atol=1e-5)
    # the network's own evaluation (what TaskModule runs), carrying its returned state from chunk to chunk
    whole_loss = F.cross_entropy(whole[real], targets[mine][real], reduction="sum")
    state, total, count = None, 0.0, 0
    with torch.no_grad():
        for batch in chunks:
            out = network.evaluate(batch, state)
            state, total, count = out[STATE], total + out["loss_sum"], count + int(out["count"])
    assert count == int(real.sum()) and torch.allclose(total, whole_loss, atol=1e-4)


def test_datamodule_shards_training_by_the_trainers_rank_and_evaluates_everything(tmp_path):
    rows = [(" ".join(["w"] * (1 + i % 9)), str(i % 2)) for i in range(40)]
    for name in ("train", "val"):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    seen, val_sizes = [], []
    for rank in (0, 1):
        torch.manual_seed(9)
        dm = ClassificationDataModule(
            train_path=str(tmp_path / "train.tsv"), val_path=str(tmp_path / "val.tsv"), batch_size=4
        )
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        dm.setup("fit")
        batches = list(dm.train_dataloader())
        assert all(len(b) == 4 for b in batches) and len(batches) == 5  # 40 examples / (2 ranks x 4)
        seen.append({int(i) for b in batches for i in b.index})
        val_sizes.append(sum(len(b) for b in dm.val_dataloader()))
    assert val_sizes == [40, 40]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 40


def test_forecast_windows_shard_by_rank_and_one_process_keeps_its_loader():
    from seqkit.tasks.forecasting.datamodule import ForecastingDataModule

    def windows(trainer):
        torch.manual_seed(3)
        dm = ForecastingDataModule(builtin="airpassengers", time_column="Month", target="Passengers", batch_size=8)
        dm.trainer = trainer
        dm.setup("fit")
        return dm, [b.index.tolist() for b in dm.train_dataloader()]

    one, alone = windows(None)
    n = len(one.datasets["train"])
    assert sorted(i for b in alone for i in b) == list(range(n))
    shares = [windows(SimpleNamespace(world_size=2, global_rank=r))[1] for r in (0, 1)]
    assert len(shares[0]) == len(shares[1])  # same steps
    flat = [i for s in shares for b in s for i in b]
    assert set(flat) == set(range(n)) and len(flat) - n == n % 2  # disjoint but for one repeat when n is odd
