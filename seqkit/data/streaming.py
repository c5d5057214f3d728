"""Training examples streamed from a file larger than memory (classification, CoNLL, parallel text).

``StreamedExamples`` is a torch ``IterableDataset`` over a codec's ``iter_examples(path)``, which yields
``(line_number, example)`` lazily, with the same ``error: file:line: reason`` as the in-memory readers. A torch
IterableDataset and not litdata: litdata streams *prepared* binary chunks (an ``optimize`` step writing a second
copy of the corpus, made for cloud storage), while these files are read as they are, line by line, by the readers
that already report their errors by file and line; the sharding, shuffling and bucketing below are some forty
lines over torch's own worker API.

How an epoch is read. The examples of the file are numbered 0..N-1 (N is counted by the vocabulary pass, which
streams too, or by a counting pass when a checkpoint restored the vocabularies). There are ``shards`` =
DDP processes x DataLoader workers; example ``p`` belongs to shard ``p % shards`` (rank r's worker w is shard
``r * workers + w``), so each rank and each worker encodes its own part, and across the shards of one epoch every
example is read exactly once. The file is cut into chunks of ``shuffle_buffer * shards`` consecutive examples (a
last chunk too small to give every shard an example joins the one before it): a shard holds its share of one
chunk at a time (``shuffle_buffer`` examples), shuffles it, sorts it by length when bucketing (as
``seqkit.data.sampler.BucketBatchSampler`` sorts a pool), cuts it into near-equal batches of at most
``batch_size``, and yields them in a shuffled order. Every shard cuts a chunk into the same number of batches,
so every DDP rank runs the same number of steps (else DDP hangs); batch sizes may differ by one example.

The order of epoch k is a function of (seed, k) alone (``seqkit.data.sampler.epoch_generator``), given by
``set_epoch`` (``seqkit.training.callbacks.EpochSeed`` calls it): a run resumed at an epoch boundary reads the
same batches as one never interrupted. Shuffling is bounded: an example moves only within its chunk.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from torch.utils.data import IterableDataset, get_worker_info

from seqkit.data.errors import DataError
from seqkit.data.notice import log
from seqkit.data.sampler import epoch_generator

STREAMING_AUTO_MB = 100  # data.streaming=auto streams a training file (its files together) larger than this
STREAM_DEFAULTS: Dict[str, Any] = {
    "streaming": "auto",  # read the training file as a stream: auto (over 100 MB) | true | false (in memory)
    "shuffle_buffer": 10000,  # streamed training: examples a shard shuffles and buckets at a time
}


def streaming_choice(setting: Any, size_bytes: int) -> bool:
    """Whether ``data.streaming`` (auto | true | false) streams a training file of ``size_bytes``."""
    if setting is True or setting is False:
        return setting
    if setting == "auto":
        return size_bytes > STREAMING_AUTO_MB * 2**20
    raise ValueError(f"data.streaming must be auto, true or false, got {setting!r}")


def chunk_bounds(count: int, span: int, shards: int) -> List[Tuple[int, int]]:
    """The example positions ``[a, b)`` of each chunk of ``span`` examples; a last chunk with fewer than ``shards``
    examples joins the one before it, so that every shard has an example of every chunk."""
    bounds = [(a, min(a + span, count)) for a in range(0, count, span)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < shards:
        (a, _), (_, b) = bounds[-2], bounds.pop()
        bounds[-1] = (a, b)
    return bounds


def shard_size(a: int, b: int, shard: int, shards: int) -> int:
    """How many positions ``p`` in ``[a, b)`` have ``p % shards == shard``."""
    return len(range(a + (shard - a) % shards, b, shards))


class StreamedExamples(IterableDataset):
    """Batches of a streamed file, shuffled in a bounded buffer, bucketed by length and sharded (module docstring).

    Args:
        read: a callable returning the file's ``(line_number, raw example)`` pairs, lazily (a codec's
            ``iter_examples`` bound to the path); each epoch calls it once in every shard.
        count: N, the number of examples ``read`` yields.
        encode: raw examples -> encoded examples (each with an ``index`` attribute, set here to its position).
        collate: encoded examples -> a batch.
        length: an encoded example -> its length (bucketing).
        batch_size: the most examples a batch holds.
        source: the file's name, for errors.
        shuffle_buffer: examples a shard holds at a time.
        bucketing: sort each shard's chunk by length before cutting batches.
        seed: the run's seed (default ``torch.initial_seed()``).
        num_replicas, rank: DDP processes and this one's rank.
        num_workers: the DataLoader's worker processes (0: the loading process reads).
    """

    def __init__(
        self,
        read: Callable[[], Iterable[Tuple[int, Any]]],
        count: int,
        encode: Callable[[List[Any]], List[Any]],
        collate: Callable[[List[Any]], Any],
        length: Callable[[Any], int],
        batch_size: int,
        source: str,
        *,
        shuffle_buffer: int = STREAM_DEFAULTS["shuffle_buffer"],
        bucketing: bool = True,
        seed: Optional[int] = None,
        num_replicas: int = 1,
        rank: int = 0,
        num_workers: int = 0,
    ):
        if batch_size < 1 or shuffle_buffer < 1:
            raise ValueError(f"batch_size and data.shuffle_buffer must be >= 1, got {batch_size}, {shuffle_buffer}")
        self.read, self.count, self.encode, self.collate, self.length = read, count, encode, collate, length
        self.batch_size, self.source, self.buffer, self.bucketing = batch_size, source, shuffle_buffer, bucketing
        self.seed = torch.initial_seed() if seed is None else int(seed)
        self.epoch = 0
        self.shard_as(num_replicas, rank, num_workers)

    def shard_as(self, num_replicas: int, rank: int, num_workers: int) -> None:
        """This process's place: ``rank`` of ``num_replicas``, read by ``num_workers`` workers."""
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} of {num_replicas} processes: need 0 <= rank < num_replicas")
        self.num_replicas, self.rank, self.workers = int(num_replicas), int(rank), max(1, int(num_workers))
        shards = self.num_replicas * self.workers
        if self.count < shards:
            raise DataError(
                self.source,
                None,
                f"{self.count} examples cannot be shared by {shards} readers "
                f"({self.num_replicas} processes x {self.workers} workers)",
            )
        self.bounds = chunk_bounds(self.count, self.buffer * shards, shards)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches_in(self, a: int, b: int, shards: int) -> int:
        """Batches every shard cuts chunk ``[a, b)`` into: enough for the largest share, no more than the smallest
        share has examples (each share differs from the others by at most one example)."""
        largest, smallest = shard_size(a, b, 0, shards), shard_size(a, b, shards - 1, shards)
        return min(-(-largest // self.batch_size), smallest)

    def __len__(self) -> int:
        """Batches this process yields an epoch (all its workers together)."""
        shards = self.num_replicas * self.workers
        return self.workers * sum(self._batches_in(a, b, shards) for a, b in self.bounds)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker = 0 if info is None else info.id
        if (1 if info is None else info.num_workers) != self.workers:
            raise RuntimeError(f"StreamedExamples was set up for {self.workers} worker(s); give that num_workers")
        shards = self.num_replicas * self.workers
        shard = self.rank * self.workers + worker
        base = int(torch.randint(2**62, (1,), generator=epoch_generator(self.seed, self.epoch)))
        k, mine, position = 0, [], -1
        for position, (_, raw) in enumerate(self.read()):
            if position >= self.count:
                break
            if position >= self.bounds[k][1]:
                yield from self._chunk(mine, k, shard, shards, base)
                k, mine = k + 1, []
            if position % shards == shard:
                mine.append((position, raw))
        if position + 1 != self.count:
            raise DataError(
                self.source,
                None,
                f"changed while training: {self.count} examples were counted, now "
                f"{'more' if position >= self.count else position + 1}",
            )
        yield from self._chunk(mine, k, shard, shards, base)

    def _chunk(self, mine: List[Tuple[int, Any]], k: int, shard: int, shards: int, base: int) -> Iterator[Any]:
        """This shard's batches of chunk ``k``: shuffled, sorted by length when bucketing, cut, batch order shuffled."""
        examples = self.encode([raw for _, raw in mine])
        for example, (position, _) in zip(examples, mine):
            example.index = position
        generator = torch.Generator().manual_seed((base + 1_000_003 * k + shard) % 2**63)
        order = torch.randperm(len(examples), generator=generator)
        if self.bucketing:
            lengths = torch.tensor([self.length(examples[i]) for i in order.tolist()])
            order = order[torch.sort(lengths, stable=True).indices]
        parts = torch.tensor_split(order, self._batches_in(*self.bounds[k], shards))
        for j in torch.randperm(len(parts), generator=generator).tolist():
            yield self.collate([examples[i] for i in parts[j].tolist()])


def stream_training_set(
    codec: Any, path: str, batch_size: int, *, shuffle_buffer: int, bucketing: bool = True
) -> StreamedExamples:
    """A codec's training file ``path`` as a ``StreamedExamples`` of one process (``shard_as`` sets DDP and workers):
    one streamed pass counts its examples and, unless a checkpoint restored them, learns the codec's vocabularies
    (``codec.build`` over the stream); a malformed line stops that pass with its file and line."""
    count = 0

    def counted() -> Iterator[Any]:
        nonlocal count
        for count, (_, raw) in enumerate(codec.iter_examples(path), start=1):
            yield raw

    if codec.built:
        for _ in counted():
            pass
    else:
        codec.build(counted())
    source = str(codec.data_files(path)[0])
    log(f"streaming {source}: {count} examples, shuffled {shuffle_buffer} at a time")
    return StreamedExamples(
        partial(codec.iter_examples, path),
        count,
        partial(codec.encode, source=source),
        codec.collate,
        codec.example_length,
        batch_size,
        source,
        shuffle_buffer=shuffle_buffer,
        bucketing=bucketing,
    )
