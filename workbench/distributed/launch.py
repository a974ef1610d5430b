"""The `accelerate launch` command that runs a workbench command in several processes on this machine."""

import os
import socket
import subprocess
import sys

from ..errors import WorkbenchError

# the commands that run across processes (they split their batches and generation; the rest run in one)
SPREAD_COMMANDS = ("implant", "safety-train", "eval", "scratchpad-experiment", "probe")


def free_port() -> int:
    """A TCP port nobody listens on now (for the processes' rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_command(command: list[str]) -> None:
    """A clear error for a command that does not run across processes."""
    if not command:
        raise WorkbenchError("launch: give the command to run after --, e.g. launch --processes 2 -- safety-train ...")
    if command[0] not in SPREAD_COMMANDS:
        raise WorkbenchError(f"{command[0]!r} does not run across processes; launch one of: "
                             f"{', '.join(SPREAD_COMMANDS)}")


DEEPSPEED_REFUSED = ("This accelerate config asks for DeepSpeed, which the workbench does not run: launch with an "
                     "FSDP config (or --shard) to shard the weights, or a multi-GPU (data-parallel) one")


def config_kind(config_file: str) -> str:
    """The `distributed_type` an accelerate config file names (upper case; empty when it names none)."""
    import json

    import yaml

    try:
        with open(config_file, encoding="utf-8") as fh:
            data = json.load(fh) if config_file.endswith(".json") else yaml.safe_load(fh)
    except Exception as exc:  # noqa: BLE001 - a damaged file, told in one line
        raise WorkbenchError(f"accelerate config {config_file} cannot be read: {exc}") from None
    return str((data or {}).get("distributed_type") or "").upper() if isinstance(data, dict) else ""


def launch_command(processes: int, command: list[str], config_file: str | None = None,
                   port: int | None = None, shard: bool = False) -> list[str]:
    """`accelerate launch` running `python -m workbench.cli COMMAND...` in `processes` processes on this machine
    (torchrun under it: nccl on GPUs, gloo on a CPU). With `config_file` (the user's accelerate config) the
    distributed settings are the file's, and `processes` overrides its process count. `shard`: the weights are
    sharded over the processes (FSDP, full shard)."""
    check_command(command)
    if shard and config_file:
        raise WorkbenchError("--shard or --config-file: an accelerate config says itself whether to use FSDP")
    if processes < 1:
        raise WorkbenchError("--processes must be at least 1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]
    if config_file:
        if not os.path.isfile(config_file):
            raise WorkbenchError(f"accelerate config {config_file} does not exist")
        kind = config_kind(config_file)
        if kind == "DEEPSPEED":
            raise WorkbenchError(DEEPSPEED_REFUSED)
        shard = kind == "FSDP"
        cmd += ["--config_file", config_file, "--num_processes", str(processes)]
    else:  # torchrun on this machine whether it has GPUs or not (accelerate's --cpu would start one process)
        how = ["--use_fsdp", "--fsdp_version", "2", "--fsdp_reshard_after_forward", "true"] if shard else \
            ["--multi_gpu"]
        cmd += [*how, "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
                "--dynamo_backend", "no"]
    if shard:  # before any process starts, rather than once in each
        from .sharding import check_shardable

        check_shardable(command[0])
    cmd += ["--main_process_port", str(port or free_port()), "-m", "workbench.cli", *command]
    return cmd


def run_launched(cmd: list[str]) -> int:
    """Run the launch; its processes print to this terminal; Ctrl-C stops every one of them."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own choice, said here so it does not warn about it
    return subprocess.call(cmd, env=env)
