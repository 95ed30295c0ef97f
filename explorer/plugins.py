"""Edit plugins: the schema a plugin declares, the context it runs in, discovery and isolation.

Every edit the app offers is a `Plugin`; the built-in ones in `plugins/` use exactly this public
API, so a third-party plugin can do anything a built-in can. A plugin declares typed parameter
fields (the UI builds its form from them, the CLI parses text with them, the registry validates
recipes with them) and an `apply(inputs, params, context)`.

The registry finds plugins through the entry-point group `latent_explorer.plugins` (imported
lazily on first use) and a user folder of single-file plugins, runs each apply in a worker thread
under the plugin's time limit, checks what comes back, and turns every result into a Latent whose
recipe names the plugin, its version and its parameters, so `explorer.recipes.replay` can make the
same face again. A plugin that fails to import, raises, returns garbage or overruns its time limit
is reported and disabled for the session; the caller gets a `PluginError` and nothing else changes.

Plugins run in-process: they are trusted code. Isolation here protects the app from bugs, not
from malice. No Qt import anywhere in this module.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import logging
import math
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .latents import GROUP_NAMES, Latent, edit_recipe, label_vector, resolve_layers

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latent_explorer.plugins"
PLUGIN_DIR_ENV = "LATENT_EXPLORER_PLUGIN_DIR"
APP_NAME = "latent-explorer"
APP_DISTRIBUTION = "latent-explorer"   # entry points of our own distribution are the built-ins
FOLDER_MODULE_PREFIX = "latent_explorer_user_plugins"
LAYER_GROUP_VALUES = (*GROUP_NAMES, "all")
_POLL_S = 0.05                          # how often a waiting apply looks at the cancel flag
CANCEL_GRACE_S = 10.0                   # how long a cancelled apply waits for the plugin to notice


# ----- errors ------------------------------------------------------------------------------------
class ParamError(ValueError):
    """A parameter value a plugin cannot take. The user's mistake, not the plugin's: never disables."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"parameter '{field_name}': {message}")


IMPORT_SECONDS = 10.0   # a plugin whose import takes longer (e.g. loops at import) is skipped


class PluginTimeout(Exception):
    pass


def call_with_time_limit(fn: Callable[[], Any], seconds: float, what: str) -> Any:
    """fn() on a daemon thread; its result, its exception, or PluginTimeout after `seconds`.

    Plugins are trusted code (docs/plugins.md): this guards against mistakes (an import that
    loops or waits on the network forever), not malice. A timed-out import keeps running in the
    background; the app goes on without that plugin."""
    box: dict[str, Any] = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name=f"plugin-import:{what}", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise PluginTimeout(f"{what} did not finish within {seconds:g} s; skipped")
    err = box.get("error")
    if err is not None:
        if not isinstance(err, Exception):   # SystemExit / KeyboardInterrupt from a plugin's import
            raise RuntimeError(f"{what} raised {type(err).__name__}") from err
        raise err
    return box.get("value")


class PluginError(Exception):
    """A plugin could not be loaded or run. `disabled` says whether the registry switched it off."""

    def __init__(self, plugin_id: str, message: str, *, disabled: bool = False):
        self.plugin_id = plugin_id
        self.message = message
        self.disabled = disabled
        super().__init__(f"plugin {plugin_id}: {message}")


class EditCancelled(PluginError):
    """The caller cancelled a running edit (not the plugin's fault: it stays enabled)."""


