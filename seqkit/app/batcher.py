"""Dynamic batching for the server: requests that arrive together are answered by one call of the model.

A request's items (its texts) wait in a queue together, under one future. The batcher takes what is queued (up to
``max_batch_size`` items; a request that would take it past waits for the next batch), waits at most
``max_wait_ms`` for more while the batch is not full, groups the requests by key (requests with the same options
share a batch) and runs each group on the one model thread. While a batch runs, the next requests queue up, so
under load batches fill by themselves; alone, a request waits at most ``max_wait_ms``. A request of more items
than ``max_batch_size`` is queued in parts of that size.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

RunFn = Callable[[Hashable, List[Any]], List[Any]]  # (key, items) -> one answer (or exception) per item
Entry = Tuple[Hashable, List[Any], asyncio.Future]  # a request's (key, items, future of their answers)
# The defaults (serve.yaml's too). Under load a batch holds what queued while the last one ran, up to this many
# texts: the codec sorts them by length into batches of like lengths, and a tagger's batch costs what its longest
# sentence costs (docs/serving.md#what-it-costs).
MAX_BATCH_SIZE, MAX_WAIT_MS = 1024, 2


class Batcher:
    """Batches ``submit``-ted items and runs them with ``run`` on ``executor`` (one thread: the model's).

    Args:
        run: ``(key, items) -> answers``, one per item in order; an answer that is an exception is raised to
            that item's caller.
        executor: where ``run`` is called (a one-thread pool: the network and codec are used by one thread).
        max_batch_size: the most items in one call.
        max_wait_ms: how long a batch that is not full waits for more items.
    """

    def __init__(
        self,
        run: RunFn,
        executor: ThreadPoolExecutor,
        max_batch_size: int = MAX_BATCH_SIZE,
        max_wait_ms: float = MAX_WAIT_MS,
    ):
        if max_batch_size < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch_size must be >= 1 and max_wait_ms >= 0, got {max_batch_size}, {max_wait_ms}")
        self.run, self.executor = run, executor
        self.max_batch_size, self.max_wait = int(max_batch_size), max_wait_ms / 1000
        self.queue: Optional[asyncio.Queue] = None
        self.task: Optional[asyncio.Task] = None
        self.held: Optional[Entry] = None  # the request that did not fit in the last batch: the next one's first
        self.calls, self.items = 0, 0  # calls of ``run`` and the items they answered (/health: the mean batch)

    def start(self) -> None:
        """Start the batching loop on the running event loop (the server's start-up)."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop (the server's shutdown); requests still queued are answered with an error."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        left = [self.held] if self.held else []
        while self.queue is not None and not self.queue.empty():
            left.append(self.queue.get_nowait())
        for _, _, future in left:
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))

    async def submit(self, key: Hashable, item: Any) -> Any:
        """Queue one item -> its answer (raised if it is an exception)."""
        return (await self.submit_many(key, [item]))[0]

    async def submit_many(self, key: Hashable, items: List[Any]) -> List[Any]:
        """Queue a request's items, predicted in one batch (in parts of ``max_batch_size``) -> their answers in
        order (the first that is an exception is raised)."""
        loop = asyncio.get_running_loop()
        futures = []
        for start in range(0, len(items), self.max_batch_size):
            futures.append(loop.create_future())
            self.queue.put_nowait((key, items[start : start + self.max_batch_size], futures[-1]))
        answers = [answer for future in futures for answer in await future]
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers

    async def _collect(self) -> List[Entry]:
        first, self.held = self.held or await self.queue.get(), None
        batch, size = [first], len(first[1])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while size < self.max_batch_size:
            if self.queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
            else:
                entry = self.queue.get_nowait()
            if size + len(entry[1]) > self.max_batch_size:
                self.held = entry
                break
            batch.append(entry)
            size += len(entry[1])
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: Dict[Hashable, List[Tuple[List[Any], asyncio.Future]]] = {}
            for key, items, future in batch:
                if not future.done():  # done: its client went away
                    groups.setdefault(key, []).append((items, future))
            for key, members in groups.items():
                items = [item for part, _ in members for item in part]
                self.calls, self.items = self.calls + 1, self.items + len(items)
                try:
                    answers = await loop.run_in_executor(self.executor, self.run, key, items)
                except Exception as error:  # noqa: BLE001 - run failed as a whole: every member gets it
                    answers = [error] * len(items)
                start = 0
                for part, future in members:
                    if not future.done():
                        future.set_result(answers[start : start + len(part)])
                    start += len(part)
