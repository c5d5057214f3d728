"""Dynamic batching for the server: requests that arrive together are answered by one call of the model.

A request waits in a queue; the batcher takes what is queued (up to ``max_batch_size``), waits at most
``max_wait_ms`` for more while the batch is not full, groups the requests by key (requests with the same options
share a batch) and runs each group on the one model thread. While a batch runs, the next requests queue up, so
under load batches fill by themselves; alone, a request waits at most ``max_wait_ms``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

RunFn = Callable[[Hashable, List[Any]], List[Any]]  # (key, items) -> one answer (or exception) per item


class Batcher:
    """Batches ``submit``-ted items and runs them with ``run`` on ``executor`` (one thread: the model's).

    Args:
        run: ``(key, items) -> answers``, one per item in order; an answer that is an exception is raised to
            that item's caller.
        executor: where ``run`` is called (a one-thread pool: the network and codec are used by one thread).
        max_batch_size: the most items in one call.
        max_wait_ms: how long a batch that is not full waits for more items.
    """

    def __init__(self, run: RunFn, executor: ThreadPoolExecutor, max_batch_size: int = 32, max_wait_ms: float = 2):
        if max_batch_size < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch_size must be >= 1 and max_wait_ms >= 0, got {max_batch_size}, {max_wait_ms}")
        self.run, self.executor = run, executor
        self.max_batch_size, self.max_wait = int(max_batch_size), max_wait_ms / 1000
        self.queue: Optional[asyncio.Queue] = None
        self.task: Optional[asyncio.Task] = None
        self.calls, self.items = 0, 0  # calls of ``run`` and the items they answered (/health: the mean batch)

    def start(self) -> None:
        """Start the batching loop on the running event loop (the server's start-up)."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop (the server's shutdown); items still queued are answered with an error."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        while self.queue is not None and not self.queue.empty():
            _, _, future = self.queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))

    async def submit(self, key: Hashable, item: Any) -> Any:
        """Queue one item -> its answer (raised if it is an exception)."""
        return (await self.submit_many(key, [item]))[0]

    async def submit_many(self, key: Hashable, items: List[Any]) -> List[Any]:
        """Queue several items, each batched as ``submit`` batches it -> their answers in order (the first that
        is an exception is raised). One future an item and no task: cheaper than gathering ``submit``s."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        for item, future in zip(items, futures):
            self.queue.put_nowait((key, item, future))
        answers = [await future for future in futures]
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers

    async def _collect(self) -> List[Tuple[Hashable, Any, asyncio.Future]]:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: Dict[Hashable, List[Tuple[Any, asyncio.Future]]] = {}
            for key, item, future in batch:
                groups.setdefault(key, []).append((item, future))
            for key, members in groups.items():
                members = [(item, future) for item, future in members if not future.done()]  # a client gone
                if not members:
                    continue
                self.calls, self.items = self.calls + 1, self.items + len(members)
                try:
                    answers = await loop.run_in_executor(self.executor, self.run, key, [i for i, _ in members])
                except Exception as error:  # noqa: BLE001 - run failed as a whole: every member gets it
                    answers = [error] * len(members)
                for (_, future), answer in zip(members, answers):
                    if not future.done():
                        future.set_result(answer)
