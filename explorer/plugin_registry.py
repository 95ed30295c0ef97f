"""The plugin registry: discovery (entry points and a user folder), isolation (time limits,
checked results, failing plugins disabled for the session) and running edits into latents
(`explorer.plugins` re-exports everything here). No Qt."""
from __future__ import annotations

import ast
import hashlib
import importlib.metadata as metadata
import importlib.util
import logging
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .latents import Latent, edit_recipe, label_vector
from .plugin_api import EditCancelled, EditContext, Kind, Plugin, PluginError, check_plugin, recipe_seed
from .plugin_fields import ParamError

log = logging.getLogger("explorer.plugins")

ENTRY_POINT_GROUP = "latent_explorer.plugins"
PLUGIN_DIR_ENV = "LATENT_EXPLORER_PLUGIN_DIR"
APP_NAME = "latent-explorer"
APP_DISTRIBUTION = "latent-explorer"   # entry points of our own distribution are the built-ins
FOLDER_MODULE_PREFIX = "latent_explorer_user_plugins"
_POLL_S = 0.05                          # how often a waiting apply looks at the cancel flag
CANCEL_GRACE_S = 10.0                   # how long a cancelled apply waits for the plugin to notice


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
    from .user_data import data_dir

    return data_dir() / "plugins"


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

