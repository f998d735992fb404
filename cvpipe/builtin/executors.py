"""The built-in ``local`` executor (a built-in plugin): per-shard work runs in this process,
one item after the other. It is what convert/validate do without ``--executor``, spelled
through the executor hook, so that another engine (``cvpipe-ray``) plugs in the same way."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from cvpipe import hookimpl

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """In-process executor: ``map`` is a lazy ``(fn(x) for x in items)``, results in order."""

    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each item, in order, computed when asked for."""
        for item in items:
            yield fn(item)

    def close(self) -> None:
        """Nothing to release."""


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