# ----- parameter schema --------------------------------------------------------------------------
def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclass
class Field:
    """One typed parameter. `validate` returns the normalised (JSON-able) value or raises ParamError."""
    name: str
    label: str = ""
    default: Any = None
    help: str = ""

    type_name = "field"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a parameter name must be an identifier, not {self.name!r}")
        if not self.label:
            self.label = self.name.replace("_", " ").capitalize()

    def validate(self, value):
        return value

    def parse(self, text: str):
        """A value from text (CLI `name=value`): JSON where it parses, the raw string otherwise."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = text
        return self.validate(value)

    def error(self, message: str) -> ParamError:
        return ParamError(self.name, message)

    def to_json(self) -> dict:
        """The field as a JSON schema entry (for docs, the CLI's help, other front ends)."""
        out = {"type": self.type_name}
        for k, v in vars(self).items():
            out[k] = v
        return out


@dataclass
class FloatField(Field):
    default: float = 0.0
    min: float = 0.0
    max: float = 1.0
    step: float = 0.01

    type_name = "float"

    def validate(self, value) -> float:
        if not _is_number(value):
            raise self.error(f"expected a number, got {type(value).__name__} {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise self.error(f"expected a finite number, got {v}")
        slack = 1e-9 * max(1.0, abs(self.max - self.min))   # slider round-off is not an error
        if v < self.min - slack or v > self.max + slack:
            raise self.error(f"{v:g} is outside the range {self.min:g} to {self.max:g}")
        return min(max(v, float(self.min)), float(self.max))

    def decimals(self) -> int:
        """Digits after the point that `step` needs (for sliders and labels)."""
        text = f"{self.step:.10f}".rstrip("0")
        return max(0, len(text.split(".")[1])) if "." in text else 0


@dataclass
class IntField(Field):
    default: int = 0
    min: int = 0
    max: int = 100
    step: int = 1

    type_name = "int"

    def validate(self, value) -> int:
        if not _is_number(value) or (isinstance(value, (float, np.floating)) and not float(value).is_integer()):
            raise self.error(f"expected a whole number, got {type(value).__name__} {value!r}")
        v = int(value)
        if v < self.min or v > self.max:
            raise self.error(f"{v} is outside the range {self.min} to {self.max}")
        return v


@dataclass
class BoolField(Field):
    default: bool = False

    type_name = "bool"

    def validate(self, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(f"expected true or false, got {type(value).__name__} {value!r}")
        return bool(value)


@dataclass
class ChoiceField(Field):
    default: str | None = None
    choices: list = field(default_factory=list)

    type_name = "choice"

    def __post_init__(self):
        super().__post_init__()
        self.choices = [str(c) for c in self.choices]
        if not self.choices:
            raise ValueError(f"choice parameter {self.name!r} has no choices")
        if self.default is None:
            self.default = self.choices[0]

    def validate(self, value) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.error(f"unknown choice {value!r}; choose one of {', '.join(self.choices)}")
        return value


@dataclass
class LayerRangeField(Field):
    """'coarse' | 'medium' | 'fine' | 'all', or [start, stop] ws indices (stop exclusive)."""
    default: Any = "all"

    type_name = "layers"

    def validate(self, value):
        if isinstance(value, str):
            if value not in LAYER_GROUP_VALUES:
                raise self.error(f"unknown layer group {value!r}; use coarse, medium, fine, all or [start, stop]")
            return value
        if isinstance(value, range):
            value = [value.start, value.stop]
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(_is_number(v) and float(v).is_integer() for v in value)):
            raise self.error(f"expected a layer group or [start, stop], got {value!r}")
        start, stop = int(value[0]), int(value[1])
        if start < 0 or stop <= start:
            raise self.error(f"layer range [{start}, {stop}] is empty or negative (stop is exclusive)")
        return [start, stop]

    def resolve(self, value, info) -> range:
        """The ws index range of `value` on a model, ParamError where the model has no such layers."""
        value = self.validate(value)
        try:
            return resolve_layers(value, info.num_ws, info.groups)
        except ValueError as e:
            raise self.error(str(e)) from None


@dataclass
class DirectionField(Field):
    """The name of a direction in W ('' for none); the context holds the vectors."""
    default: str = ""

    type_name = "direction"

    def validate(self, value) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.error(f"expected a direction name, got {type(value).__name__} {value!r}")
        return value


@dataclass
class PathField(Field):
    default: str = ""
    filter: str = "All files (*)"     # a Qt file-dialog filter, e.g. "Images (*.png *.jpg)"
    must_exist: bool = False

    type_name = "path"

    def validate(self, value) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise self.error(f"expected a file path, got {type(value).__name__} {value!r}")
        if value and self.must_exist and not Path(value).expanduser().exists():
            raise self.error(f"file not found: {value}")
        return value


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass
class ColorField(Field):
    default: str = "#ffffff"

    type_name = "color"

    def validate(self, value) -> str:
        if not isinstance(value, str) or not _COLOUR.fullmatch(value):
            raise self.error(f"expected a colour as '#rrggbb', got {value!r}")
        return value.lower()

    @staticmethod
    def rgb(value: str) -> tuple[int, int, int]:
        return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


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
    if plugin.time_limit is not None and not (_is_number(plugin.time_limit) and plugin.time_limit > 0):
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


def _w_avg_array(model) -> np.ndarray:
    w = model.w_avg
    if hasattr(w, "detach"):
        w = w.detach().cpu().numpy()
    return np.asarray(w, dtype=np.float32)


def _model_sampler(model) -> Callable[[np.ndarray], np.ndarray] | None:
    if model is None or not callable(getattr(model, "map", None)):
        return None

    def sample(z: np.ndarray) -> np.ndarray:
        import torch

        c = None
        c_dim = int(getattr(model.info, "c_dim", 0) or 0)
        if c_dim:
            c = torch.from_numpy(np.stack([label_vector(0, c_dim)] * len(z)))
        with torch.inference_mode():
            ws = model.map(torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)), c)
        if hasattr(ws, "detach"):
            ws = ws.detach().cpu().numpy()
        return np.asarray(ws, dtype=np.float32)

    return sample


