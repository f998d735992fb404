"""The built-in executors (a built-in plugin). ``local``: per-shard work runs in this process,
one item after the other; it is what convert/validate do without ``--executor``, spelled
through the executor hook, so that another engine (``cvpipe-ray``) plugs in the same way.
``processes``: a pool of worker processes on this machine, a bounded number of items in
flight (the driver streams: it never holds every item or result)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from cvpipe import hookimpl

__all__ = ["LocalExecutor", "ProcessExecutor"]


class LocalExecutor:
    """In-process executor: ``map`` is a lazy ``(fn(x) for x in items)``, results in order."""

    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each item, in order, computed when asked for."""
        for item in items:
            yield fn(item)

    def close(self) -> None:
        """Nothing to release."""


class ProcessExecutor:
    """Worker processes (``spawn``: no state inherited from the driver): ``map`` submits at
    most ``window`` items ahead of the one it yields next, results in order."""

    name = "processes"

    def __init__(self, workers: int, window: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.window = window or 2 * workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each item, in order, computed in the workers."""
        from collections import deque

        pending: deque = deque()
        it = iter(items)
        for item in it:
            pending.append(self._pool.submit(fn, item))
            if len(pending) >= self.window:
                break
        while pending:
            result = pending.popleft().result()
            for item in it:  # refill before yielding: the workers stay busy while the caller works
                pending.append(self._pool.submit(fn, item))
                break
            yield result

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def process_executor(address: str | None = None) -> ProcessExecutor:
    """Run per-shard work in worker processes on this machine (``--address N``: N workers,
    default: one per CPU)."""
    import os

    from cvpipe.errors import ConfigError

    workers = os.cpu_count() or 1
    if address is not None:
        if not address.isdigit() or int(address) < 1:
            raise ConfigError("bad worker count", field="--address", value=address,
                              expected="the number of worker processes (an integer >= 1)")
        workers = int(address)
    return ProcessExecutor(workers)


def local_executor(address: str | None = None) -> LocalExecutor:
    """Run per-shard work in this process (the default)."""
    if address is not None:
        from cvpipe.errors import ConfigError

        raise ConfigError("the local executor takes no address", field="--address", value=address,
                          expected="no --address, or an executor that joins a cluster (--executor ray)")
    return LocalExecutor()


@hookimpl
def cvpipe_register_executors(register):
    register.add_executor("local", local_executor, description="in this process, one shard after the other (default)")
    register.add_executor("processes", process_executor,
                          description="worker processes on this machine (--address N: N workers)")
