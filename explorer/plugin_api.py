"""The plugin API: what a plugin is (`Plugin`, `Kind`), the context its apply runs in
(`EditContext`, `DirectionRef`), the errors it may meet, and `check_plugin` (`explorer.plugins`
re-exports everything here). No Qt."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Mapping

import numpy as np

from .latents import resolve_layers
from .plugin_fields import DirectionField, Field, LayerRangeField, ParamError, is_number

log = logging.getLogger("explorer.plugins")


# ----- errors ------------------------------------------------------------------------------------
class PluginError(Exception):
    """A plugin could not be loaded or run. `disabled` says whether the registry switched it off."""

    def __init__(self, plugin_id: str, message: str, *, disabled: bool = False):
        self.plugin_id = plugin_id
        self.message = message
        self.disabled = disabled
        super().__init__(f"plugin {plugin_id}: {message}")


class EditCancelled(PluginError):
    """The caller cancelled a running edit (not the plugin's fault: it stays enabled)."""


# ----- plugins -----------------------------------------------------------------------------------
class Kind(str, Enum):
    LATENT = "latent"   # latents in, latent(s) out
    IMAGE = "image"     # uint8 HWC image in, same-shape image out; applied after rendering


class Plugin:
    """Subclass this, set the class attributes and write `apply`.

    LATENT plugins get a list of `Latent`s and return one ws array [num_ws, w_dim], or a `Latent`
    (its ws and noise are used), or a list of those when `output_count(params) > 1`.
    IMAGE plugins get a list with one uint8 [H, W, C] image and return a uint8 image of that shape.
    """
    id: str = ""
    name: str = ""
    description: str = ""
    version: int = 1
    kind: Kind = Kind.LATENT
    inputs: int | tuple[int, int | None] = 1
    params: list[Field] = []
    time_limit: float | None = 10.0   # seconds per apply; None = no limit (then honour cancelled())
    outputs: int = 1
    slow: bool = False                # an image edit taking seconds: the app runs it in the background
                                      # with progress and keeps its results (PluginRegistry.post_cache)

    def output_count(self, params: dict) -> int:
        """How many faces one apply returns (may depend on the parameters, e.g. a 'count' field)."""
        return int(self.outputs)

    def apply(self, inputs: list, params: dict, context: "EditContext"):
        raise NotImplementedError(f"plugin {self.id} does not implement apply()")

    def check(self, params: dict) -> list[str]:
        """Deeper checks of validated parameters before anything is made (a file a parameter names
        ...): raise ParamError for what cannot be used; return notes worth telling the user."""
        return []

    # ----- helpers shared by the registry, the UI and the CLI ---------------------------------
    def input_bounds(self) -> tuple[int, int | None]:
        if isinstance(self.inputs, (tuple, list)):
            lo, hi = self.inputs
            return int(lo), None if hi is None else int(hi)
        return int(self.inputs), int(self.inputs)

    def accepts(self, n: int) -> bool:
        lo, hi = self.input_bounds()
        return n >= lo and (hi is None or n <= hi)

    def describe_inputs(self) -> str:
        lo, hi = self.input_bounds()
        if lo == hi:
            return f"{lo} face" + ("s" if lo != 1 else "")
        return f"{lo} or more faces" if hi is None else f"{lo} to {hi} faces"

    def field(self, name: str) -> Field:
        for f in self.params:
            if f.name == name:
                return f
        raise KeyError(f"plugin {self.id} has no parameter {name!r}")

    def defaults(self) -> dict:
        return {f.name: f.validate(f.default) for f in self.params}

    def validate_params(self, params: Mapping | None = None, info=None,
                        directions: Mapping | None = None) -> dict:
        """Checked, normalised parameters in schema order; missing ones take their defaults.

        With `info`, layer ranges are checked against the model; with `directions`, direction
        names must exist. Raises ParamError naming the field.
        """
        params = dict(params or {})
        known = {f.name for f in self.params}
        for key in params:
            if key not in known:
                raise ParamError(str(key), f"unknown parameter for {self.id}; it takes "
                                           f"{', '.join(sorted(known)) or 'no parameters'}")
        out = {}
        for f in self.params:
            value = f.validate(params[f.name] if f.name in params else f.default)
            if info is not None and isinstance(f, LayerRangeField):
                f.resolve(value, info)
            if directions is not None and isinstance(f, DirectionField) and value and value not in directions:
                known_dirs = ", ".join(sorted(directions)) or "none loaded"
                raise f.error(f"unknown direction {value!r} (known: {known_dirs})")
            out[f.name] = value
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} v{self.version}>"


