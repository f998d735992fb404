"""Fault-injection harness: run a cvpipe command in a subprocess, kill it at the N-th file
operation of a chosen kind, and check what it leaves behind.

Reusable by any test (``from reliability.harness import ...`` inside ``tests/``) and by
``bench/fault_sweep.py``. The child gets ``inject/`` first on ``PYTHONPATH``: its
``sitecustomize`` installs an audit hook (see there) that counts operations on paths under a
root folder and sends the process a signal just before the chosen one. Typical use::

    ops = trace(["convert", src, dst, "--to", "coco"], root=tmp)       # every file operation
    for i in range(1, len(ops) + 1):
        out = cvpipe([...], root=tmp, fault=Fault("any", i))           # killed before op i
        assert out.killed
        assert_old_or_new(dst, old, new)                               # whole or nothing
        cvpipe([...])                                                  # the next run ...
        assert not leftovers(tmp)                                      # ... sweeps temporaries

Memory and time of the child are bounded (``resource.setrlimit`` on its address space, a
timeout), so a regression such as an alias bomb fails the test instead of taking the machine
down.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

INJECT = Path(__file__).resolve().parent / "inject"
OPS = ("write", "rename", "remove", "mkdir")
#: What a cvpipe temporary looks like (see cvpipe.fsutil): .NAME.tmp-PID-XXXX / .NAME.old-PID / a lock file.
TEMPORARY = re.compile(r"^\.(.+)\.(tmp|old)-\d+(-.*)?$|^\.(.+)\.tmp-[A-Za-z0-9_]+$|^\.cvpipe\.lock$")


@dataclass(frozen=True)
class Fault:
    """Send ``signal`` just before the ``n``-th (1-based) operation of kind ``op`` (``any``,
    ``write``, ``rename``, ``remove``, ``mkdir``) whose path contains ``match``."""

    op: str = "any"
    n: int = 1
    signal: int = signal.SIGKILL
    match: str = ""

    def spec(self) -> str:
        if ":" in self.match:
            raise ValueError("match must not contain ':'")
        return f"{self.op}:{self.n}:{signal.Signals(self.signal).name[3:]}:{self.match}"


@dataclass
class Outcome:
    """A finished child: exit code (negative: killed by that signal), output, and whether the
    injected fault fired (the process died by it, or exited 130/143 after SIGINT/SIGTERM)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    fault: Fault | None = None

    @property
    def killed(self) -> bool:
        if self.fault is None:
            return False
        handled = {signal.SIGTERM: 143, signal.SIGINT: 130}.get(self.fault.signal)  # cvpipe's own exit codes
        return self.returncode in (-self.fault.signal, handled)

    def check(self, code: int = 0) -> "Outcome":
        """``self`` if it exited with ``code``; else an AssertionError showing its output."""
        assert self.returncode == code, f"cvpipe {' '.join(self.args)} -> {self.returncode}\n{self.stdout}\n{self.stderr}"
        return self


def _limit(memory_mb: int | None):
    def apply() -> None:
        if memory_mb:
            import resource

            cap = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def cvpipe(args: Sequence[str | os.PathLike], *, cwd: Path | None = None, root: Path | None = None,
           fault: Fault | None = None, trace_file: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 600, memory_mb: int | None = None) -> Outcome:
    """Run ``python -m cvpipe ARGS`` in a subprocess (this checkout's code, see PYTHONPATH).

    Args:
        root: watch file operations under this folder (needed for ``fault`` and ``trace_file``).
        fault: kill the child just before that operation.
        trace_file: record every watched operation there (``op<TAB>path`` lines).
        memory_mb: cap the child's address space (``RLIMIT_AS``); torch needs ~3000.
    """
    args = [str(a) for a in args]
    proc = start(args, cwd=cwd, root=root, fault=fault, trace_file=trace_file, env=env, memory_mb=memory_mb)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"cvpipe {' '.join(args)} did not finish in {timeout}s\n{stdout}\n{stderr}") from None
    return Outcome(args, proc.returncode, stdout, stderr, fault)


