"""Compatibility name of :mod:`cvpipe.settings`: the one binder (:func:`bind`) and its helpers.

Third-party code written against ``cvpipe.params.bind`` keeps working; new code imports
:mod:`cvpipe.settings`.
"""

from __future__ import annotations

from .settings import ParamInfo, bind, describe_type, signature_params

__all__ = ["bind", "signature_params", "describe_type", "ParamInfo"]
