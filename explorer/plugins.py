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
from malice. No Qt import anywhere in this package.

This module is the public face; the code lives in `plugin_fields` (the parameter schema),
`plugin_api` (Plugin, EditContext, errors) and `plugin_registry` (discovery, isolation, running).
Import from here: third-party plugins written against `explorer.plugins` keep working.
"""
from __future__ import annotations

from .plugin_api import (DirectionRef, EditCancelled, EditContext, Kind, Plugin, PluginError, check_plugin,
                         recipe_seed)
from .plugin_fields import (LAYER_GROUP_VALUES, BoolField, ChoiceField, ColorField, DirectionField, Field, FloatField,
                            IntField, LayerRangeField, ParamError, PathField, is_number)
from .plugin_registry import (APP_DISTRIBUTION, APP_NAME, CANCEL_GRACE_S, DEFAULT_FOLDER, ENTRY_POINT_GROUP,
                              FOLDER_MODULE_PREFIX, IMPORT_SECONDS, PLUGIN_DIR_ENV, STATUS_DISABLED, STATUS_FAILED,
                              STATUS_LOADED, STATUS_NOT_LOADED, PluginRecord, PluginRegistry, PluginTimeout,
                              call_with_time_limit, default_plugin_folder)

__all__ = [
    "APP_DISTRIBUTION", "APP_NAME", "BoolField", "CANCEL_GRACE_S", "ChoiceField", "ColorField", "DEFAULT_FOLDER",
    "DirectionField", "DirectionRef", "ENTRY_POINT_GROUP", "EditCancelled", "EditContext", "FOLDER_MODULE_PREFIX",
    "Field", "FloatField", "IMPORT_SECONDS", "IntField", "Kind", "LAYER_GROUP_VALUES", "LayerRangeField",
    "PLUGIN_DIR_ENV", "ParamError", "PathField", "Plugin", "PluginError", "PluginRecord", "PluginRegistry",
    "PluginTimeout", "STATUS_DISABLED", "STATUS_FAILED", "STATUS_LOADED", "STATUS_NOT_LOADED",
    "call_with_time_limit", "check_plugin", "default_plugin_folder", "is_number", "recipe_seed",
]