def start(args: Sequence[str | os.PathLike], *, cwd: Path | None = None, root: Path | None = None,
          fault: Fault | None = None, trace_file: Path | None = None, env: dict[str, str] | None = None,
          memory_mb: int | None = None) -> subprocess.Popen:
    """Like :func:`cvpipe` but without waiting: the :class:`subprocess.Popen` (text pipes)."""
    args = [str(a) for a in args]
    child = dict(os.environ if env is None else env)
    child["PYTHONPATH"] = os.pathsep.join([str(INJECT)] + [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p])
    child.setdefault("PYTHONHASHSEED", "0")
    for k in ("CVPIPE_FAULT", "CVPIPE_FAULT_ROOT", "CVPIPE_FAULT_TRACE"):
        child.pop(k, None)
    if root is not None:
        child["CVPIPE_FAULT_ROOT"] = str(Path(root).resolve())
    if fault is not None:
        assert root is not None, "a fault needs a root folder to watch"
        child["CVPIPE_FAULT"] = fault.spec()
    if trace_file is not None:
        assert root is not None, "tracing needs a root folder to watch"
        child["CVPIPE_FAULT_TRACE"] = str(trace_file)
    return subprocess.Popen([sys.executable, "-m", "cvpipe", *args], cwd=cwd, env=child, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limit(memory_mb))


