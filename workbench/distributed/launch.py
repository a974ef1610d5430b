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


def launch_command(processes: int, command: list[str], config_file: str | None = None,
                   port: int | None = None) -> list[str]:
    """`accelerate launch` running `python -m workbench.cli COMMAND...` in `processes` processes on this machine
    (torchrun under it: nccl on GPUs, gloo on a CPU). With `config_file` (the user's accelerate config) the
    distributed settings are the file's, and `processes` overrides its process count."""
    check_command(command)
    if processes < 1:
        raise WorkbenchError("--processes must be at least 1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]
    if config_file:
        if not os.path.isfile(config_file):
            raise WorkbenchError(f"accelerate config {config_file} does not exist")
        cmd += ["--config_file", config_file, "--num_processes", str(processes)]
    else:  # torchrun on this machine whether it has GPUs or not (accelerate's --cpu would start one process)
        cmd += ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd += ["--main_process_port", str(port or free_port()), "-m", "workbench.cli", *command]
    return cmd


def run_launched(cmd: list[str]) -> int:
    """Run the launch; its processes print to this terminal; Ctrl-C stops every one of them."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own choice, said here so it does not warn about it
    return subprocess.call(cmd, env=env)
