"""Training-order samplers whose epoch k is a function of (seed, k) alone.

Both samplers draw from their own generator, seeded from the run's seed and the epoch number: a run resumed
at epoch k sees the same order as an uninterrupted run does at epoch k, however many epochs this process ran.
Lightning calls ``set_epoch`` on a DataLoader's ``sampler`` before each training epoch; for the batch sampler,
``seqkit.training.callbacks.EpochSeed`` does. Without any ``set_epoch`` call (a plain loop), each pass over the sampler
moves on to the next epoch.

Several processes (DDP, ``trainer=ddp``): each rank builds the same epoch from the same (seed, epoch) and keeps
its own disjoint share (``rank`` of ``num_replicas``), so every rank runs the same number of steps and the ranks
together see what one process with ``num_replicas`` times the batch size sees: global batch k of that process,
split by taking every ``num_replicas``-th example (``shard_batch``). With a loss that is a mean over examples,
DDP's gradient average is then the gradient of the global batch (exactly so when the shares are equal in size).
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import torch
from torch.utils.data import Sampler


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for (seed, epoch): distinct epochs of one seed, and the same epoch of nearby seeds, differ."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))


def shard_batch(batch: List[int], rank: int, num_replicas: int) -> List[int]:
    """Rank ``rank``'s share of one global batch: every ``num_replicas``-th example from position ``rank``.
    A length-sorted batch gives every rank the same spread of lengths (no rank waits for the long ones)."""
    return batch[rank::num_replicas]


class _EpochSeeded:
    """``seed`` (default: ``torch.initial_seed()``, i.e. what ``seed_everything`` set), the current epoch, and
    this process's ``rank`` among ``num_replicas`` training processes."""

    def _init_seed(self, seed: Optional[int], num_replicas: int = 1, rank: int = 0) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} of {num_replicas} processes: need 0 <= rank < num_replicas")
        self.seed = torch.initial_seed() if seed is None else int(seed)
        self.epoch = 0
        self.num_replicas, self.rank = int(num_replicas), int(rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _next_generator(self) -> torch.Generator:
        generator = epoch_generator(self.seed, self.epoch)
        self.epoch += 1  # a plain loop that never calls set_epoch still gets a new order each pass
        return generator


class ShuffleSampler(_EpochSeeded, Sampler[int]):
    """A random permutation of ``range(n)`` each epoch (the unbucketed training order).

    Rank ``rank`` of ``num_replicas`` takes every ``num_replicas``-th index of it (batched by the DataLoader,
    these are the shares of the permutation's consecutive global batches); when ``n`` is not a multiple of
    ``num_replicas`` the permutation is first extended by its own first indices (as torch's DistributedSampler
    does), so that every rank gets the same number of examples and steps.
    """

    def __init__(self, n: int, seed: Optional[int] = None, num_replicas: int = 1, rank: int = 0):
        self.n = n
        self._init_seed(seed, num_replicas, rank)

    def __iter__(self) -> Iterator[int]:  # a generator: the epoch is read at the first next(), not at iter()
        order = torch.randperm(self.n, generator=self._next_generator()).tolist()
        if self.num_replicas > 1:
            order += order[: len(self) * self.num_replicas - self.n]
            order = shard_batch(order, self.rank, self.num_replicas)
        yield from order

    def __len__(self) -> int:
        return -(-self.n // self.num_replicas)


class BucketBatchSampler(_EpochSeeded, Sampler[List[int]]):
    """Yield lists of indices whose sequences have similar lengths.

    Each epoch: shuffle all indices, cut them into pools of ``batch_size * pool_batches``, sort each pool by
    length, cut it into batches, and shuffle the order of all batches; the randomness comes from
    ``epoch_generator(seed, epoch)`` (see the module docstring). With ``shuffle=False`` the data is sorted by
    length once (deterministic evaluation batches).

    Several processes: ``batch_size`` is each rank's; the epoch is cut into global batches of
    ``batch_size * num_replicas`` (the batches one process would make with that size) and rank ``rank`` yields
    its ``shard_batch`` of each. A last global batch too small to give every rank an example joins the one before it.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        pool_batches: int = 50,
        drop_last: bool = False,
        seed: Optional[int] = None,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._init_seed(seed, num_replicas, rank)
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.shuffle = batch_size, shuffle
        self.global_batch_size = batch_size * self.num_replicas
        self.pool_size, self.drop_last = self.global_batch_size * pool_batches, drop_last
        if self.num_replicas > 1 and len(self.lengths) < self.num_replicas:
            raise ValueError(f"{len(self.lengths)} examples cannot be shared by {self.num_replicas} processes")

    def __iter__(self) -> Iterator[List[int]]:  # a generator: the epoch is read at the first next(), not at iter()
        generator = self._next_generator() if self.shuffle else None
        if self.shuffle:
            order = torch.randperm(len(self.lengths), generator=generator)
        else:
            order = torch.arange(len(self.lengths))
        batches = []
        pools = order.split(self.pool_size) if self.shuffle else [order]
        for pool in pools:
            pool = pool[torch.sort(self.lengths[pool], stable=True).indices]
            for batch in pool.split(self.global_batch_size):
                if len(batch) == self.global_batch_size or not self.drop_last:
                    batches.append(batch.tolist())
        if len(batches) > 1 and len(batches[-1]) < self.num_replicas:  # only the last pool's last batch is partial
            last = batches.pop()
            batches[-1] = batches[-1] + last
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        if self.num_replicas > 1:
            batches = [shard_batch(batch, self.rank, self.num_replicas) for batch in batches]
        yield from batches

    def __len__(self) -> int:
        n, size = len(self.lengths), self.global_batch_size
        pools = [min(self.pool_size, n - start) for start in range(0, n, self.pool_size)] if self.shuffle else [n]
        count, rest = 0, 0
        for pool in pools:
            full, rest = divmod(pool, size)
            count += full + (1 if rest and not self.drop_last else 0)
        merged = count > 1 and not self.drop_last and 0 < rest < self.num_replicas
        return count - merged


class LengthSortedSampler(Sampler[int]):
    """Indices in order of length (stable: ties keep their order), for evaluation and prediction batches.

    A plain sampler under a DataLoader's ``batch_size`` (not a batch sampler): Lightning re-creates a custom
    batch sampler for ``Trainer.predict`` from a sequential sampler, which lost the sorting; a sampler it keeps.
    Its batches are BucketBatchSampler's with ``shuffle=False``.
    """

    def __init__(self, lengths: Sequence[int]):
        self.order = torch.sort(torch.as_tensor(list(lengths)), stable=True).indices.tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def sorted_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """The evaluation batches of examples of these ``lengths``: LengthSortedSampler's order cut every ``batch_size``."""
    order = LengthSortedSampler(lengths).order
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
