"""Box-aware transforms: every albumentations transform by name, compositions, and the
``augment_preview`` step.

In pipeline YAML a transform list looks like::

    transforms:
      - HorizontalFlip: {p: 0.5}
      - RandomSizedBBoxSafeCrop: {height: 320, width: 320, p: 0.3}
      - OneOf:
          p: 0.8
          transforms:
            - ColorJitter: {brightness: 0.3, contrast: 0.3}
            - RandomGamma: {}
      - GaussNoise           # a bare name: the transform with its defaults

:func:`build_transforms` validates such a list (unknown names with a suggestion, wrong or
out-of-range parameters with the path of the field, e.g. ``transforms[1].RandomSizedBBoxSafeCrop.height``)
and returns an :class:`Augmenter`, which applies an ``albumentations.Compose`` to an image and a
:class:`cvpipe.data.Sample`, keeping every per-box field aligned with its box.

**Why a name list is kept here.** ``cvpipe plugins`` and ``cvpipe --help`` must not import
albumentations (about 2 s), yet every albumentations transform must be listed under its own
name. So :data:`ALBUMENTATIONS_TRANSFORMS` lists the names of albumentations' public 2-D
transform classes and :data:`NOT_REGISTERED` the ones left out (with why); each name is
registered with a small factory that imports albumentations only when it is called.
``tests/test_augment.py`` checks both lists against the installed albumentations, so a new
albumentations release that adds or removes a transform fails a test instead of going unnoticed.

Notes on albumentations 2.0.8 that this module works around (found by reading its source):

* Constructing a transform validates its parameters with pydantic and raises a ``ValueError``
  whose ``__cause__`` is the pydantic ``ValidationError``; we turn its errors into
  :class:`~cvpipe.errors.ConfigError` with field paths. Unknown parameters are only *warned*
  about by albumentations; we reject them (with a suggestion) before construction.
* ``Compose(seed=...)`` seeds every transform's own generator with the *same* seed, so two
  transforms with equal ``p`` (``HorizontalFlip`` and ``VerticalFlip``) always fire together.
  :class:`Augmenter` gives the whole tree one shared generator instead
  (``Compose.set_random_state``).
* Boxes go through albumentations as float32 normalised coordinates, so a box may come back
  off by about 1e-5 pixels (a flip applied twice returns the box to within 1e-3 px).
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import numpy as np

    from ..contract import StepRegistrar, TransformRegistrar

from .. import hookimpl
from ..errors import ConfigError, CvpipeError, InputError, PluginError, Problem, UnknownNameError

__all__ = [
    "ALBUMENTATIONS_TRANSFORMS",
    "NOT_REGISTERED",
    "COMPOSITIONS",
    "Augmenter",
    "build_transforms",
    "make_albumentations",
    "AugmentPreview",
]

#: albumentations' public 2-D transform classes, each registered under its own name
#: (albumentations 2.0.8; ``tests/test_augment.py`` checks the list against the installed version).
ALBUMENTATIONS_TRANSFORMS: tuple[str, ...] = (
    "AdditiveNoise", "AdvancedBlur", "Affine", "AtLeastOneBBoxRandomCrop", "AutoContrast",
    "BBoxSafeRandomCrop", "Blur", "CLAHE", "CenterCrop", "ChannelDropout", "ChannelShuffle",
    "ChromaticAberration", "CoarseDropout", "ColorJitter", "ConstrainedCoarseDropout", "Crop",
    "CropAndPad", "D4", "Defocus", "Downscale", "ElasticTransform", "Emboss", "Equalize", "Erasing",
    "FancyPCA", "FrequencyMasking", "FromFloat", "GaussNoise", "GaussianBlur", "GlassBlur",
    "GridDistortion", "GridDropout", "GridElasticDeform", "HEStain", "HorizontalFlip",
    "HueSaturationValue", "ISONoise", "Illumination", "ImageCompression", "InvertImg",
    "LongestMaxSize", "MedianBlur", "MotionBlur", "MultiplicativeNoise", "NoOp", "Normalize",
    "OpticalDistortion", "Pad", "PadIfNeeded", "Perspective", "PiecewiseAffine", "PixelDropout",
    "PlanckianJitter", "PlasmaBrightnessContrast", "PlasmaShadow", "Posterize", "RGBShift",
    "RandomBrightnessContrast", "RandomCrop", "RandomCropFromBorders", "RandomFog", "RandomGamma",
    "RandomGravel", "RandomGridShuffle", "RandomRain", "RandomResizedCrop", "RandomRotate90",
    "RandomScale", "RandomShadow", "RandomSizedBBoxSafeCrop", "RandomSizedCrop", "RandomSnow",
    "RandomSunFlare", "RandomToneCurve", "Resize", "RingingOvershoot", "Rotate", "SafeRotate",
    "SaltAndPepper", "Sharpen", "ShiftScaleRotate", "ShotNoise", "SmallestMaxSize", "Solarize",
    "Spatter", "SquareSymmetry", "Superpixels", "ThinPlateSpline", "TimeMasking", "TimeReverse",
    "ToFloat", "ToGray", "ToRGB", "ToSepia", "Transpose", "UnsharpMask", "VerticalFlip",
    "XYMasking", "ZoomBlur",
)

#: albumentations transform classes cvpipe does not register, and why. Asking for one of these
#: by name gives this reason instead of "unknown transform".
NOT_REGISTERED: dict[str, str] = {
    # need per-call data that a detection pipeline does not carry
    "CropNonEmptyMaskIfExists": "it needs a segmentation mask, and cvpipe pipelines carry boxes only",
    "MaskDropout": "it needs a segmentation mask, and cvpipe pipelines carry boxes only",
    "RandomCropNearBBox": "it needs a per-call 'cropping_bbox'; use RandomSizedBBoxSafeCrop or AtLeastOneBBoxRandomCrop",
    "FDA": "it needs per-call reference images ('fda_metadata'), which cvpipe does not supply",
    "HistogramMatching": "it needs per-call reference images ('hm_metadata'), which cvpipe does not supply",
    "PixelDistributionAdaptation": "it needs per-call reference images ('pda_metadata'), which cvpipe does not supply",
    "Mosaic": "it needs per-call extra images ('mosaic_metadata'), which cvpipe does not supply",
    "OverlayElements": "it needs per-call overlays ('overlay_metadata'), which cvpipe does not supply",
    "TextImage": "it needs per-call text ('textimage_metadata') and a font file",
    "Lambda": "it takes Python functions, which cannot be written in YAML; register a transform plugin instead",
    "Morphological": "its box handling fails under OpenCV 5 in albumentations 2.0.8 (cv2.dilate on a 3-D array)",
    # replaced by build_transforms(to_tensor=True, normalize=...)
    "ToTensorV2": "the tensor conversion is the final step models ask for: use to_tensor/normalize",
    # 3-D (volume) transforms
    "CenterCrop3D": "it transforms 3-D volumes, not images",
    "CoarseDropout3D": "it transforms 3-D volumes, not images",
    "CubicSymmetry": "it transforms 3-D volumes, not images",
    "Pad3D": "it transforms 3-D volumes, not images",
    "PadIfNeeded3D": "it transforms 3-D volumes, not images",
    "RandomCrop3D": "it transforms 3-D volumes, not images",
    "ToTensor3D": "it transforms 3-D volumes, not images",
}

#: Compositions usable in YAML with a nested ``transforms`` list.
COMPOSITIONS: tuple[str, ...] = ("OneOf", "SomeOf", "Sequential", "RandomOrder")

#: The label field carrying each box's index through albumentations, so every per-box field
#: (labels, flags, scores, box_extra) follows its box.
_INDEX_FIELD = "box_index"


# ---------------------------------------------------------------------------------------------
# Building single transforms
# ---------------------------------------------------------------------------------------------


def _schema_wrapped(cls: type) -> bool:
    """Whether ``cls.__init__`` is albumentations' pydantic-validating wrapper (which accepts
    ``strict``): the class defining ``__init__`` also defines ``InitSchema``."""
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__:
            return "InitSchema" in klass.__dict__
    return False


def _pydantic_problems(exc: BaseException, prefix: str, params: dict[str, Any] | None = None) -> list[Problem] | None:
    """The problems of a pydantic ``ValidationError`` (``exc`` or its cause), fields prefixed;
    ``params`` (the settings given) supply the offending value where pydantic's is partial."""
    cause = exc if hasattr(exc, "errors") else exc.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    # one problem per field: a union type (int | tuple[int, int]) yields one error per branch,
    # located as "blur_limit.int", "blur_limit.tuple[int, int]"; keep the parameter name and
    # list indices only, and join the branches' messages
    merged: dict[str | None, tuple[list[str], dict[str, Any]]] = {}
    for err in errors():
        loc = [p for p in err.get("loc", ()) if p != "__root__"]
        keep = [str(loc[0])] if loc else []
        for part in loc[1:]:
            if not isinstance(part, int):
                break
            keep.append(f"[{part}]")
        field = ".".join(p for p in [prefix, "".join(keep)] if p) or None
        msg = str(err.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        msgs, kwargs = merged.setdefault(field, ([], {"field": field}))
        if msg not in msgs:
            msgs.append(msg)
        if loc and err.get("type") != "missing" and "value" not in kwargs:
            if len(keep) == len(loc):
                kwargs["value"] = err.get("input")
            elif params is not None and loc[0] in params:  # a union branch: show what was given
                kwargs["value"] = params[loc[0]]
    problems = [Problem(" or ".join(msgs), **kwargs) for msgs, kwargs in merged.values()]
    return problems or None


def make_albumentations(name: str, params: dict[str, Any] | None = None, *, where: str = "") -> Any:
    """Construct albumentations transform ``name`` with ``params``, validated.

    Raises:
        ConfigError: unknown parameter (with a suggestion), missing required parameter, or a
            value albumentations' validation rejects; fields are ``where.<param>`` (just
            ``<param>`` when ``where`` is empty).
    """
    import warnings

    import albumentations as A

    params = dict(params or {})
    cls = getattr(A, name)
    sig = inspect.signature(cls.__init__)
    accepted = [p for p in sig.parameters if p not in ("self", "strict")]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

    def at(key: str | None) -> str | None:
        parts = [p for p in (where, key) if p]
        return ".".join(parts) or None

    problems = []
    if not open_ended:
        from ..errors import closest

        for key in params:
            if key not in accepted:
                match = closest(str(key), accepted)
                problems.append(Problem(
                    f"unknown parameter of {name}", field=at(str(key)),
                    expected="one of: " + (", ".join(accepted) or "(no parameters)"),
                    hint=f"did you mean {match!r}?" if match else None,
                ))
    if problems:
        raise ConfigError.from_problems(problems)
    if _schema_wrapped(cls):
        params["strict"] = True  # schema errors other than pydantic's raise instead of silently using defaults
    try:
        with warnings.catch_warnings():
            # parameters are checked above; albumentations' own deprecation notes stay visible
            warnings.filterwarnings("ignore", message=r"Argument\(s\) .* are not valid")
            return cls(**params)
    except (ValueError, TypeError) as exc:
        found = _pydantic_problems(exc, where, params)
        if found:
            raise ConfigError.from_problems(found) from None
        raise ConfigError(f"invalid parameters for {name}: {exc}", field=at(None)) from None


class AlbumentationsFactory:
    """The registered factory of one albumentations transform: imports albumentations only when
    called. ``factory(**params)`` returns the validated transform (see :func:`make_albumentations`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__doc__ = f"albumentations.{name}"

    def __call__(self, **params: Any) -> Any:
        return make_albumentations(self.name, params)

    def __repr__(self) -> str:
        return f"AlbumentationsFactory({self.name!r})"


def _composition_factory(name: str) -> Callable[..., Any]:
    def check_p(p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ConfigError("probability out of range", field="p", value=p, expected="a number from 0 to 1")

    def one_of(transforms: list, p: float = 0.5):
        """albumentations.OneOf: apply one of the nested transforms (chosen by their p)."""
        import albumentations as A

        check_p(p)
        return A.OneOf(list(transforms), p=p)

    def sequential(transforms: list, p: float = 0.5):
        """albumentations.Sequential: apply the nested transforms in order, all or none."""
        import albumentations as A

        check_p(p)
        return A.Sequential(list(transforms), p=p)

    def check_n(n: int, replace: bool, transforms: list) -> None:
        if n < 1:
            raise ConfigError("must be at least 1", field="n", value=n, expected="an integer >= 1")
        if not replace and n > len(transforms):
            raise ConfigError("larger than the number of nested transforms", field="n", value=n,
                              expected=f"at most {len(transforms)} (or replace: true)")

    def some_of(transforms: list, n: int = 1, replace: bool = False, p: float = 1.0):
        """albumentations.SomeOf: apply n of the nested transforms, chosen at random."""
        import albumentations as A

        check_p(p)
        check_n(n, replace, transforms)
        return A.SomeOf(list(transforms), n=n, replace=replace, p=p)

    def random_order(transforms: list, n: int = 1, replace: bool = False, p: float = 1.0):
        """albumentations.RandomOrder: apply n of the nested transforms in random order."""
        import albumentations as A

        check_p(p)
        check_n(n, replace, transforms)
        return A.RandomOrder(list(transforms), n=n, replace=replace, p=p)

    return {"OneOf": one_of, "Sequential": sequential, "SomeOf": some_of, "RandomOrder": random_order}[name]


# ---------------------------------------------------------------------------------------------
# The plugin hook
# ---------------------------------------------------------------------------------------------


@hookimpl
def cvpipe_register_transforms(register: TransformRegistrar):
    for name in ALBUMENTATIONS_TRANSFORMS:
        register.add_transform(name, AlbumentationsFactory(name), description=f"albumentations.{name} (box-aware)")
    for name in COMPOSITIONS:
        factory = _composition_factory(name)
        register.add_transform(name, factory, description=(factory.__doc__ or "").strip())


@hookimpl
def cvpipe_register_steps(register: StepRegistrar):
    register.add_step("augment_preview", AugmentPreview,
             description="PNG grid of augmented samples next to their originals, boxes drawn")


# ---------------------------------------------------------------------------------------------
# Transform lists from YAML
# ---------------------------------------------------------------------------------------------


def _split_item(item: Any, path: str) -> tuple[str, dict[str, Any]]:
    """``{Name: {params}}`` or ``Name`` -> (name, params)."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        (name, params), = item.items()
        if params is None:
            params = {}
        if not isinstance(name, str):
            raise ConfigError("transform name must be a string", field=path, value=name,
                              expected="{TransformName: {parameter: value}}")
        if not isinstance(params, dict):
            raise ConfigError("transform parameters must be a mapping", field=f"{path}.{name}", value=params,
                              expected="a mapping of parameter names to values, e.g. {p: 0.5}")
        return name, dict(params)
    raise ConfigError("not a transform", field=path, value=item,
                      expected="{TransformName: {parameter: value}} or a bare TransformName")


def _reprefix(err: CvpipeError, path: str) -> CvpipeError:
    """``err`` with every problem's field made relative to ``path`` (a factory names its own
    parameters; the list position and transform name come from here)."""
    probs = [dataclasses.replace(p, field=f"{path}.{p.field}" if p.field else path) for p in err.problems]
    return type(err).from_problems(probs) if not isinstance(err, UnknownNameError) else ConfigError.from_problems(probs)


def _is_albumentations(obj: Any) -> bool:
    from albumentations.core.composition import BaseCompose
    from albumentations.core.transforms_interface import BasicTransform

    return isinstance(obj, (BasicTransform, BaseCompose))


def _build_list(spec: Any, where: str, transforms_family: Any) -> list[Any]:
    from ..settings import bind
    from ..registry import call_plugin

    if spec is None:
        return []
    if not isinstance(spec, (list, tuple)):
        raise ConfigError("transforms must be a list", field=where, value=spec,
                          expected="a list of {TransformName: {parameters}}")
    built = []
    problems: list[Problem] = []
    for i, item in enumerate(spec):
        path = here = f"{where}[{i}]"
        try:
            name, params = _split_item(item, path)
            here = f"{path}.{name}"
            if name not in transforms_family and name in NOT_REGISTERED:
                raise ConfigError(f"transform {name!r} is not available in cvpipe", field=path,
                                  hint=f"{name} is left out because {NOT_REGISTERED[name]}")
            entry = transforms_family.get(name, field=path)
            if name in COMPOSITIONS and entry.plugin == __name__:
                if "transforms" not in params:
                    raise ConfigError("missing required setting", field=f"{here}.transforms",
                                      expected="a list of nested transforms")
                children = _build_list(params.pop("transforms"), f"{here}.transforms", transforms_family)
                bound = bind(entry.obj, params, where=here, skip=1)
                try:
                    built.append(entry.obj(children, **bound))
                except CvpipeError as exc:
                    raise _reprefix(exc, here) from None
                continue
            bound = bind(entry.obj, params, where=here)
            try:
                obj = call_plugin(entry, entry.obj, **bound)
            except CvpipeError as exc:
                raise _reprefix(exc, here) from None
            except PluginError:
                raise
            if not _is_albumentations(obj):
                raise PluginError(
                    f"transform {name!r} of plugin {entry.plugin!r} returned {type(obj).__name__}, "
                    "not an albumentations transform", field=here)
            built.append(obj)
        except PluginError as exc:
            cause = exc.__cause__
            found = _pydantic_problems(cause, here) if cause is not None else None
            if not found:
                raise
            problems.extend(found)  # a plugin factory whose albumentations transform rejected a value
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError.from_problems(problems)
    return built


def _check_normalize(normalize: dict | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    if normalize is None:
        return None
    if not isinstance(normalize, dict) or set(normalize) - {"mean", "std"}:
        raise ConfigError("bad normalisation", field="normalize", value=normalize,
                          expected="a mapping with 'mean' and 'std' (three numbers each, for pixels scaled to [0, 1])")
    out = []
    for key, default in (("mean", (0.0, 0.0, 0.0)), ("std", (1.0, 1.0, 1.0))):
        v = normalize.get(key, default)
        if not (isinstance(v, (list, tuple)) and len(v) in (1, 3)
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
            raise ConfigError("bad normalisation value", field=f"normalize.{key}", value=v,
                              expected="a list of 1 or 3 numbers")
        out.append(tuple(float(x) for x in v))
    if any(s <= 0 for s in out[1]):
        raise ConfigError("std must be positive", field="normalize.std", value=list(out[1]), expected="numbers > 0")
    return out[0], out[1]


def build_transforms(
    spec: list | None,
    *,
    where: str = "transforms",
    min_visibility: float = 0.0,
    min_area: float = 0.0,
    clip: bool = True,
    to_tensor: bool = False,
    normalize: dict | None = None,
    seed: int | None = None,
) -> "Augmenter":
    """Validate a YAML transform list and build the :class:`Augmenter` applying it.

    Args:
        spec: list of ``{Name: {params}}`` (or bare ``Name``) items; ``OneOf`` / ``SomeOf`` /
            ``Sequential`` / ``RandomOrder`` take a nested ``transforms`` list. None or ``[]``
            gives an identity augmenter (still doing ``to_tensor``/``normalize``).
        where: field path of ``spec`` in the user's settings, prefixed to every problem
            (``transforms[1].RandomSizedBBoxSafeCrop.height``).
        min_visibility: boxes keeping less than this fraction of their area are dropped.
        min_area: boxes smaller than this many pixels after the transforms are dropped.
        clip: clip boxes reaching outside the image to it before transforming.
        to_tensor: end with a float32 ``(3, H, W)`` torch tensor in ``[0, 1]``.
        normalize: ``{"mean": [...], "std": [...]}`` for pixels in [0, 1]: ``(x - mean) / std``
            after scaling (a float32 image, or tensor with ``to_tensor``).
        seed: seeds the augmentations (None: fresh randomness).

    Raises:
        ConfigError: listing every problem with its field path, at construction (so pipeline
            validation catches it).
    """
    from ..plugins import get_registry

    for key, value, lo, hi in (("min_visibility", min_visibility, 0.0, 1.0), ("min_area", min_area, 0.0, None)):
        if not isinstance(value, (int, float)) or value < lo or (hi is not None and value > hi):
            raise ConfigError("out of range", field=key, value=value,
                              expected=f"a number from {lo} to {hi}" if hi is not None else f"a number >= {lo}")
    norm = _check_normalize(normalize)
    transforms = _build_list(spec, where, get_registry().transforms)
    return Augmenter(transforms, min_visibility=float(min_visibility), min_area=float(min_area), clip=clip,
                     to_tensor=to_tensor, normalize=norm, seed=seed)


# ---------------------------------------------------------------------------------------------
# Applying transforms to samples
# ---------------------------------------------------------------------------------------------


class Augmenter:
    """An ``albumentations.Compose`` over images and :class:`~cvpipe.data.Sample` boxes.

    ``augmenter(image, sample) -> (image, sample)``: ``image`` is ``(H, W, C)`` uint8 (RGB);
    the returned sample has the transformed boxes (absolute pixel xyxy), the new width and
    height, and only the boxes that survived, with labels, flags, scores and ``box_extra``
    aligned (each box's index travels through albumentations as a label field). The image comes
    back as numpy ``(H', W', C)`` (float32 after ``normalize``), or a float32 ``(C, H', W')``
    torch tensor with ``to_tensor``.

    Picklable (DataLoader workers). With a fixed seed every copy draws the same augmentations:
    call :meth:`set_seed` with a per-worker seed in the worker init function.
    """

    def __init__(
        self,
        transforms: Sequence[Any],
        *,
        min_visibility: float = 0.0,
        min_area: float = 0.0,
        clip: bool = True,
        to_tensor: bool = False,
        normalize: tuple[Sequence[float], Sequence[float]] | None = None,
        seed: int | None = None,
    ) -> None:
        import albumentations as A

        self.transforms = list(transforms)
        self.to_tensor = to_tensor
        self.normalize = normalize
        tail: list[Any] = []
        if normalize is not None or to_tensor:
            mean, std = normalize if normalize is not None else ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
            # albumentations' Normalize: (x - mean * 255) / (std * 255), float32 (uses a lookup
            # table on uint8 input)
            tail.append(A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0, p=1.0))
        if to_tensor:
            from albumentations.pytorch import ToTensorV2

            tail.append(ToTensorV2(p=1.0))
        self.compose = A.Compose(
            self.transforms + tail,
            bbox_params=A.BboxParams(format="pascal_voc", label_fields=[_INDEX_FIELD],
                                     min_visibility=min_visibility, min_area=min_area, clip=clip),
        )
        self.set_seed(seed)

    def set_seed(self, seed: int | None) -> None:
        import numpy as np

        """Re-seed all randomness of the transform tree from one generator (see the module notes
        on why not ``Compose(seed=...)``)."""
        self.seed = seed
        self.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))

    def __call__(self, image: np.ndarray, sample: Any) -> tuple[Any, Any]:
        import numpy as np

        n = len(sample.boxes)
        try:
            out = self.compose(image=image, bboxes=sample.boxes, **{_INDEX_FIELD: np.arange(n)})
        except ValueError as exc:
            raise self._explain(exc, image, sample) from exc
        img = out["image"]
        keep = np.asarray(out[_INDEX_FIELD], dtype=np.int64).reshape(-1)
        boxes = np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 4)
        if self.to_tensor:
            h, w = int(img.shape[-2]), int(img.shape[-1])
        else:
            h, w = int(img.shape[0]), int(img.shape[1])
        kept = sample.select(keep) if len(keep) != n or np.any(keep != np.arange(n)) else sample
        return img, dataclasses.replace(kept, boxes=boxes, width=w, height=h,
                                        box_extra=list(kept.box_extra), extra=dict(kept.extra))

    def _explain(self, exc: ValueError, image: np.ndarray, sample: Any) -> CvpipeError:
        import numpy as np

        from ..data.boxes import clip as clip_boxes
        from ..data.checks import invalid_mask

        h, w = image.shape[:2]
        b = sample.boxes
        if self.compose.processors["bboxes"].params.clip:
            b = clip_boxes(b, w, h)
        bad = np.flatnonzero(invalid_mask(b, w, h))
        if len(bad):
            i = int(bad[0])
            return InputError(
                "box cannot be augmented" + (" (empty after clipping to the image)" if len(b) else ""),
                file=sample.image, field=f"boxes[{i}]", value=[round(float(v), 3) for v in sample.boxes[i]],
                expected=f"x_min < x_max, y_min < y_max inside the {w}x{h} image",
            )
        return InputError(f"augmentation failed: {exc}", file=sample.image)

    def __repr__(self) -> str:
        names = ", ".join(type(t).__name__ for t in self.transforms)
        return f"Augmenter([{names}], to_tensor={self.to_tensor}, seed={self.seed})"


