"""Length-bucketing batch sampler: batches of similar lengths waste less compute on padding."""
from __future__ import annotations

from typing import Iterator, List, Sequence

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[List[int]]):
    """Yield lists of indices whose sequences have similar lengths.

    Each epoch: shuffle all indices, cut them into pools of ``batch_size * pool_batches``, sort each pool by
    length, cut it into batches, and shuffle the order of all batches. Randomness comes from torch's global
    generator, so ``seed_everything`` makes it reproducible. With ``shuffle=False`` the data is sorted by
    length once (deterministic evaluation batches).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 pool_batches: int = 50, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.shuffle = batch_size, shuffle
        self.pool_size, self.drop_last = batch_size * pool_batches, drop_last

    def __iter__(self) -> Iterator[List[int]]:
        if self.shuffle:
            order = torch.randperm(len(self.lengths))
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
            batches = [batches[i] for i in torch.randperm(len(batches)).tolist()]
        return iter(batches)

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
