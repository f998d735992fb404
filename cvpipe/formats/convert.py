"""What ``cvpipe convert`` runs: a plugin's direct converter (hook ``cvpipe_convert``) when one
takes the job, else read, check, refuse or skip-and-count, order the categories, write."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..console import MAX_PER_KIND
from ..data.categories import order_categories, read_classes_file
from ..errors import ConfigError, InputError, Problem
from .check import check_dataset, dataset_folders, problem_reason
from .io import accepts, read_dataset, split_folder_layout, write_dataset
from .lookup import detect_format, get_format

__all__ = ["convert_dataset", "refuse_conversion", "conversion_report", "merge_notes", "MAX_LISTED_PROBLEMS"]

#: at most this many problems of one kind are printed when convert refuses its input (the rest
#: counted, :func:`cvpipe.console.problem_lines`; ``cvpipe validate --json`` lists all)
MAX_LISTED_PROBLEMS = MAX_PER_KIND


def _same_or_inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def check_destination(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Refuse (ConfigError on ``DST``) an output folder that overlaps ``src`` or exists and is not
    empty without ``overwrite``; first put back a ``dst`` an earlier run was killed while swapping
    (:func:`cvpipe.fsutil.recover`), so it is judged as it really is."""
    from ..fsutil import recover

    if src.exists() and (_same_or_inside(dst, src) or _same_or_inside(src, dst)):
        raise ConfigError("the output folder overlaps the input", field="DST", value=str(dst),
                          expected="a folder outside SRC that does not contain it")
    recover(dst)
    if dst.exists() and not overwrite and (not dst.is_dir() or any(dst.iterdir())):
        raise ConfigError("the output exists and is not empty", field="DST", value=str(dst),
                          expected="a new or empty folder", hint="replace it with --overwrite")


def refuse_conversion(problems: Sequence[Problem], src: Path, dst: Path) -> InputError:
    """The error a conversion raises for bad input: every problem (printed summarised per kind,
    :data:`MAX_LISTED_PROBLEMS` lines each, with a hint naming ``cvpipe validate``) and a last
    line saying nothing was written. The general path and every direct converter (hook
    ``cvpipe_convert``) raise this same error."""
    listed = list(problems)
    listed.append(Problem("nothing was written", file=str(dst),
                          hint="fix the input, or leave the bad items out with --skip-invalid"))
    err = InputError.from_problems(listed)
    err.more_hint = f"(all with: cvpipe validate {src} --json FILE)"
    return err