def wait_stopped(proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until ``proc`` has stopped itself (``Fault(..., signal=SIGSTOP)``); AssertionError
    if it exits instead or ``timeout`` passes (a safety net only: nothing waits on time)."""
    import time

    stat = Path(f"/proc/{proc.pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process {proc.pid} exited ({proc.returncode}) instead of stopping:\n"
                                 + "".join(proc.communicate()))
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        time.sleep(0.02)
    raise AssertionError(f"process {proc.pid} did not stop within {timeout}s")


def trace(args: Sequence[str | os.PathLike], *, root: Path, cwd: Path | None = None, **kw) -> list[tuple[str, str]]:
    """The watched file operations of an uninterrupted run (which must exit 0), in order."""
    log = Path(root).resolve().parent / f".trace-{os.getpid()}-{abs(hash(tuple(map(str, args))))}.log"
    log.unlink(missing_ok=True)
    try:
        cvpipe(args, cwd=cwd, root=root, trace_file=log, **kw).check(0)
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    finally:
        log.unlink(missing_ok=True)
    return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]


def tree(path: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``path`` (``"dir"`` for folders,
    ``"link:TARGET"`` for symlinks); ``{}`` when ``path`` does not exist."""
    path = Path(path)
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            out[rel] = f"link:{os.readlink(p)}"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(root: Path) -> list[str]:
    """Temporaries (``.X.tmp-*``, ``.X.old-PID``, lock files) anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob(".*") if TEMPORARY.match(p.name))


def assert_old_or_new(dst: Path, old: dict[str, str], new: dict[str, str], *, ignore: Sequence[str] = ()) -> str:
    """``dst`` holds exactly the ``old`` tree or exactly the ``new`` one (``{}``: absent);
    returns which ("old"/"new"). Paths matching an ``ignore`` regex are left out of the comparison."""
    def strip(t: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in t.items() if not any(re.search(i, k) for i in ignore)}

    now = strip(tree(dst))
    if now == strip(new):
        return "new"
    if now == strip(old):
        return "old"
    extra = sorted(set(now) ^ set(strip(new)))[:10]
    raise AssertionError(f"{dst} is neither the old nor the new output (differs from the new in {extra or 'content'})")


def weights(path: Path) -> dict[str, "object"]:
    """The model state dict saved in a cvpipe checkpoint (for exact comparisons)."""
    from cvpipe.engine.checkpoint import load_checkpoint

    return load_checkpoint(path)["model"]["state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    """Whether two checkpoints hold bit-identical model weights."""
    import torch

    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


class ConvertCase:
    """``cvpipe convert SRC DST --to FMT --overwrite`` where DST holds an earlier output (of
    ``old_src``), killed at chosen operations.

    ``setup()`` makes the old DST (kept in a store beside the watched folder), traces one
    uninterrupted conversion (``ops``, the ``new`` tree); ``point(i, sig)`` resets DST to the old
    output, kills the conversion before operation ``i``, checks what is left (after the
    :func:`cvpipe.fsutil.recover` every later writer of DST starts with) is the old or the new
    output, re-runs the conversion and checks it ends with the new output and no temporary.
    """

    def __init__(self, src: Path, old_src: Path, to: str, work: Path, *, extra: Sequence[str] = ()) -> None:
        self.src, self.old_src, self.to = Path(src), Path(old_src), to
        self.work = Path(work).resolve()
        self.root = self.work / "w"
        self.dst = self.root / "out"
        self.store = self.work / "store-old"
        self.args = ["convert", str(self.src), str(self.dst), "--to", to, "--overwrite", "-q", *extra]
        self.ops: list[tuple[str, str]] = []
        self.old: dict[str, str] = {}
        self.new: dict[str, str] = {}

    def setup(self) -> "ConvertCase":
        from cvpipe.formats import convert_dataset

        self.root.mkdir(parents=True, exist_ok=True)
        convert_dataset(self.old_src, self.dst, self.to, overwrite=True, progress=False)
        _copy(self.dst, self.store)
        self.old = tree(self.dst)
        self.ops = trace(self.args, root=self.root, cwd=self.work)
        self.new = tree(self.dst)
        assert self.new != self.old
        return self

    def reset(self) -> None:
        import shutil

        shutil.rmtree(self.root)
        self.root.mkdir()
        _copy(self.store, self.dst)

    def sample(self) -> list[int]:
        """The kill points CI runs: just before the last rename (between the two renames of the
        swap: the window) and just after it (removing the old output)."""
        renames = [i for i, (op, _) in enumerate(self.ops, 1) if op == "rename"]
        return [i for i in (renames[-1], renames[-1] + 1) if i <= len(self.ops)]

    def point(self, i: int, sig: int = signal.SIGKILL) -> str:
        """Run kill point ``i``; returns which output was left ("old"/"new")."""
        from cvpipe import fsutil

        recover = getattr(fsutil, "recover", lambda dst: None)  # (absent before issue 14)

        self.reset()
        out = cvpipe(self.args, root=self.root, cwd=self.work, fault=Fault("any", i, sig))
        where = f"killed ({signal.Signals(sig).name}) before op {i} {self.ops[i - 1]}"
        assert out.killed, f"{where}: exit {out.returncode}\n{out.stderr}"
        if sig != signal.SIGKILL:  # handled: the process cleaned up after itself
            assert not leftovers(self.root), f"{where}: left {leftovers(self.root)}"
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recover(self.dst)
        try:
            which = assert_old_or_new(self.dst, self.old, self.new)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        rerun(self.args, cwd=self.work)
        assert tree(self.dst) == self.new, f"{where}: the re-run did not give the new output"
        assert not leftovers(self.root), f"{where}: temporaries survived the re-run: {leftovers(self.root)}"
        return which


def rerun(args: Sequence[str], *, cwd: Path, code: int = 0) -> str:
    """Run ``cvpipe ARGS`` in this process (the next, uninterrupted run: no start-up cost),
    check it exits with ``code``; returns what it wrote on stderr."""
    import contextlib
    import io
    import warnings

    from cvpipe import fsutil
    from cvpipe.cli import main

    getattr(fsutil, "_swept", set()).clear()  # as in a new process: writers sweep their folders again
    args = [str(a) for a in args]
    old = Path.cwd()
    err = io.StringIO()
    os.chdir(cwd)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(list(args))
    finally:
        os.chdir(old)
    assert rc == code, f"cvpipe {' '.join(args)} -> {rc}\n{err.getvalue()}"
    return err.getvalue()


def _copy(src: Path, dst: Path) -> None:
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


#: A pipeline that trains in seconds: 16 synthetic images, 64 px, 2 epochs, validation every
#: epoch improving at both (so best.pt is written twice), then predict and evaluate
#: (``metrics.json`` in the run directory).
TINY_TRAIN_PIPELINE = """\
name: tiny_train
steps:
  - synthesize:
      path: ${run_dir}/data
      images: 16
      seed: 0
      size: [96, 64]
      object_size: [14, 30]
      objects_per_image: [1, 2]
      skip_if_exists: true
  - read: {name: read_train, format: voc, path: "${run_dir}/data", splits: [train], output: train}
  - read: {name: read_val, format: voc, path: "${run_dir}/data", splits: [val], output: val}
  - train:
      dataset: train
      val: val
      model_params: {image_size: 64, width: 8, depth: 0, fpn_channels: 16, head_convs: 1}
      epochs: 2
      batch_size: 4
      workers: 0
      threads: 1
      lr: 0.01
      warmup_epochs: 0.5
      output: model
  - predict: {model: model, dataset: val, output: detections}
  - evaluate: {gt: val, detections: detections, metrics: [coco]}
"""


class TrainCase:
    """``cvpipe run`` of :data:`TINY_TRAIN_PIPELINE` killed at a file operation, then resumed
    (``--resume``; a fresh run when the kill came before the run directory was set up): the
    result must equal an uninterrupted run's -- ``metrics.json`` byte for byte, the weights in
    ``best.pt`` and ``last.pt`` bit for bit -- with ``curves.png`` present and no temporary."""

    def __init__(self, work: Path) -> None:
        self.work = Path(work).resolve()
        self.pipeline = self.work / "tiny_train.yaml"
        self.ref = self.work / "ref"
        self.run = self.work / "run"
        self.ops: list[tuple[str, str]] = []

    def args(self, out: Path, *extra: str) -> list[str]:
        return ["run", str(self.pipeline), "--out", str(out), "-q", *extra]

    def setup(self, *, traced: bool = False) -> "TrainCase":
        """The reference run: in this process, or (``traced``) in a child recording ``ops``."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.pipeline.write_text(TINY_TRAIN_PIPELINE, encoding="utf-8")
        if traced:
            self.ops = trace(self.args(self.ref), root=self.ref, cwd=self.work)
        else:
            rerun(self.args(self.ref), cwd=self.work)
        return self

    def train_ops(self) -> list[int]:
        """Positions in ``ops`` from the train step's first checkpoint to its step record."""
        first = self.index("write", "last.pt", 1)
        return list(range(first, self.index("rename", "_train.json", 1) + 1))

    def index(self, op: str, match: str, nth: int) -> int:
        """The 1-based position in ``ops`` of the ``nth`` operation ``op`` on a path containing ``match``."""
        hits = [i for i, (o, p) in enumerate(self.ops, 1) if o == op and match in p]
        return hits[nth - 1]

    def point(self, fault: Fault) -> Outcome:
        """Kill a fresh run with ``fault``, resume it, compare with the reference; returns the
        killed run's outcome."""
        import shutil

        shutil.rmtree(self.run, ignore_errors=True)
        out = cvpipe(self.args(self.run), root=self.run, cwd=self.work, fault=fault)
        assert out.killed, f"{fault}: exit {out.returncode}\n{out.stderr}"
        if (self.run / "pipeline.yaml").is_file():
            rerun(self.args(self.run, "--resume"), cwd=self.work)
        else:  # killed before the run directory was set up: start again
            shutil.rmtree(self.run)
            rerun(self.args(self.run), cwd=self.work)
        self.compare(str(fault))
        return out

    def compare(self, where: str) -> None:
        step = _train_dir(self.run)
        ref_step = _train_dir(self.ref)
        assert (self.run / "metrics.json").read_bytes() == (self.ref / "metrics.json").read_bytes(), \
            f"{where}: metrics.json differs from the uninterrupted run's"
        for name in ("best.pt", "last.pt"):
            assert same_weights(step / name, ref_step / name), f"{where}: {name} holds other weights"
        assert (step / "curves.png").is_file(), f"{where}: curves.png missing"
        assert [ln.split(",")[0] for ln in (step / "metrics.csv").read_text().splitlines()] == \
               [ln.split(",")[0] for ln in (ref_step / "metrics.csv").read_text().splitlines()], f"{where}: metrics.csv rows"
        assert not leftovers(self.run), f"{where}: temporaries survived the resumed run: {leftovers(self.run)}"


def _train_dir(run: Path) -> Path:
    return Path(run) / "train"  # the step's folder (named after the step)


class CommandCase:
    """Any command writing into one folder (``predict --out``, ``evaluate --json/--plots``),
    killed at chosen operations while the folder holds the output of an earlier run.

    After the kill (and the :func:`cvpipe.fsutil.recover` a later writer starts with), every
    folder in ``whole`` must be entirely old or entirely new and every other file old or new
    (never partial); an uninterrupted re-run must give the new output and leave no temporary.
    """

    def __init__(self, args: Sequence[str], old_args: Sequence[str], root: Path, *, cwd: Path,
                 whole: Sequence[str] = ()) -> None:
        self.args, self.old_args = [str(a) for a in args], [str(a) for a in old_args]
        self.root, self.cwd, self.whole = Path(root).resolve(), Path(cwd), list(whole)
        self.store = self.root.with_name(self.root.name + "-store-old")
        self.ops: list[tuple[str, str]] = []
        self.old: dict[str, str] = {}
        self.new: dict[str, str] = {}

    def setup(self) -> "CommandCase":
        self.root.mkdir(parents=True, exist_ok=True)
        rerun(self.old_args, cwd=self.cwd)
        _copy(self.root, self.store)
        self.old = tree(self.root)
        self.ops = trace(self.args, root=self.root, cwd=self.cwd)
        self.new = tree(self.root)
        return self

    def positions(self, op: str, match: str = "") -> list[int]:
        return [i for i, (o, p) in enumerate(self.ops, 1) if o == op and match in p]

    def point(self, i: int, sig: int = signal.SIGKILL) -> None:
        import shutil
        import warnings

        from cvpipe import fsutil

        recover = getattr(fsutil, "recover", lambda dst: None)  # (absent before issue 14)

        _copy(self.store, self.root)
        out = cvpipe(self.args, root=self.root, cwd=self.cwd, fault=Fault("any", i, sig))
        where = f"killed ({signal.Signals(sig).name}) before op {i} {self.ops[i - 1]}"
        assert out.killed, f"{where}: exit {out.returncode}\n{out.stderr}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for d in self.whole:
                recover(self.root / d)
        now = tree(self.root)
        for d in self.whole:
            try:
                assert_old_or_new(self.root / d, _sub(self.old, d), _sub(self.new, d))
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None
        loose = {k: v for k, v in now.items() if not any(k == d or k.startswith(d + "/") for d in self.whole)
                 and not TEMPORARY.match(Path(k).name)}
        for k, v in loose.items():
            assert v in (self.old.get(k), self.new.get(k)), f"{where}: {k} is neither its old nor its new version"
        rerun(self.args, cwd=self.cwd)
        assert tree(self.root) == self.new, f"{where}: the re-run did not give the new output"
        assert not leftovers(self.root), f"{where}: temporaries survived the re-run: {leftovers(self.root)}"
        shutil.rmtree(self.root)


def _sub(t: dict[str, str], folder: str) -> dict[str, str]:
    return {k[len(folder) + 1:]: v for k, v in t.items() if k.startswith(folder + "/")}
