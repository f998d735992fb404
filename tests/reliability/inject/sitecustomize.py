"""Fault injection for cvpipe's reliability tests: put this folder first on ``PYTHONPATH`` of a
child process. It does nothing unless ``CVPIPE_FAULT_ROOT`` is set.

An audit hook (:func:`sys.addaudithook`) watches file operations on paths under
``CVPIPE_FAULT_ROOT``: ``write`` (an open for writing or creating), ``rename`` (``os.rename`` and
``os.replace``), ``remove`` (``os.remove``/``os.unlink``, ``os.rmdir``, ``shutil.rmtree``),
``mkdir``. With ``CVPIPE_FAULT_TRACE=FILE`` every such operation is appended to FILE as
``op<TAB>path``. With ``CVPIPE_FAULT=OP:N:SIGNAL[:MATCH]`` the process sends itself SIGNAL
(``KILL``, ``TERM`` or ``INT``) just *before* the N-th (1-based) operation of kind OP (``any``:
every kind) whose path contains MATCH, i.e. the operation does not happen (under SIGTERM/SIGINT
it raises from the signal handler, as a real signal arriving at that instant would).
Only the process that loaded this module counts (not forked children).
"""

import os
import sys

_ROOT = os.environ.get("CVPIPE_FAULT_ROOT")


def _install() -> None:
    import signal

    root = os.path.realpath(_ROOT)
    spec = os.environ.get("CVPIPE_FAULT", "")
    trace_path = os.environ.get("CVPIPE_FAULT_TRACE")
    trace_fd = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if trace_path else None
    want_op, want_n, sig, match = "any", 0, signal.SIGKILL, ""
    if spec:
        parts = spec.split(":", 3)
        want_op, want_n = parts[0], int(parts[1])
        sig = getattr(signal, "SIG" + (parts[2] if len(parts) > 2 else "KILL"))
        match = parts[3] if len(parts) > 3 else ""
    me = os.getpid()
    state = {"n": 0, "fired": False, "busy": False}
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    kinds = {"os.rename": "rename", "os.remove": "remove", "os.rmdir": "remove", "shutil.rmtree": "remove",
             "os.mkdir": "mkdir"}

    def under(path) -> str | None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, (str, os.PathLike)):
            return None
        p = os.path.abspath(os.fspath(path))
        return p if p == root or p.startswith(root + os.sep) else None

    def hook(event: str, args: tuple) -> None:
        if state["busy"] or os.getpid() != me:
            return
        if event == "open":
            if len(args) < 3 or not isinstance(args[2], int) or not args[2] & write_flags:
                return
            op, paths = "write", args[:1]
        elif event in kinds:
            op, paths = kinds[event], args[:2] if event == "os.rename" else args[:1]
        else:
            return
        hits = [p for p in map(under, paths) if p is not None]
        if not hits:
            return
        state["busy"] = True
        try:
            if trace_fd is not None:
                os.write(trace_fd, f"{op}\t{hits[-1]}\n".encode("utf-8", "surrogateescape"))
            if want_n and not state["fired"] and want_op in ("any", op) and any(match in h for h in hits):
                state["n"] += 1
                if state["n"] == want_n:
                    state["fired"] = True
                    os.kill(me, sig)
        finally:
            state["busy"] = False
        # a SIGTERM/SIGINT handler runs here at the latest, raising out of the operation

    sys.addaudithook(hook)


if _ROOT:
    _install()
