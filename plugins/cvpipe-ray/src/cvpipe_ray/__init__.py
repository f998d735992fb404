"""cvpipe-ray: the ``ray`` executor (``cvpipe convert|validate|evaluate|predict --executor ray [--address ADDR]``).

Per-shard work (``convert``/``validate`` parts, ``evaluate``'s matching shards) runs as one
Ray task per shard, a bounded number in flight, results handed back in input order: the
driver's input is a stream (reading feeds writing), which Ray core tasks take as it comes,
where a Ray Data pipeline needs its items listed first (the first version ran one Ray Data
pipeline per window of items: several seconds of planning per window, and a window of write
parts held by the driver). Work that needs a model per worker (``predict``) runs on Ray Data:
an actor pool, ``map_batches`` with an actor class holding the model (a GPU per actor when the
cluster has them), items and results pickled (cvpipe's own task and result objects, not
table rows). Without ``--address`` a local Ray instance is
started for the command (and shut down after); with it, the driver joins that cluster
(``ray start --head`` prints the address; ``auto`` finds the one on this machine). Tasks write only into the temporary sibling of the
output the driver gave them, so on several machines that folder must be on storage every
node sees (NFS, a shared volume).

Ray is imported only when the executor is created: ``cvpipe --help`` and ``cvpipe plugins``
stay fast, and the core never imports ray.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, Iterable, Iterator

from cvpipe import hookimpl

__all__ = ["RayExecutor", "ray_executor"]

CVPIPE_HOOK_API_VERSION = 1


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The body of :meth:`RayExecutor.map`'s Ray task."""
    return fn(item)


class _ActorTask:
    """Ray Data actor (``map_batches``): builds the state once (a model), then runs
    ``fn(state, item)`` on each row of its batches."""

    def __init__(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any]) -> None:
        self.state = setup()
        self.fn = fn

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = np.empty(len(batch["item"]), dtype=object)
        out[:] = [pickle.dumps(self.fn(self.state, pickle.loads(b)), protocol=5) for b in batch["item"]]
        return {"i": batch["i"], "result": out}


def _in_order(rows: Iterable[dict[str, Any]]) -> Iterator[Any]:
    """The unpickled results of ``rows``, checked to come in item order."""
    expected = 0
    for row in rows:
        if row["i"] != expected:  # preserve_order guarantees it; a wrong order must not go unnoticed
            raise RuntimeError(f"ray returned result {row['i']} where {expected} was expected")
        expected += 1
        yield pickle.loads(row["result"])


class RayExecutor:
    """An :class:`cvpipe.contract.Executor` on Ray Data."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:  # pragma: no cover - the distribution depends on ray
            from cvpipe.errors import ConfigError

            raise ConfigError("the ray executor needs ray, which is not installed", field="--executor",
                              value="ray", hint="pip install 'ray[data]'") from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            # without an address, a new local instance (not whatever cluster `ray start` left
            # recorded on this machine); `--address auto` joins that one
            kwargs["address"] = address if address is not None else "local"
            if address is None and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                from cvpipe.errors import ConfigError

                raise ConfigError(f"cannot join the Ray cluster: {exc}", field="--address", value=address,
                                  expected="the address `ray start --head` printed (host:port)") from None

    def _in_flight(self) -> int:
        """How many tasks :meth:`map` keeps submitted: 2 per CPU of the cluster, at least 4."""
        return max(4, 2 * int(self._ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each item, in order, each computed as one Ray task. Items are
        taken from ``items`` only as results are handed on, at most :meth:`_in_flight` at a
        time, so a driver streaming parts through ``map`` (and one ``map`` feeding another,
        as the streaming convert's reading feeds its writing) holds a few parts, not the
        input. Tasks not yet collected are cancelled when the caller stops early. A task's
        exception is raised here as itself."""
        import collections

        ray = self._ray
        run = ray.remote(_call)
        limit = self._in_flight()
        pending: collections.deque = collections.deque()
        try:
            for item in items:
                pending.append(run.remote(fn, item))
                if len(pending) >= limit:
                    yield self._get(pending.popleft())
            while pending:
                yield self._get(pending.popleft())
        finally:
            for ref in pending:
                ray.cancel(ref)

    def _get(self, ref: Any) -> Any:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            if exc.cause is not None:
                raise exc.cause from None
            raise

    def map_with_state(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], items: Iterable[Any], *,
                       num_gpus: float = 0.0, num_cpus: float = 1.0) -> Iterator[Any]:
        """Yield ``fn(state, item)`` for each item, in order, on a pool of Ray actors each
        holding ``state = setup()`` (a model): ``map_batches`` with an actor class, each actor
        reserving ``num_cpus`` CPUs and ``num_gpus`` GPUs, as many actors as the cluster holds
        (never more than items)."""
        import ray.data

        rows = [{"i": i, "item": pickle.dumps(x, protocol=5)} for i, x in enumerate(items)]
        if not rows:
            return
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        res = self._ray.cluster_resources()
        cpus = min(float(num_cpus), float(res.get("CPU", 1)))  # an actor bigger than the cluster never starts
        slots = int(res.get("CPU", 1) // cpus)
        if num_gpus:
            slots = min(slots, int(res.get("GPU", 0) // num_gpus))
        actors = max(1, min(len(rows), slots))
        options: dict[str, Any] = {"num_cpus": cpus, **({"num_gpus": num_gpus} if num_gpus else {})}
        ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _ActorTask, fn_constructor_kwargs={"setup": setup, "fn": fn}, batch_size=1, batch_format="numpy",
            concurrency=actors, **options)
        yield from _in_order(ds.iter_rows())

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a joined cluster keeps running)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def ray_executor(address: str | None = None) -> RayExecutor:
    """Run per-shard work on Ray (a local instance, or the cluster at ``address``)."""
    return RayExecutor(address)


@hookimpl
def cvpipe_register_executors(register):
    register.add_executor("ray", ray_executor, description="Ray: per-shard tasks on a Ray cluster (--address); predict on Ray Data actor pools")
