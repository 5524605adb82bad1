"""Dynamic batching: concurrent requests share one forward pass.

A request waits at most ``max_wait_ms`` for others; a batch holds at most ``max_batch`` texts
(a single larger request runs alone, in chunks of ``max_batch``). Forward passes run one at a
time on a worker thread, so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

__all__ = ["DynamicBatcher"]

log = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    tasks: list[str] | None
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """`await batcher.predict(texts, tasks)` -> one result dict per text.

    `predict_fn(texts, tasks) -> list[dict]` is the model (e.g. ModelPredictor.predict);
    `on_batch(n_texts)` is told the size of every forward pass (metrics). `queued_requests`
    and `queued_texts` count what waits for a forward pass (not the one running).
    """

    def __init__(self, predict_fn, max_batch: int = 64, max_wait_ms: float = 10.0,
                 on_batch=None):
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int; got {max_batch!r}")
        if not isinstance(max_wait_ms, (int, float)) or max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be a number >= 0; got {max_wait_ms!r}")
        self.predict_fn, self.max_batch = predict_fn, max_batch
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch or (lambda n: None)
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qattn-forward")
        self.queued_requests = self.queued_texts = 0  # changed on the event loop only

    async def predict(self, texts: list[str], tasks: list[str] | None) -> list[dict]:
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self.queued_requests += 1
        self.queued_texts += len(texts)
        await self._queue.put(_Request(list(texts), tasks, future))
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _collect(self) -> list[_Request]:
        """The next batch: the first waiting request, plus others within the wait and size."""
        batch = [await self._queue.get()]
        size = len(batch[0].texts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(
                    self._queue.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            if size + len(nxt.texts) > self.max_batch:
                self._queue.put_nowait(nxt)  # too big to join: first of the next batch
                break  # (FIFO order changes only for this one request)
            batch.append(nxt)
            size += len(nxt.texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            texts = [t for r in batch for t in r.texts]
            self.queued_requests -= len(batch)
            self.queued_texts -= len(texts)
            wanted = None if any(r.tasks is None for r in batch) else sorted(
                {t for r in batch for t in r.tasks})
            try:
                results = []
                for start in range(0, len(texts), self.max_batch):
                    chunk = texts[start:start + self.max_batch]
                    results += await loop.run_in_executor(self._pool, self.predict_fn, chunk,
                                                          wanted)
                    self.on_batch(len(chunk))
            except Exception as err:  # the requests fail; the worker carries on
                log.exception("forward pass failed")
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(err)
                continue
            start = 0
            for r in batch:
                mine = results[start:start + len(r.texts)]
                start += len(r.texts)
                if r.tasks is not None:
                    mine = [{**m, "tasks": {k: v for k, v in m["tasks"].items() if k in r.tasks}}
                            for m in mine]
                if not r.future.done():
                    r.future.set_result(mine)
