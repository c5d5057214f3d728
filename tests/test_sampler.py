"""BucketBatchSampler: a partition of the data every epoch, into batches of similar lengths."""

import random
from collections import Counter

import pytest
import torch

from seqkit.data.sampler import BucketBatchSampler


def random_lengths(n=1000, seed=0, low=1, high=60):
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(n)]


def mean_range(batches, lengths):
    return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)


CASES = [
    # (n, batch_size, pool_batches, drop_last)
    (1000, 32, 50, False),
    (1000, 32, 50, True),
    (1000, 32, 3, False),
    (1000, 32, 3, True),
    (97, 10, 2, False),  # pools of 20: the last pool has 17 -> one full batch and a partial one
    (97, 10, 2, True),
    (5, 8, 50, False),
    (64, 16, 1, False),
]


@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "sorted"])
@pytest.mark.parametrize("n,batch_size,pool_batches,drop_last", CASES)
def test_every_index_once_sizes_bounded_and_len_matches(n, batch_size, pool_batches, drop_last, shuffle):
    lengths = random_lengths(n)
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, pool_batches=pool_batches, drop_last=drop_last)
    torch.manual_seed(1)
    for _ in range(2):  # two epochs
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert all(1 <= len(b) <= batch_size for b in batches)
        seen = Counter(i for b in batches for i in b)
        assert all(isinstance(i, int) for b in batches for i in b)
        assert max(seen.values()) == 1  # never twice
        if drop_last:
            assert all(len(b) == batch_size for b in batches)
            # only each pool's remainder is dropped (one pool: all the data, when not shuffling)
            pool = batch_size * pool_batches if shuffle else n
            pools = [min(pool, n - start) for start in range(0, n, pool)]
            assert n - len(seen) == sum(size % batch_size for size in pools)
        else:
            assert set(seen) == set(range(n))  # every index exactly once


def test_batches_are_length_homogeneous():
    lengths = random_lengths(2000, seed=3)
    torch.manual_seed(0)
    batches = list(BucketBatchSampler(lengths, 32, shuffle=True, pool_batches=50))
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    random_batches = [order[i : i + 32] for i in range(0, len(order), 32)]
    bucketed, unbucketed = mean_range(batches, lengths), mean_range(random_batches, lengths)
    assert unbucketed > 40  # lengths 1..60: random batches span nearly everything
    assert bucketed < unbucketed / 10, (bucketed, unbucketed)


def test_shuffled_epochs_differ_in_batches_and_order():
    lengths = random_lengths(500)
    sampler = BucketBatchSampler(lengths, 16, shuffle=True, pool_batches=4)
    torch.manual_seed(0)
    first, second = list(sampler), list(sampler)
    assert first != second
    assert sorted(map(tuple, first)) != sorted(map(tuple, second))  # not only the batch order changes
    # the batch order is shuffled too: not sorted by length across the epoch
    first_lengths = [lengths[b[0]] for b in first]
    assert first_lengths != sorted(first_lengths)


def test_unshuffled_is_sorted_by_length_stably_and_deterministic():
    lengths = random_lengths(300, high=20)
    sampler = BucketBatchSampler(lengths, 7, shuffle=False)
    torch.manual_seed(0)
    first = list(sampler)
    torch.manual_seed(123)
    assert list(sampler) == first
    flat = [i for b in first for i in b]
    assert flat == sorted(range(300), key=lambda i: (lengths[i], i))  # by length, ties in data order
    assert len(first) == len(sampler) == 43


def test_order_is_a_function_of_seed_and_epoch_alone():
    """What resuming needs: epoch k's batches do not depend on the global RNG or on the epochs run before."""
    lengths = random_lengths(400)

    def epochs(seed, which, first_pass=0):
        sampler = BucketBatchSampler(lengths, 16, shuffle=True, pool_batches=5, seed=seed)
        for _ in range(first_pass):  # epochs run before in this process
            list(sampler)
        out = []
        for epoch in which:
            sampler.set_epoch(epoch)
            torch.manual_seed(epoch * 7 + 1)  # the global generator must not matter
            out.append(list(sampler))
        return out

    uninterrupted = epochs(42, [0, 1, 2, 3])
    assert epochs(42, [2, 3], first_pass=0) == uninterrupted[2:]  # a process that starts at epoch 2
    assert epochs(42, [2, 3], first_pass=5) == uninterrupted[2:]
    assert uninterrupted[0] != uninterrupted[1]
    assert epochs(43, [0, 1]) != uninterrupted[:2]
    # without set_epoch, each pass is the next epoch
    plain = BucketBatchSampler(lengths, 16, shuffle=True, pool_batches=5, seed=42)
    assert [list(plain) for _ in range(4)] == uninterrupted


def test_default_seed_is_the_one_seed_everything_set():
    lengths = random_lengths(100)
    torch.manual_seed(7)
    a = list(BucketBatchSampler(lengths, 8))
    torch.manual_seed(7)
    torch.rand(3)  # drawing from the global generator does not change torch.initial_seed()
    assert list(BucketBatchSampler(lengths, 8)) == a
    torch.manual_seed(8)
    assert list(BucketBatchSampler(lengths, 8)) != a


def test_shuffle_sampler_is_a_permutation_fixed_by_seed_and_epoch():
    from seqkit.data.sampler import ShuffleSampler

    sampler = ShuffleSampler(50, seed=3)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(50)) and first != second
    again = ShuffleSampler(50, seed=3)
    again.set_epoch(1)
    assert list(again) == second


def test_len_with_dataloader():
    from torch.utils.data import DataLoader

    lengths = random_lengths(250)
    sampler = BucketBatchSampler(lengths, 16, shuffle=True, pool_batches=3)
    loader = DataLoader(list(range(250)), batch_sampler=sampler)
    torch.manual_seed(0)
    batches = list(loader)
    assert len(loader) == len(batches)
    assert sorted(torch.cat(batches).tolist()) == list(range(250))


def test_invalid_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2, 3], 0)
