"""Truncated backpropagation through time: one token stream -> contiguous streams -> consecutive windows.

How it is laid out (as in char-rnn, PyTorch's word_language_model and AWD-LSTM): the text is one token stream; it
is cut into ``batch_size`` contiguous streams (row i of every batch continues row i of the previous batch), and
batches are the next ``bptt`` steps of all streams, in order. The network carries its recurrent state from one
batch to the next and detaches it, so outputs are those of one pass over each whole stream while gradients flow at
most ``bptt`` steps back.

Every token but the first is a target exactly once (the streams overlap by one token: the last target of
stream i is the first input of stream i+1), so the token-weighted validation loss is the per-token loss of
the whole text, whatever the batch size. Torch only (no Lightning).
"""

from __future__ import annotations

import math
import random
from typing import Iterator, List, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from seqkit.data.batch import IGNORE_INDEX, PAD_INDEX, Batch


def split_streams(ids: Tensor, num_streams: int) -> Tuple[Tensor, Tensor, Tensor]:
    """One stream ``ids [N]`` -> ``(inputs [S, M], targets [S, M], lengths [S])``: S contiguous streams
    whose targets partition tokens 1..N-1 (sizes differ by at most one). Padding: PAD_INDEX in inputs,
    IGNORE_INDEX in targets."""
    total = ids.numel() - 1
    base, extra = divmod(total, num_streams)
    sizes = [base + (1 if i < extra else 0) for i in range(num_streams)]
    width = max(sizes)
    inputs = torch.full((num_streams, width), PAD_INDEX, dtype=torch.long)
    targets = torch.full((num_streams, width), IGNORE_INDEX, dtype=torch.long)
    start = 0
    for i, size in enumerate(sizes):
        inputs[i, :size] = ids[start : start + size]
        targets[i, :size] = ids[start + 1 : start + 1 + size]
        start += size
    return inputs, targets, torch.tensor(sizes, dtype=torch.long)


def jittered_lengths(width: int, bptt: int, rng: random.Random) -> List[int]:
    """AWD-LSTM's variable BPTT (Merity et al. 2018): each chunk is ~N(bptt, 5) steps long (N(bptt/2, 5) with
    probability 0.05), at least 5, so chunk boundaries move from epoch to epoch."""
    lengths, position = [], 0
    while position < width:
        mean = bptt if rng.random() < 0.95 else bptt / 2
        length = min(max(5, int(rng.gauss(mean, 5))), width - position)
        lengths.append(length)
        position += length
    return lengths


def stream_bounds(total: int, num_streams: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(starts [S], sizes [S])`` of ``split_streams``' streams over ``total`` targets: stream i reads inputs
    ``starts[i] .. starts[i] + sizes[i] - 1`` and the targets one further."""
    base, extra = divmod(total, num_streams)
    sizes = np.array([base + (1 if i < extra else 0) for i in range(num_streams)], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64), sizes


class TBPTTChunks(IterableDataset):
    """The batches of one epoch, in order: ``Batch(tokens [S, L], labels [S, L], lengths [S])`` for
    consecutive windows of ``bptt`` steps of the S streams (the last one shorter). A stream that has
    ended keeps length 1 with an ignored target, so the batch shape and the carried state stay put.

    ids: a tensor or a numpy array, a memory-mapped id file too (``seqkit.tasks.language_model.prepared``): each
    window is cut from it when its batch is made (the batches of ``split_streams``' padded streams, never all
    of them in memory), as int64.

    jitter: AWD-LSTM variable lengths, drawn anew every epoch from ``seed`` and the epoch number.
    Several processes (DDP): the text is cut into ``num_streams * num_replicas`` streams and rank ``rank`` keeps
    streams ``rank * S .. rank * S + S - 1``, its own contiguous pieces of the text, so its carried state lines
    up batch to batch as in one process; all ranks share the width and the chunk lengths (same steps).
    """

    def __init__(
        self,
        ids: Tensor,
        num_streams: int,
        bptt: int,
        jitter: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} of {num_replicas} processes: need 0 <= rank < num_replicas")
        self.ids = ids.numpy() if isinstance(ids, Tensor) else ids
        starts, sizes = stream_bounds(len(self.ids) - 1, num_streams * num_replicas)
        mine = slice(rank * num_streams, (rank + 1) * num_streams)
        self.width = int(sizes.max())  # all ranks': the same steps everywhere
        self.starts, self.sizes = starts[mine], sizes[mine]
        self.bptt, self.jitter, self.seed, self.epoch = bptt, jitter, seed, 0

    def chunk_lengths(self) -> List[int]:
        width = self.width
        if self.jitter:
            return jittered_lengths(width, self.bptt, random.Random(self.seed * 100003 + self.epoch))
        return [min(self.bptt, width - p) for p in range(0, width, self.bptt)]

    def __len__(self) -> int:
        return math.ceil(self.width / self.bptt)

    def window(self, position: int, length: int) -> Tuple[Tensor, Tensor]:
        """``(inputs [S, length], targets [S, length])`` of steps ``position ..``: PAD_INDEX and IGNORE_INDEX past a
        stream's end."""
        steps = position + np.arange(length)
        inside = steps[None, :] < self.sizes[:, None]
        at = np.where(inside, self.starts[:, None] + steps[None, :], 0)
        inputs = np.where(inside, self.ids[at].astype(np.int64), PAD_INDEX)  # int64 first: uint8 ids cannot hold -100
        targets = np.where(inside, self.ids[at + inside].astype(np.int64), IGNORE_INDEX)
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def __iter__(self) -> Iterator[Batch]:
        """The epoch's batches in order; in a DataLoader worker, batches k with k % num_workers == its id (the
        loader takes one from each worker in turn, so the order is the same)."""
        lengths = self.chunk_lengths()
        self.epoch += 1
        worker = get_worker_info()
        mine, every = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        position, index = 0, torch.arange(len(self.sizes))
        stream_lengths = torch.from_numpy(self.sizes)
        for k, length in enumerate(lengths):
            if k % every == mine:
                real = (stream_lengths - position).clamp(0, length)
                tokens, labels = self.window(position, length)
                yield Batch(tokens=tokens, lengths=real.clamp(min=1), index=index, labels=labels)
            position += length


class ChunkLoader(DataLoader):
    """The loader of ``TBPTTChunks`` (``batch_size=None``), with ``num_workers`` processes too: worker w makes every
    num_workers-th batch (a memory-mapped id file or a tensor is shared, not copied).

    The epoch number that draws the jittered lengths: ``set_epoch`` (the trainer's epoch, which
    ``seqkit.training.callbacks.EpochSeed`` gives every training loader, so a resumed run cuts its epoch as the
    uninterrupted run did); without it, counted epoch after epoch (with workers, here in the main process, as
    their copies of the data set are made anew every epoch from it).
    """

    def __init__(self, chunks: TBPTTChunks, num_workers: int = 0):
        super().__init__(chunks, batch_size=None, num_workers=num_workers)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.epoch = int(epoch)

    def __iter__(self):
        batches = super().__iter__()  # the workers start here, with the epoch number as it is
        if self.num_workers > 0:
            self.dataset.epoch += 1
        return batches
