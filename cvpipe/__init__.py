"""cvpipe: object-detection datasets, augmentation, models, postprocessing, training and
evaluation behind one plugin contract and one CLI.

Public API: :data:`hookimpl` (mark plugin hook implementations), :data:`HOOK_API_VERSION`,
the data model (:class:`Dataset`, :class:`Sample`) and the errors. Nothing heavy is imported
here: ``import cvpipe`` stays fast.
"""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402

#: Version of the hook contract; see :mod:`cvpipe.hookspecs`.
HOOK_API_VERSION = 1


def __getattr__(name: str):
    # the data model needs numpy; load it on first use so `cvpipe --help` stays light
    if name in ("Dataset", "Sample"):
        from . import data

        return getattr(data, name)
    if name in ("CvpipeError", "InputError", "ConfigError", "PluginError", "JobError", "UnknownNameError", "Problem"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'cvpipe' has no attribute {name!r}")


__all__ = ["__version__", "hookimpl", "HOOK_API_VERSION", "Dataset", "Sample"]