# ---------------------------------------------------------------------------------------------
# The augment_preview step
# ---------------------------------------------------------------------------------------------


def _boxes(n: int) -> str:
    return f"{n} box" if n == 1 else f"{n} boxes"


class AugmentPreview:
    """Write a PNG grid of augmented samples, each next to its original, boxes and labels drawn.

    Settings:
        dataset: context name of the dataset to sample from.
        transforms: the transform list (as for training).
        images: how many samples to show.
        seed: picks the samples and seeds the augmentations.
        split: only samples of this split (None: all).
        columns: (original, augmented) pairs per row.
        file: PNG file name inside the step's folder of the run directory.
        min_visibility, min_area, clip: box handling, as for training.
    """

    def __init__(
        self,
        dataset: str,
        transforms: list,
        images: int = 8,
        seed: int = 0,
        split: str | None = None,
        columns: int = 2,
        file: str = "augment_preview.png",
        min_visibility: float = 0.0,
        min_area: float = 0.0,
        clip: bool = True,
    ) -> None:
        if images < 1:
            raise ConfigError("must be at least 1", field="images", value=images, expected="an integer >= 1")
        if columns < 1:
            raise ConfigError("must be at least 1", field="columns", value=columns, expected="an integer >= 1")
        name = Path(file)
        if name.name != file or name.suffix.lower() != ".png":
            raise ConfigError("not a PNG file name", field="file", value=file,
                              expected="a file name ending in .png (written in the step's run folder)")
        self.augmenter = build_transforms(transforms, where="transforms", min_visibility=min_visibility,
                                          min_area=min_area, clip=clip, seed=seed)
        self.images, self.seed, self.split, self.columns, self.file = images, seed, split, columns, file
        self.inputs = {"dataset": dataset}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Any) -> dict[str, Any]:
        import numpy as np

        from ..draw import draw_boxes, image_grid, read_image, save_png

        ds = ctx[self.inputs["dataset"]]
        pool = [s for s in ds.samples if self.split is None or s.split == self.split]
        if not pool:
            from ..errors import JobError

            raise JobError("no samples to preview" + (f" in split {self.split!r}" if self.split else ""),
                           field="dataset", value=self.inputs["dataset"])
        rng = np.random.default_rng(self.seed)
        picks = sorted(rng.choice(len(pool), size=min(self.images, len(pool)), replace=False).tolist())
        tiles, titles = [], []
        before = after = 0
        for k in picks:
            s = pool[k]
            img = read_image(ds.image_path(s))
            aug_img, aug = self.augmenter(img, s)
            tiles += [draw_boxes(img, s.boxes, s.labels, ds.categories),
                      draw_boxes(aug_img, aug.boxes, aug.labels, ds.categories)]
            titles += [f"{s.stem} ({_boxes(len(s))})", f"augmented ({_boxes(len(aug))})"]
            before += len(s)
            after += len(aug)
        path = save_png(ctx.step_dir / self.file, image_grid(tiles, 2 * self.columns, titles=titles))
        ctx.log(f"augment_preview: {len(picks)} samples -> {path}")
        return {"png": str(path), "images": len(picks), "boxes_before": before, "boxes_after": after}