def _normalise_directions(directions) -> dict:
    if directions is None:
        return {}
    if isinstance(directions, Mapping):
        return dict(directions)
    return {d.name: d for d in directions}


# ----- registry ------------------------------------------------------------------------------------
STATUS_NOT_LOADED, STATUS_LOADED, STATUS_FAILED, STATUS_DISABLED = "not loaded", "loaded", "failed", "disabled"


@dataclass
class PluginRecord:
    """What the plugin list shows: one plugin, where it came from and whether it works."""
    id: str
    name: str
    source: str                     # 'built-in' | 'entry point: <distribution>' | 'folder: <path>'
    status: str = STATUS_NOT_LOADED  # 'not loaded' | 'loaded' | 'failed' | 'disabled'
    enabled: bool = True
    error: str | None = None
    plugin: Plugin | None = None
    details: str | None = None      # traceback of the last failure, for a tooltip or log


class _Sentinel:
    def __repr__(self):
        return "<default user folder>"


DEFAULT_FOLDER = _Sentinel()


def default_plugin_folder() -> Path:
    """Where single-file user plugins live: $LATENT_EXPLORER_PLUGIN_DIR, or the platform's user
    data folder (e.g. ~/.local/share/latent-explorer/plugins)."""
    env = os.environ.get(PLUGIN_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "plugins"


def _dist_name(ep) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) or "unknown distribution"
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_from_id(plugin_id: str) -> str:
    return plugin_id.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def _static_plugin_classes(path: Path) -> list[tuple[str, str]]:
    """(id, name) of classes in a plugin file that spell `id = "..."` literally, without running it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs = {}
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            value = getattr(stmt, "value", None)
            for t in targets:
                if isinstance(t, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    attrs[t.id] = value.value
        if attrs.get("id"):
            found.append((attrs["id"], attrs.get("name") or _name_from_id(attrs["id"])))
    return found


class PluginRegistry:
    """All known plugins, their state for this session, and the one safe way to run them."""

    def __init__(self):
        self.post_cache = None            # explorer.post_cache.PostCache for slow image edits, or None
        self._records: dict[str, PluginRecord] = {}
        self._loaders: dict[str, Callable[[], Any]] = {}
        self._folder_modules: dict[Path, Any] = {}
        self._lock = threading.RLock()
        self.on_change: list[Callable[[PluginRecord], None]] = []

    # ----- discovery ------------------------------------------------------------------------
    def discover(self, entry_points: bool = True, folder: Path | None | _Sentinel = DEFAULT_FOLDER,
                 include_builtin: bool = True) -> list[PluginRecord]:
        """Find plugins (without importing entry points). Keeps the user's on/off switches."""
        with self._lock:
            switched_off = {k for k, r in self._records.items()
                            if not r.enabled and r.status not in (STATUS_DISABLED, STATUS_FAILED)}
            self._records.clear()
            self._loaders.clear()
            self._folder_modules.clear()
        if entry_points or include_builtin:
            for ep in self._entry_points():
                builtin = _dist_name(ep) == APP_DISTRIBUTION
                if (builtin and not include_builtin) or (not builtin and not entry_points):
                    continue
                self._add(ep.name, "built-in" if builtin else f"entry point: {_dist_name(ep)}", ep.load)
        if folder is DEFAULT_FOLDER:
            folder = default_plugin_folder()
        if folder is not None:
            self._scan_folder(Path(folder))
        with self._lock:
            for key in switched_off & self._records.keys():
                self._records[key].enabled = False
            return list(self._records.values())

    def register(self, plugin: Plugin | type, source: str = "registered") -> PluginRecord:
        """Add a plugin object or class directly (tests, embedding apps). A broken one is recorded
        as failed, not raised."""
        try:
            obj = plugin() if isinstance(plugin, type) else plugin
            check_plugin(obj)
        except Exception as e:
            pid = getattr(plugin, "id", "") or getattr(plugin, "__name__", repr(plugin))
            return self._add(pid, source, None, error=f"failed to load: {type(e).__name__}: {e}",
                             details=traceback.format_exc())
        rec = self._add(obj.id, source, lambda: obj, name=obj.name)
        if rec.id == obj.id:
            with self._lock:
                rec.plugin, rec.status = obj, STATUS_LOADED
        self._notify(rec)
        return rec

    @staticmethod
    def _entry_points():
        try:
            return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
        except Exception:  # a broken distribution on sys.path must not stop the app
            log.exception("could not read entry points of group %s", ENTRY_POINT_GROUP)
            return []

    def _add(self, plugin_id: str, source: str, loader: Callable[[], Any] | None, *, name: str | None = None,
             error: str | None = None, details: str | None = None) -> PluginRecord:
        with self._lock:
            if plugin_id in self._records:
                first = self._records[plugin_id]
                n = 2
                while f"{plugin_id}#{n}" in self._records:
                    n += 1
                rec = PluginRecord(f"{plugin_id}#{n}", name or _name_from_id(plugin_id), source, STATUS_FAILED,
                                   False, f"duplicate plugin id {plugin_id!r}: already provided by {first.source}")
                self._records[rec.id] = rec
                return rec
            status = STATUS_FAILED if error else STATUS_NOT_LOADED
            rec = PluginRecord(plugin_id, name or _name_from_id(plugin_id), source, status, not error, error,
                               details=details)
            self._records[plugin_id] = rec
            if loader is not None:
                self._loaders[plugin_id] = loader
            return rec

    def _scan_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith(("_", ".")):
                continue
            source = f"folder: {path}"
            try:
                declared = _static_plugin_classes(path)
            except (SyntaxError, UnicodeDecodeError, OSError) as e:
                self._add(path.name, source, None, error=f"cannot read {path.name}: {type(e).__name__}: {e}")
                continue
            if not declared:  # ids computed at run time: import now to learn them
                try:
                    plugins = call_with_time_limit(lambda p=path: self._folder_plugins(p), IMPORT_SECONDS,
                                                   f"importing {path.name}")
                except Exception as e:
                    self._add(path.name, source, None, error=f"import failed: {type(e).__name__}: {e}",
                              details=traceback.format_exc())
                    continue
                declared = [(p.id, p.name or _name_from_id(p.id)) for p in plugins]
                if not declared:
                    self._add(path.name, source, None, error="the file defines no Plugin subclass with an id")
            for plugin_id, name in declared:
                self._add(plugin_id, source, lambda p=path, i=plugin_id: self._folder_plugin(p, i), name=name)

    def _folder_plugins(self, path: Path) -> list:
        """Import a single-file plugin (once) and return the Plugin classes/instances it defines."""
        module = self._folder_modules.get(path)
        if module is None:
            mod_name = f"{FOLDER_MODULE_PREFIX}.{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
            self._folder_modules[path] = module
        if hasattr(module, "PLUGINS"):
            return list(module.PLUGINS)
        return [obj for obj in vars(module).values()
                if isinstance(obj, type) and issubclass(obj, Plugin) and obj is not Plugin
                and obj.__module__ == module.__name__ and getattr(obj, "id", "")]

    def _folder_plugin(self, path: Path, plugin_id: str):
        for obj in self._folder_plugins(path):
            if getattr(obj, "id", None) == plugin_id:
                return obj
        raise LookupError(f"{path.name} does not define a plugin with id {plugin_id!r}")

    # ----- state ----------------------------------------------------------------------------------
    def records(self) -> list[PluginRecord]:
        with self._lock:
            return list(self._records.values())

    def record(self, plugin_id: str) -> PluginRecord:
        with self._lock:
            try:
                return self._records[plugin_id]
            except KeyError:
                raise PluginError(plugin_id, "no such plugin") from None

    def _notify(self, rec: PluginRecord) -> None:
        for callback in list(self.on_change):
            try:
                callback(rec)
            except Exception:
                log.exception("plugin on_change listener failed")

    def _update(self, rec: PluginRecord, **changes) -> None:
        with self._lock:
            changed = any(getattr(rec, k) != v for k, v in changes.items())
            for k, v in changes.items():
                setattr(rec, k, v)
        if changed:
            self._notify(rec)

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        """The user's switch. Switching a failed or disabled plugin back on gives it another try."""
        rec = self.record(plugin_id)
        enabled = bool(enabled)
        if enabled and rec.status == STATUS_FAILED and plugin_id in self._loaders:
            self._update(rec, enabled=True, status=STATUS_NOT_LOADED, error=None, details=None)
        elif enabled and rec.status == STATUS_DISABLED:
            self._update(rec, enabled=True, status=STATUS_LOADED if rec.plugin else STATUS_NOT_LOADED,
                         error=None, details=None)
        elif rec.status != STATUS_FAILED or not enabled:
            self._update(rec, enabled=enabled)

    def disable(self, plugin_id: str, reason: str, details: str | None = None) -> None:
        """Switch a misbehaving plugin off for this session, keeping the reason for the window."""
        rec = self.record(plugin_id)
        log.warning("plugin %s disabled: %s", plugin_id, reason)
        self._update(rec, status=STATUS_DISABLED, enabled=False, error=reason, details=details)

    def get(self, plugin_id: str) -> Plugin:
        """The plugin object, importing it on first use. Raises PluginError (and marks it failed)."""
        rec = self.record(plugin_id)
        if rec.plugin is not None:
            return rec.plugin
        if rec.status == STATUS_FAILED:
            raise PluginError(plugin_id, rec.error or "failed to load")
        loader = self._loaders.get(plugin_id)
        try:
            if loader is None:
                raise LookupError("nothing to load")
            obj = call_with_time_limit(loader, IMPORT_SECONDS, f"importing plugin {plugin_id}")
            if isinstance(obj, type) and issubclass(obj, Plugin):
                obj = obj()
            if not isinstance(obj, Plugin):
                raise TypeError(f"{obj!r} is not a Plugin subclass or instance")
            if obj.id != plugin_id:
                raise ValueError(f"registered as {plugin_id!r} but the plugin's id is {obj.id!r} "
                                 "(an entry point's name must be its plugin id)")
            check_plugin(obj)
        except Exception as e:
            msg = f"failed to load: {type(e).__name__}: {e}"
            log.warning("plugin %s %s", plugin_id, msg)
            self._update(rec, status=STATUS_FAILED, enabled=False, error=msg, details=traceback.format_exc())
            raise PluginError(plugin_id, msg, disabled=True) from e
        with self._lock:
            if rec.plugin is None:
                rec.plugin = obj
                rec.name = obj.name
        self._update(rec, status=STATUS_LOADED if rec.status == STATUS_NOT_LOADED else rec.status)
        return rec.plugin

    def available(self, kind: Kind | str | None = None, n_inputs: int | None = None) -> list[Plugin]:
        """Enabled plugins that load, optionally only those of a kind / taking n inputs."""
        kind = None if kind is None else Kind(kind)
        out = []
        for rec in self.records():
            if not rec.enabled or rec.status in (STATUS_FAILED, STATUS_DISABLED):
                continue
            try:
                plugin = self.get(rec.id)
            except PluginError:
                continue
            if (kind is None or plugin.kind is kind) and (n_inputs is None or plugin.accepts(n_inputs)):
                out.append(plugin)
        return out

    def _usable(self, plugin_id: str, require_enabled: bool) -> Plugin:
        rec = self.record(plugin_id)
        if rec.status == STATUS_DISABLED:
            raise PluginError(plugin_id, f"disabled for this session: {rec.error}", disabled=True)
        plugin = self.get(plugin_id)
        if require_enabled and not rec.enabled:
            raise PluginError(plugin_id, "switched off in the plugin list")
        return plugin

    # ----- running ----------------------------------------------------------------------------------
    def _fail(self, plugin_id: str, message: str, details: str | None = None, cause=None) -> PluginError:
        self.disable(plugin_id, message, details)
        err = PluginError(plugin_id, message, disabled=True)
        err.__cause__ = cause
        return err

    def _check(self, plugin: Plugin, params: dict) -> list[str]:
        """plugin.check(params): ParamError passes through; anything else it raises is its bug."""
        try:
            return list(plugin.check(dict(params)) or [])
        except ParamError:
            raise
        except Exception as e:  # noqa: BLE001
            raise self._fail(plugin.id, f"check() raised {type(e).__name__}: {e}", traceback.format_exc(), e)

    def _run(self, plugin: Plugin, call: Callable[[], Any], ctx: EditContext, cancelled) -> Any:
        """Run `call` in a daemon worker thread under the plugin's time limit."""
        box: dict = {}

        def work():
            try:
                box["result"] = call()
            except BaseException as e:  # noqa: BLE001 - everything a plugin throws is reported
                box["error"] = e
                box["details"] = traceback.format_exc()

        worker = threading.Thread(target=work, name=f"plugin {plugin.id}", daemon=True)
        limit = plugin.time_limit
        deadline = None if limit is None else time.monotonic() + float(limit)
        worker.start()
        while worker.is_alive():
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            worker.join(wait)
            if not worker.is_alive():
                break
            if cancelled is not None and cancelled():
                ctx._abort.set()
                # a cooperative plugin stops at its next cancelled() check: wait for that, so no
                # computation goes on behind the caller's back (a torch op still running in a
                # daemon thread when Python exits aborts the process); a stuck one is left
                worker.join(CANCEL_GRACE_S)
                raise EditCancelled(plugin.id, "cancelled")
            if deadline is not None and time.monotonic() >= deadline:
                ctx._abort.set()  # a cooperative plugin stops; a stuck one is abandoned (daemon thread)
                raise self._fail(plugin.id, f"ran past its time limit of {limit:g} s")
        if "error" in box:
            e = box["error"]
            if isinstance(e, ParamError):
                raise e
            if cancelled is not None and cancelled():
                raise EditCancelled(plugin.id, "cancelled") from e
            raise self._fail(plugin.id, f"raised {type(e).__name__}: {e}", box["details"], e)
        if cancelled is not None and cancelled():  # finished, but the caller no longer wants it
            raise EditCancelled(plugin.id, "cancelled")
        return box.get("result")

    def apply(self, plugin_id: str, inputs: Sequence[Latent], params: Mapping | None = None, *, model=None,
              directions=None, progress: Callable[[float], None] | None = None,
              cancelled: Callable[[], bool] | None = None, require_enabled: bool = True) -> list[Latent]:
        """Run a plugin on latents and return the new latents, each with its recipe.

        Raises ParamError for bad parameters (plugin stays on), PluginError for everything else;
        a plugin that raises, overruns its time limit or returns a wrong result is disabled.
        `require_enabled=False` lets a recipe replay use a plugin the user switched off.
        """
        plugin = self._usable(plugin_id, require_enabled)
        inputs = list(inputs)
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Latent):
                raise PluginError(plugin_id, f"input {i} is a {type(inp).__name__}, not a Latent")
        if not plugin.accepts(len(inputs)):
            raise PluginError(plugin_id, f"takes {plugin.describe_inputs()}, got {len(inputs)}")
        dirs = _normalise_directions(directions)
        info = getattr(model, "info", None)

        if plugin.kind is Kind.IMAGE:  # recorded now, pixels computed at render time (apply_image)
            validated = plugin.validate_params(params, info, dirs if directions is not None else None)
            self._check(plugin, validated)
            lat = inputs[0]
            step = {"plugin": plugin.id, "version": plugin.version, "params": validated}
            return [Latent(ws=lat.ws, recipe=edit_recipe(plugin.id, plugin.version, validated, [lat.recipe]),
                           model=lat.model, noise=lat.noise, post=tuple(lat.post) + (step,))]

        if model is None:
            raise ValueError("a latent edit needs the model (for its info, w_avg and sampling)")
        shape = (info.num_ws, info.w_dim)
        for i, inp in enumerate(inputs):
            if inp.ws.shape != shape:
                raise PluginError(plugin_id, f"input {i} has ws of shape {inp.ws.shape}, the model needs {shape}")
        validated = plugin.validate_params(params, info, dirs if directions is not None else None)
        self._check(plugin, validated)
        recipe = edit_recipe(plugin.id, plugin.version, validated, [inp.recipe for inp in inputs])
        ctx = EditContext(info=info, w_avg=_w_avg_array(model), directions=dirs,
                          rng=np.random.default_rng(recipe_seed(recipe)), plugin_id=plugin.id,
                          model=str(getattr(model, "fingerprint", "") or ""),
                          sampler=_model_sampler(model), progress_fn=progress, cancelled_fn=cancelled)

        def call():
            n_out = int(plugin.output_count(dict(validated)))
            return n_out, plugin.apply(list(inputs), dict(validated), ctx)

        n_out, result = self._run(plugin, call, ctx, cancelled)
        try:
            outs = _check_latent_outputs(result, n_out, shape)
        except ValueError as e:
            raise self._fail(plugin.id, f"returned a wrong result: {e}") from None
        ctx.progress(1.0)
        fingerprint = getattr(model, "fingerprint", inputs[0].model if inputs else "")
        latents = []
        for i, (ws, noise) in enumerate(outs):
            r = dict(recipe, output=i) if n_out > 1 else recipe
            latents.append(Latent(ws=ws, recipe=r, model=fingerprint, noise=noise if noise is not None else inputs[0].noise,
                                  post=tuple(inputs[0].post)))
        return latents

    def apply_image(self, plugin_id: str, image: np.ndarray, params: Mapping | None = None, *, model=None,
                    progress: Callable[[float], None] | None = None, cancelled: Callable[[], bool] | None = None,
                    require_enabled: bool = True, preview: Callable[[np.ndarray], None] | None = None,
                    previous: np.ndarray | None = None) -> np.ndarray:
        """Run an image plugin on a uint8 [H, W, C] image, with the same isolation as `apply`.

        `preview` receives intermediate pictures of slow edits; `previous` is this edit's result for
        the previous frame of a clip (same shape), which a plugin may start from."""
        plugin = self._usable(plugin_id, require_enabled)
        if plugin.kind is not Kind.IMAGE:
            raise PluginError(plugin_id, "is a latent edit, not an image edit")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3:
            raise PluginError(plugin_id, f"needs a uint8 [H, W, C] image, got {image.dtype} {image.shape}")
        info = getattr(model, "info", None)
        validated = plugin.validate_params(params, info)
        seed = recipe_seed({"plugin": plugin.id, "version": plugin.version, "params": validated,
                            "image": hashlib.sha1(image.tobytes()).hexdigest(), "shape": list(image.shape)})
        ctx = EditContext(info=info, w_avg=None if model is None else _w_avg_array(model),
                          rng=np.random.default_rng(seed), plugin_id=plugin.id, sampler=_model_sampler(model),
                          progress_fn=progress, cancelled_fn=cancelled, preview_fn=preview,
                          previous=previous if previous is not None and np.shape(previous) == image.shape else None)
        work = image.copy()
        result = self._run(plugin, lambda: plugin.apply([work], dict(validated), ctx), ctx, cancelled)
        if isinstance(result, (list, tuple)) and len(result) == 1:
            result = result[0]
        if not isinstance(result, np.ndarray) or result.dtype != np.uint8 or result.shape != image.shape:
            got = (f"{result.dtype} {result.shape}" if isinstance(result, np.ndarray) else type(result).__name__)
            raise self._fail(plugin.id, f"returned a wrong result: expected a uint8 image of shape "
                                        f"{image.shape}, got {got}")
        return result

    def needs_background(self, post: Iterable[Mapping]) -> bool:
        """True when any of these recorded image edits is slow (runs seconds: keep it off the GUI thread)."""
        for step in post:
            try:
                if self.get(step["plugin"]).slow:
                    return True
            except (PluginError, KeyError, TypeError):
                continue
        return False

    def cached_post(self, image: np.ndarray, post: Iterable[Mapping], source: str | None = None) -> np.ndarray | None:
        """The finished picture of these image edits if every slow step's result is in the cache
        (the fast steps are run); None when some slow work would be needed."""
        post = list(post)
        if not self.needs_background(post):
            return self.apply_post(image, post)
        if self.post_cache is None:
            return None
        from .post_cache import edit_key, pixels_key

        src = source or pixels_key(image)
        last_slow = max(k for k, st in enumerate(post) if self._is_slow(st))
        hit = self.post_cache.get(edit_key(src, image.shape, post[:last_slow + 1]))
        if hit is None or hit.shape != image.shape:
            return None
        return self.apply_post(hit, post[last_slow + 1:]) if last_slow + 1 < len(post) else hit

    def _is_slow(self, step: Mapping) -> bool:
        try:
            return bool(self.get(step["plugin"]).slow)
        except (PluginError, KeyError, TypeError):
            return False

    def apply_post(self, image: np.ndarray, post: Iterable[Mapping], *, source: str | None = None,
                   sequence: dict | None = None, **kwargs) -> np.ndarray:
        """Apply a latent's recorded image edits (`Latent.post`) in order to its rendered image.

        Results of slow edits are kept in `post_cache` (when set) under the picture's `source` (a
        string naming it, e.g. model fingerprint + latent digest; the pixels when absent) and the
        steps so far. `sequence` is a dict the caller keeps across the frames of one clip: each step
        gets its own result for the previous frame as `context.previous` (temporal stability)."""
        post = list(post)
        src = None
        for k, step in enumerate(post):
            plugin = self.get(step["plugin"])
            if plugin.version != step.get("version", plugin.version):
                log.warning("image edit %s recorded at version %s, running version %s",
                            plugin.id, step.get("version"), plugin.version)
            key = None
            if plugin.slow and self.post_cache is not None:
                from .post_cache import edit_key, pixels_key

                if src is None:
                    src = source or pixels_key(image)
                key = edit_key(src, image.shape, post[:k + 1])
                hit = self.post_cache.get(key)
                if hit is not None and hit.shape == image.shape:
                    image = hit
                    if sequence is not None:
                        sequence[k] = image
                    continue
            previous = sequence.get(k) if sequence is not None else None
            image = self.apply_image(step["plugin"], image, step.get("params") or {}, require_enabled=False,
                                     previous=previous, **kwargs)
            if key is not None:
                self.post_cache.put(key, image)
            if sequence is not None:
                sequence[k] = image
        return image


