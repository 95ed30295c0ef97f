"""Runs registry edits off the GUI thread and hands the new latents back on it.

Every edit the window offers (mix on drop, inspector, matrix, children ...) goes through
`PluginRegistry.apply` here, so a third-party plugin sits beside the built-ins and a slow or
hanging one (the registry enforces its time limit) never freezes the window. A `channel` keeps
only the newest request of a kind alive (live previews): older results are dropped.
"""
from __future__ import annotations

from typing import Callable, Sequence

import shiboken6
from PySide6.QtCore import QObject, Signal

from explorer.latents import Latent
from explorer.plugins import ParamError, PluginError, PluginRegistry

from .tasks import Tasks


class EditRunner(QObject):
    failed = Signal(str)      # one sentence for the message bar
    notice = Signal(str)      # something worth knowing that is not an error (a converted style picture)

    def __init__(self, registry: PluginRegistry, parent=None):
        super().__init__(parent)
        self.registry = registry
        from .image_edits import ImageEditWorker

        self.image_edits = ImageEditWorker(registry, self)   # slow image edits, one at a time
        self.model = None                 # the Generator (its info, w_avg and sampler)
        self.directions = None
        self.tasks = Tasks(self)

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, gen) -> None:
        self._model = gen
        self.image_edits.model = gen

    @property
    def busy(self) -> bool:
        return self.tasks.running > 0

    def plugin(self, plugin_id: str):
        """The plugin object, or None if it is missing, failed or switched off."""
        try:
            if not self.registry.record(plugin_id).enabled:
                return None
            return self.registry.get(plugin_id)
        except PluginError:
            return None

    def apply(self, plugin_id: str, inputs: Sequence[Latent], params: dict | None,
              on_done: Callable[[list[Latent]], None], channel: str | None = None,
              on_error: Callable[[str], None] | None = None, quiet: bool = False) -> None:
        """registry.apply on a worker thread; on_done(latents) on the GUI thread."""
        self.apply_chain([(plugin_id, params)], inputs, on_done, channel, on_error, quiet)

    def apply_chain(self, steps: Sequence[tuple[str, dict | None]], inputs: Sequence[Latent],
                    on_done: Callable[[list[Latent]], None], channel: str | None = None,
                    on_error: Callable[[str], None] | None = None, quiet: bool = False) -> None:
        """Several edits in a row on one worker thread (each takes the previous one's result, so the
        final recipe nests them: replay gives the same latent); on_done(latents) on the GUI thread."""
        steps = [(pid, dict(p or {})) for pid, p in steps]
        if self.model is None or not steps:
            return
        plugin_id = steps[0][0]
        model, directions, registry = self.model, self.directions, self.registry
        inputs = list(inputs)
        failing = [plugin_id]

        def work():
            lats = inputs
            for pid, params in steps:
                failing[0] = pid
                lats = registry.apply(pid, lats, params, model=model, directions=directions)
            return lats

        def current() -> bool:     # closed, or another model since: the result has no place to go
            return shiboken6.isValid(self) and self.model is not None and model is self.model

        def done(latents):
            if current():
                try:
                    on_done(list(latents))
                except RuntimeError as e:   # the receiving view was closed meanwhile
                    if "already deleted" not in str(e):
                        raise

        def error(exc):
            if not current():
                return
            msg = edit_error_sentence(failing[0], exc)
            if on_error is not None:
                on_error(msg)
            if not quiet:
                self.failed.emit(msg)

        # a channel's newer request supersedes its older one (the older result is dropped)
        self.tasks.start(work, key=("channel", channel) if channel is not None else None,
                         on_done=done, on_error=error)

    def check(self, plugin_id: str, params: dict | None) -> bool:
        """A plugin's deeper check of its parameters (files they name) before an edit is made:
        False (and the reason on the message bar) when they cannot be used; notes as a notice."""
        plugin = self.plugin(plugin_id)
        if plugin is None:
            return True
        try:
            notes = plugin.check(plugin.validate_params(params or {}))
        except ParamError as e:
            self.failed.emit(edit_error_sentence(plugin_id, e))
            return False
        except Exception:  # noqa: BLE001 - the registry reports a broken check when the edit runs
            return True
        if notes:
            self.notice.emit(" ".join(notes))
        return True

    def finish_picture(self, image, latent: Latent):
        """A rendered picture with the latent's recorded image edits (colour grade ...) applied; the
        picture as rendered when an image plugin fails (it is reported and switched off). Slow edits
        are never run here (this is the GUI thread): their cached result, else the plain picture;
        `finish_picture_async` runs them."""
        if not latent.post:
            return image
        if self.image_edits.needs_background(latent):
            from .image_edits import picture_source

            hit = self.registry.cached_post(image, latent.post, source=picture_source(self.model, latent))
            return image if hit is None else hit
        try:
            return self.registry.apply_post(image, latent.post, model=self.model)
        except (PluginError, ParamError) as e:
            self.failed.emit(edit_error_sentence(str(latent.post[0].get("plugin", "image edit")), e))
            return image

    def finish_picture_async(self, image, latent: Latent, on_done: Callable, *, urgent: bool = False) -> None:
        """on_done(picture, None), or on_done(None, why) when an image edit failed or was cancelled:
        at once for fast edits and cached results, from the image-edit worker for slow ones."""
        self.image_edits.finish(image, latent, on_done, urgent=urgent)

    def close(self) -> None:
        """Drop every result still on its way (the window is closing)."""
        self.model = None
        self.image_edits.close()

    def apply_now(self, plugin_id: str, inputs: Sequence[Latent], params: dict | None = None) -> list[Latent]:
        """The same edit, synchronously (for quick pure edits in tests and scripts)."""
        return self.registry.apply(plugin_id, list(inputs), params or {}, model=self.model,
                                   directions=self.directions)


def edit_error_sentence(plugin_id: str, exc: BaseException) -> str:
    name = plugin_id.split(".")[-1].replace("_", " ")
    if isinstance(exc, ParamError):
        return f"{name.capitalize()}: {exc.message} ({exc.field})."
    if isinstance(exc, PluginError):
        suffix = " It is switched off for this session." if exc.disabled else ""
        return f"{name.capitalize()} failed: {exc.message}.{suffix}"
    return f"{name.capitalize()} failed: {type(exc).__name__}: {exc}."
