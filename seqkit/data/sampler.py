"""Training-order samplers whose epoch k is a function of (seed, k) alone.

Both samplers draw from their own generator, seeded from the run's seed and the epoch number: a run resumed
at epoch k sees the same order as an uninterrupted run does at epoch k, however many epochs this process ran.
Lightning calls ``set_epoch`` on a DataLoader's ``sampler`` before each training epoch; for the batch sampler,
``seqkit.callbacks.EpochSeed`` does. Without any ``set_epoch`` call (a plain loop), each pass over the sampler
moves on to the next epoch.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import torch
from torch.utils.data import Sampler


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for (seed, epoch): distinct epochs of one seed, and the same epoch of nearby seeds, differ."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))


class _EpochSeeded:
    """``seed`` (default: ``torch.initial_seed()``, i.e. what ``seed_everything`` set) and the current epoch."""

    def _init_seed(self, seed: Optional[int]) -> None:
        self.seed = torch.initial_seed() if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _next_generator(self) -> torch.Generator:
        generator = epoch_generator(self.seed, self.epoch)
        self.epoch += 1  # a plain loop that never calls set_epoch still gets a new order each pass
        return generator


class ShuffleSampler(_EpochSeeded, Sampler[int]):
    """A random permutation of ``range(n)`` each epoch (the unbucketed training order)."""

    def __init__(self, n: int, seed: Optional[int] = None):
        self.n = n
        self._init_seed(seed)

    def __iter__(self) -> Iterator[int]:  # a generator: the epoch is read at the first next(), not at iter()
        yield from torch.randperm(self.n, generator=self._next_generator()).tolist()

    def __len__(self) -> int:
        return self.n


class BucketBatchSampler(_EpochSeeded, Sampler[List[int]]):
    """Yield lists of indices whose sequences have similar lengths.

    Each epoch: shuffle all indices, cut them into pools of ``batch_size * pool_batches``, sort each pool by
    length, cut it into batches, and shuffle the order of all batches; the randomness comes from
    ``epoch_generator(seed, epoch)`` (see the module docstring). With ``shuffle=False`` the data is sorted by
    length once (deterministic evaluation batches).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 pool_batches: int = 50, drop_last: bool = False, seed: Optional[int] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.shuffle = batch_size, shuffle
        self.pool_size, self.drop_last = batch_size * pool_batches, drop_last
        self._init_seed(seed)

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
            for batch in pool.split(self.batch_size):
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch.tolist())
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        yield from batches

    def __len__(self) -> int:
        if not self.shuffle:
            full, rest = divmod(len(self.lengths), self.batch_size)
            return full + (1 if rest and not self.drop_last else 0)
        count = 0
        for start in range(0, len(self.lengths), self.pool_size):
            size = min(self.pool_size, len(self.lengths) - start)
            full, rest = divmod(size, self.batch_size)
            count += full + (1 if rest and not self.drop_last else 0)
        return count


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
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