def check_plugin(plugin: Plugin) -> Plugin:
    """Check a plugin's declaration; raises TypeError/ValueError saying what is wrong."""
    if not isinstance(plugin, Plugin):
        raise TypeError(f"{plugin!r} is not a Plugin")
    if not isinstance(plugin.id, str) or not plugin.id or any(c.isspace() for c in plugin.id):
        raise ValueError(f"plugin id must be a non-empty string without spaces, not {plugin.id!r}")
    if not plugin.name:
        plugin.name = plugin.id
    plugin.kind = Kind(plugin.kind)
    lo, hi = plugin.input_bounds()
    if lo < 1 or (hi is not None and hi < lo):
        raise ValueError(f"inputs must be a count >= 1 or (min, max); got {plugin.inputs!r}")
    if plugin.kind is Kind.IMAGE and (lo, hi) != (1, 1):
        raise ValueError("an image plugin takes exactly one input")
    if not isinstance(plugin.outputs, int) or plugin.outputs < 1:
        raise ValueError(f"outputs must be a count >= 1, got {plugin.outputs!r}")
    if plugin.time_limit is not None and not (is_number(plugin.time_limit) and plugin.time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {plugin.time_limit!r}")
    names = set()
    for f in plugin.params:
        if not isinstance(f, Field):
            raise TypeError(f"params must hold Field objects, got {f!r}")
        if f.name in names:
            raise ValueError(f"two parameters are called {f.name!r}")
        names.add(f.name)
        try:
            f.validate(f.default)
        except ParamError as e:
            raise ValueError(f"default value is invalid: {e}") from None
    if type(plugin).apply is Plugin.apply:
        raise TypeError("plugin does not implement apply()")
    return plugin


# ----- the context an apply runs in ---------------------------------------------------------------
@dataclass
class DirectionRef:
    """A named unit direction in W, optionally tied to some layers (None = all, a group name,
    (start, stop) or a range). explorer.directions.Direction objects fit the same slots."""
    name: str
    vector: np.ndarray
    layers: Any = None


@dataclass
class EditContext:
    """What an apply may use besides its inputs. `rng` is seeded from the result's recipe."""
    info: Any = None                       # GeneratorInfo
    w_avg: np.ndarray | None = None        # [w_dim] float32
    directions: dict = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    plugin_id: str = ""
    model: str = ""                        # fingerprint of the model the inputs belong to
    sampler: Callable[[np.ndarray], np.ndarray] | None = None   # z [n, z_dim] -> ws [n, num_ws, w_dim]
    progress_fn: Callable[[float], None] | None = None
    cancelled_fn: Callable[[], bool] | None = None
    preview_fn: Callable[[np.ndarray], None] | None = None
    previous: np.ndarray | None = None     # image edits in a clip: this edit's result for the previous frame
    _abort: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def groups(self) -> dict[str, range]:
        return dict(self.info.groups) if self.info is not None else {}

    def sample_ws(self, n: int) -> np.ndarray:
        """n fresh faces [n, num_ws, w_dim]: z drawn from `rng`, mapped through the model (psi 1).

        Without a model (tests) the faces are w_avg plus unit Gaussian noise, same shape.
        """
        if self.info is None:
            raise RuntimeError("sample_ws needs the model's info in the context")
        n = int(n)
        if self.sampler is not None:
            z = self.rng.standard_normal((n, self.info.z_dim)).astype(np.float32)
            return np.asarray(self.sampler(z), dtype=np.float32).reshape(n, self.info.num_ws, self.info.w_dim)
        base = np.zeros(self.info.w_dim, np.float32) if self.w_avg is None else self.w_avg
        w = base + self.rng.standard_normal((n, self.info.w_dim)).astype(np.float32)
        return np.repeat(w[:, None, :], self.info.num_ws, axis=1).astype(np.float32)

    def progress(self, fraction: float) -> None:
        if self.progress_fn is not None:
            try:
                self.progress_fn(min(1.0, max(0.0, float(fraction))))
            except Exception:  # a broken progress bar must not fail the edit
                log.exception("progress callback failed")

    def preview(self, image: np.ndarray) -> None:
        """Show an intermediate picture (an image edit's work so far) where the caller displays one."""
        if self.preview_fn is not None:
            try:
                self.preview_fn(np.asarray(image))
            except Exception:  # a broken preview must not fail the edit
                log.exception("preview callback failed")

    def cancelled(self) -> bool:
        """True once the caller cancelled or the time limit passed: long loops should return early."""
        if self._abort.is_set():
            return True
        return bool(self.cancelled_fn is not None and self.cancelled_fn())

    def layers(self, spec, field_name: str = "layers") -> range:
        """A layer-range parameter as a ws index range on this model (ParamError if it has none)."""
        try:
            return resolve_layers(spec, self.info.num_ws, self.info.groups)
        except (ValueError, TypeError) as e:
            raise ParamError(field_name, str(e)) from None

    def direction(self, name: str, field_name: str = "direction"):
        """The direction called `name`, None for ''; ParamError when it is not loaded."""
        if not name:
            return None
        try:
            return self.directions[name]
        except KeyError:
            raise ParamError(field_name, f"unknown direction {name!r}") from None


def recipe_seed(recipe: dict) -> int:
    """A 64-bit seed from a recipe's canonical JSON: the same recipe always draws the same numbers."""
    payload = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "little")