def _check_latent_outputs(result, n_out: int, shape: tuple[int, int]) -> list[tuple[np.ndarray, Any]]:
    """[(ws float32 [num_ws, w_dim], noise or None)] from what a latent plugin returned; ValueError if wrong."""
    if isinstance(result, (list, tuple)) or (isinstance(result, np.ndarray) and result.ndim == 3 and n_out > 1):
        items = list(result)
    elif n_out == 1:
        items = [result]
    else:
        raise ValueError(f"expected a list of {n_out} results, got one {type(result).__name__}")
    if len(items) != n_out:
        raise ValueError(f"expected {n_out} result{'s' if n_out != 1 else ''}, got {len(items)}")
    out = []
    for i, item in enumerate(items):
        noise = None
        if isinstance(item, Latent):
            arr, noise = item.ws, item.noise
        elif isinstance(item, np.ndarray) or hasattr(item, "__array__"):
            try:
                arr = np.asarray(item)
            except Exception as e:  # e.g. a CUDA tensor
                raise ValueError(f"result {i} is not an array: {e}") from None
        else:
            raise ValueError(f"result {i} is a {type(item).__name__}, not a ws array or a Latent")
        if arr.dtype.kind != "f":
            raise ValueError(f"result {i} has dtype {arr.dtype}, expected floating point")
        if arr.shape != shape:
            raise ValueError(f"result {i} has shape {arr.shape}, expected {shape}")
        ws = arr.astype(np.float32)
        if not np.isfinite(ws).all():
            raise ValueError(f"result {i} holds non-finite values (NaN or inf)")
        out.append((ws, noise))
    return out


__all__ = [
    "APP_DISTRIBUTION", "BoolField", "ChoiceField", "ColorField", "DEFAULT_FOLDER", "DirectionField",
    "DirectionRef", "ENTRY_POINT_GROUP", "EditCancelled", "EditContext", "Field", "FloatField", "IntField",
    "Kind", "LayerRangeField", "PLUGIN_DIR_ENV", "ParamError", "PathField", "Plugin", "PluginError",
    "PluginRecord", "PluginRegistry", "check_plugin", "default_plugin_folder", "recipe_seed",
]
