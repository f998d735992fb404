"""The ``cvpipe`` command line: a thin click layer over the library.

Sub-commands live in :mod:`cvpipe.commands` and are imported only when invoked, so
``cvpipe --help`` stays fast. Errors: a :class:`~cvpipe.errors.CvpipeError` is printed as one
message per problem and exits with its ``exit_code`` (2 for bad input); ``--debug`` shows the
traceback of any error. SIGTERM is handled like Ctrl-C (SIGINT): the work in progress unwinds,
temporaries are removed, and the exit code is 143 (130 for Ctrl-C) with a one-line message.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import traceback
import warnings

import click

from . import __version__
from .errors import CvpipeError

#: command name -> "module:attribute" of its click command (imported on use).
COMMANDS: dict[str, str] = {
    "plugins": "cvpipe.commands.plugins:plugins",
    "plugin": "cvpipe.commands.plugins:plugin",
    "run": "cvpipe.commands.run:run",
    "convert": "cvpipe.commands.convert:convert",
    "validate": "cvpipe.commands.convert:validate",
    "evaluate": "cvpipe.commands.evaluate:evaluate",
    "predict": "cvpipe.commands.predict:predict",
    "export": "cvpipe.commands.export:export",
    "tile": "cvpipe.commands.tile:tile",
    "report": "cvpipe.commands.report:report",
    "train": "cvpipe.commands.train:train",
}

_debug = False


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so it unwinds exactly like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the clean-up short
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises :class:`Terminated` for the block (main thread only; restored after)."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used (or when help lists them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    global _debug
    _debug = _debug or value
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cvpipe")
@click.option("--debug", is_flag=True, is_eager=True, expose_value=False, callback=_set_debug,
              help="Show full tracebacks on errors.")
def cli() -> None:
    """cvpipe: object-detection datasets, augmentation, training and evaluation.

    Run a pipeline with `cvpipe run PIPELINE.yaml`; see what is installed with `cvpipe plugins`.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cvpipe`` console script; returns the exit code."""
    global _debug
    args = sys.argv[1:] if argv is None else list(argv)
    _debug = "--debug" in args
    with warnings.catch_warnings(), _sigterm_as_interrupt():
        warnings.showwarning = _show_warning
        return _main(args)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a plugin that failed to load, ...) as one plain line on stderr."""
    click.echo(f"warning: {message}", err=True)


def _main(args: list[str]) -> int:
    try:
        rv = cli.main(args=args, prog_name="cvpipe", standalone_mode=False)
        return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0  # ctx.exit(code) lands here
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt) as exc:
        if _debug:
            traceback.print_exc()
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):  # click wraps it in Abort
            click.echo("terminated (SIGTERM)", err=True)
            return 143
        click.echo("interrupted", err=True)
        return 130
    except CvpipeError as exc:
        if _debug:
            traceback.print_exc()
        from .console import error_lines

        for line in error_lines(exc):
            click.echo(f"error: {line}" if not line.startswith("  ") else line, err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug or an environment failure: one line, details with --debug
        if _debug:
            traceback.print_exc()
        else:
            click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1


def run() -> None:  # pragma: no cover - used by `python -m cvpipe`
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