def merge_notes(*notes: dict[str, int] | None) -> dict[str, int]:
    """Notes (``{what was assumed or changed: how many}``, ``Dataset.meta["notes"]`` of a reader,
    ``report["notes"]`` of a writer) added up, in first-seen order."""
    out: dict[str, int] = {}
    for d in notes:
        for k, v in (d or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def conversion_report(written: dict[str, Any], skipped: Counter, problems: int) -> dict[str, Any]:
    """A conversion's report: the writer's report ``written`` with ``skipped`` (the input's
    problems counted by reason, in the order found) merged before the writer's own counts, then
    ``problems`` (how many were found). Direct converters build their report with it too."""
    report = dict(written)
    merged = Counter(skipped)
    merged.update(report.get("skipped") or {})
    report["skipped"] = dict(merged)
    report["problems"] = problems
    return report


def convert_dataset(
    src: Path,
    dst: Path,
    to: str,
    *,
    from_format: str | None = None,
    keep_difficult: bool = False,
    images: str = "copy",
    classes_file: Path | None = None,
    classes: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    images_dir: Path | None = None,
    skip_invalid: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    direct: bool = True,
    follow_symlinks: bool = False,
) -> dict[str, Any]:
    """Convert the dataset at ``src`` into format ``to`` at ``dst``.

    ``dst`` must not exist or be empty, unless ``overwrite`` (then it is replaced as a whole,
    once the new output is complete).

    The input is read completely and checked like :func:`validate_dataset` (image files are
    checked only when they are copied or linked); any problem refuses the conversion with an
    InputError listing them (:func:`refuse_conversion`, ``dst`` untouched) unless
    ``skip_invalid``, which leaves the bad items out and counts them. Categories are ordered by
    :func:`order_categories` (``classes``, or the names in ``classes_file``, fix the order).
    An image that is a symlink resolving outside the dataset is a problem unless
    ``follow_symlinks``; images are copied or linked as the files they resolve to.

    With ``direct`` (the default) the plugins' direct converters are asked first (hook
    ``cvpipe_convert``); they give the same files and report as the general path, faster.

    Returns the writer's report plus ``source``, ``from``, ``to`` and ``skipped`` merged:
    ``{"images", "boxes", "skipped": {reason: n}, ..., "problems"}``, and ``notes``
    (``{what the reader assumed or changed, or the writer did: n}``, :func:`merge_notes`) when
    there are any.
    """
    src, dst = Path(src), Path(dst)
    if images not in ("copy", "link", "none"):
        raise ConfigError("bad --images", field="--images", value=images, expected="copy, link or none")
    if classes is not None and classes_file is not None:
        raise ConfigError("both classes and a classes file given", field="classes", expected="one of them")
    fmt = from_format or detect_format(src)
    get_format(fmt, need="reader", field="--from")
    writer_entry = get_format(to, need="writer", field="--to")
    check_destination(src, dst, overwrite=overwrite)
    if classes_file is not None:
        classes = read_classes_file(classes_file)
    classes = list(classes) if classes is not None else None
    where = {"source": str(src), "dst": str(dst), "from": fmt, "to": to}

    if direct and not split_folder_layout(src, fmt):  # direct converters read one layout, not split folders
        options = {"classes": classes, "classes_file": str(classes_file) if classes_file else None,
                   "keep_difficult": keep_difficult, "images": images,
                   "splits": list(splits) if splits else None, "images_dir": images_dir,
                   "skip_invalid": skip_invalid, "progress": progress, "follow_symlinks": follow_symlinks}
        report = _direct_conversion(src, dst, fmt, to, options)
        if report is not None:
            return _with_where(report, where)

    problems: list[Problem] = []
    dataset = read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=problems)
    read_notes = dataset.meta.get("notes")
    skipped: Counter = Counter()
    for p in problems:
        skipped[problem_reason(p)] += 1
    dataset = check_dataset(dataset, problems, check_images=images != "none", skipped=skipped, progress=progress,
                            follow_symlinks=follow_symlinks,
                            inside=dataset_folders(src, images_dir))
    if problems and not skip_invalid:
        raise refuse_conversion(problems, src, dst)
    dataset = order_categories(dataset, classes, classes_file=str(classes_file) if classes_file else None)
    options: dict[str, Any] = {"images": images, "keep_difficult": keep_difficult}
    if progress and accepts(writer_entry.obj.writer, "progress"):
        options["progress"] = True
    written = write_dataset(dataset, dst, to, **{k: v for k, v in options.items()
                                                 if accepts(writer_entry.obj.writer, k)})
    report = conversion_report(written, skipped, len(problems))
    notes = merge_notes(read_notes, report.get("notes"))
    if notes:  # what the reader assumed or changed, then what the writer did (no key when nothing)
        report["notes"] = notes
    return _with_where(report, where)


def _with_where(report: dict[str, Any], where: dict[str, str]) -> dict[str, Any]:
    """``report`` with ``source``, ``dst``, ``from``, ``to`` set before ``problems``."""
    report = dict(report)
    report.setdefault("skipped", {})
    problems = report.pop("problems", 0)
    report.update(where)
    report["problems"] = problems
    return report


def _direct_conversion(src: Path, dst: Path, fmt: str, to: str, options: dict[str, Any]) -> dict | None:
    """The first report a plugin's ``cvpipe_convert`` gives (plugins that failed to load are
    not asked), or None. A plugin's own exception becomes a PluginError naming it."""
    from ..errors import CvpipeError, PluginError
    from ..plugins import get_plugin_manager, get_registry

    pm = get_plugin_manager()
    failed = [pm.get_plugin(i.name) for i in get_registry().failures if pm.get_plugin(i.name) is not None]
    caller = pm.subset_hook_caller("cvpipe_convert", failed) if failed else pm.hook.cvpipe_convert
    try:
        return caller(src=src, dst=dst, src_format=fmt, dst_format=to, options=dict(options))
    except (CvpipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        owners = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
        tb, plugin = exc.__traceback__, "unknown"
        while tb is not None:
            if tb.tb_frame.f_code in owners:
                plugin = owners[tb.tb_frame.f_code]
                break
            tb = tb.tb_next
        raise PluginError(f"plugin {plugin!r} failed in hook cvpipe_convert ({fmt} -> {to}): "
                          f"{type(exc).__name__}: {exc}") from exc
