"""Demo mode: a guided, full-screen walkthrough for a non-technical audience, replaying recorded runs."""

from .window import DemoWindow, run_demo

__all__ = ["DemoWindow", "run_demo"]
