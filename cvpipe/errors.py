"""Error types that say where a problem is, what was found and what was expected.

Every error cvpipe raises on bad input is a :class:`CvpipeError` holding one or more
:class:`Problem` records. The CLI prints each problem on one line and exits with
``error.exit_code`` (2 for bad input or usage, 1 for a job that failed); ``--debug`` adds the
traceback.

    >>> raise InputError("box is inverted", file="Annotations/1.xml", line=14,
    ...                  field="object[0].bndbox", value=(50, 10, 20, 40), expected="xmin < xmax")
    Annotations/1.xml:14: object[0].bndbox: box is inverted (got (50, 10, 20, 40); expected xmin < xmax)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

__all__ = [
    "MISSING",
    "Problem",
    "CvpipeError",
    "InputError",
    "ConfigError",
    "UnknownNameError",
    "PluginError",
    "JobError",
    "closest",
]


class _Missing:
    """Sentinel for "no value recorded" (``None`` is a legitimate bad value)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:  # unpickles to the module's one instance
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and where.

    Attributes:
        message: what is wrong, in a few words ("box is inverted").
        file: the file it is in, as the user named it.
        line: 1-based line number in ``file``, when known.
        field: the field or YAML path (``object[2].bndbox.xmin``, ``steps[2].train.epochs``).
        value: the offending value (``MISSING`` when there is none to show).
        expected: what would have been accepted ("an integer", "one of: voc, coco, yolo").
        hint: a suggestion ("did you mean 'epochs'?").
    """

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    value: Any = MISSING
    expected: str | None = None
    hint: str | None = None

    @property
    def where(self) -> str:
        """``file:line: field`` with the parts that are known."""
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else str(self.file))
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        details = []
        if self.value is not MISSING:
            details.append(f"got {_show(self.value)}")
        if self.expected:
            details.append(f"expected {self.expected}")
        if details:
            text += f" ({'; '.join(details)})"
        if self.hint:
            text += f"; {self.hint}"
        # a name that is not valid Unicode (a lone surrogate: a non-UTF-8 file name, a JSON
        # "\udc80") is shown escaped: printing it raw would fail
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``value`` rendered with ``repr`` when it is not JSON-native)."""
        out: dict[str, Any] = {"message": self.message}
        for key in ("file", "line", "field", "expected", "hint"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.value is not MISSING:
            v = self.value
            out["value"] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
        return out


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 200 else text[:197] + "..."


class CvpipeError(Exception):
    """Base of cvpipe's errors: one or more :class:`Problem` records.

    Construct with a message and the location fields of :class:`Problem`, or with
    :meth:`from_problems` to report many problems at once.
    """

    exit_code = 2

    def __init__(self, message: str = "", **where: Any) -> None:
        self.problems: list[Problem] = [Problem(message, **where)] if message else []
        super().__init__(str(self))

    @classmethod
    def from_problems(cls, problems: Iterable[Problem]) -> "CvpipeError":
        err = cls.__new__(cls)
        err.problems = list(problems)
        Exception.__init__(err, str(err))
        return err

    @property
    def problem(self) -> Problem:
        """The first problem (most errors carry exactly one)."""
        return self.problems[0]

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        return f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)

    def __reduce__(self):  # picklable across process pools
        return (_rebuild, (type(self), self.problems))


def _rebuild(cls: type[CvpipeError], problems: list[Problem]) -> CvpipeError:
    return cls.from_problems(problems)


class InputError(CvpipeError):
    """A dataset, annotation, image or detections file is malformed or inconsistent."""


class ConfigError(CvpipeError):
    """A pipeline file, ``--set`` override, CLI option or plugin parameter is wrong."""


class UnknownNameError(ConfigError, KeyError):
    """A name (format, model, step, ...) that no plugin registered.

    The message lists the registered names and the closest match.
    """

    def __init__(self, kind: str, name: str, available: Sequence[str], **where: Any) -> None:
        self.kind, self.name, self.available = kind, name, sorted(available)
        match = closest(name, self.available)
        super().__init__(
            f"unknown {kind} {name!r}",
            value=MISSING,
            expected="one of: " + (", ".join(self.available) or "(none registered)"),
            hint=f"did you mean {match!r}?" if match else None,
            **where,
        )

    __str__ = CvpipeError.__str__  # KeyError would quote the message


class PluginError(CvpipeError):
    """A plugin misbehaved: a name registered twice, a failing hook, a wrong API version."""

    exit_code = 1


class JobError(CvpipeError):
    """The job itself failed (training diverged, nothing to evaluate, ...): exit code 1."""

    exit_code = 1


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (case-insensitive), or None if none is close."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None
