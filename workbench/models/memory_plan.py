"""How much memory a model needs for each task, worked out before anything loads.

The model is built on the meta device from its config (no weights read), so the parameter count is exact. The
other terms are estimates a researcher can check by hand:

- weights: parameters x bytes (bf16 2, fp32 4; 8-bit 1 and 4-bit NF4 about 0.52 for the linear layers of the
  decoder, which bitsandbytes quantizes; embeddings, norms and the LM head stay in 16 bits);
- KV cache: 2 x layers x KV heads x head size x tokens x 2 bytes (both panes of a paired chat);
- LoRA training: the adapter in fp32 with its gradient and two AdamW moments (16 bytes a parameter); activations
  per token and layer of (7 hidden + 4 intermediate + 2 KV width) values without gradient checkpointing, or one
  hidden vector per layer plus one layer's worth with it; and the fp32 logits with their gradient;
- full training: weights, gradients and two AdamW moments in the weights' dtype, plus the activations;
- probe: the weights and one forward batch.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import WorkbenchError
from .device import available_memory_bytes, format_bytes

TASKS = ("chat", "probe", "implant", "safety-train")
QUANTIZE = (None, "8bit", "4bit")
DEFAULT_CONTEXT = {"chat": 2048, "probe": 512, "implant": 512, "safety-train": 512}
DEFAULT_BATCH = {"chat": 1, "probe": 16, "implant": 8, "safety-train": 4}
LORA_R = 8
BYTES_4BIT = 0.5 + 1 / 64 + 4 / (64 * 256)  # NF4 with double-quantized block scales (block 64)


@dataclass
class ModelShape:
    """What the plan needs to know about a model, read off its config and a meta-device build."""

    model_type: str
    parameters: int
    decoder_linear: int  # parameters of the linear layers inside the decoder layers (what 8/4-bit quantize)
    lora_parameters: int  # of a rank-8 LoRA on every linear module of every layer
    layers: int
    hidden: int
    intermediate: int
    kv_width: int  # KV heads x head size
    vocab: int


def read_config(spec: str | Path):
    """The transformers config of a model folder (weights optional), a GGUF file or 'builtin'."""
    import transformers

    from . import BUILTIN
    from .builtin import require_builtin_gguf

    from .hub_cache import cached_snapshot, looks_like_hub_name

    if str(spec) == BUILTIN:
        path = require_builtin_gguf()
    else:
        path = cached_snapshot(str(spec)) if looks_like_hub_name(str(spec)) else Path(spec).expanduser()
    if not path.exists():
        raise WorkbenchError(f"Model path not found: {path}")
    try:
        if path.is_file():
            from .gguf_cache import is_gguf_file

            if not is_gguf_file(path):
                raise WorkbenchError(f"{path} is not a GGUF file; choose a .gguf file or a model folder")
            config = transformers.AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
            config.tie_word_embeddings = not _gguf_has_output_head(path)
            return config
        if not (path / "config.json").exists():
            raise WorkbenchError(f"{path} is not a Hugging Face model folder (no config.json)")
        if "auto_map" in json.loads((path / "config.json").read_text()):
            raise WorkbenchError(f"{path} needs custom model code (auto_map); the plan builds only models "
                                 "transformers knows")
        return transformers.AutoConfig.from_pretrained(str(path))
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for an unknown or broken config
        raise WorkbenchError(f"Cannot read the model config at {path}: {str(exc).strip().splitlines()[0][:300]}")


def _gguf_has_output_head(path: Path) -> bool:
    """Whether the GGUF file stores its own LM head (output.weight); without one the head is the embedding."""
    from gguf import GGUFReader

    return any(t.name == "output.weight" for t in GGUFReader(str(path)).tensors)


def model_shape(config) -> ModelShape:
    """Build the model on the meta device (no memory) and measure it."""
    import transformers

    from .architecture import _is_linear, find_architecture

    try:
        with torch.device("meta"):  # (accelerate's init_empty_weights un-ties tied embeddings: counted twice)
            model = transformers.AutoModelForCausalLM.from_config(config)
    except Exception as exc:  # noqa: BLE001
        raise WorkbenchError(f"transformers cannot build a {getattr(config, 'model_type', '?')} causal LM: "
                             f"{str(exc).strip().splitlines()[0][:300]}")
    arch = find_architecture(model)
    layers = model.get_submodule(arch.layers_path)
    linear = [m for m in layers.modules() if _is_linear(m)]
    decoder_linear = sum(m.weight.numel() for m in linear)
    lora = sum(LORA_R * sum(m.weight.shape) for m in linear)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(text.hidden_size)
    intermediate = int(getattr(text, "intermediate_size", None) or getattr(text, "n_inner", None) or 4 * hidden)
    return ModelShape(arch.model_type, sum(p.numel() for p in model.parameters()), decoder_linear, lora,
                      len(layers), hidden, intermediate, kv_width(config), int(text.vocab_size))


def kv_width(config) -> int:
    """KV heads x head size per layer, from a transformers config (its text part for a multimodal model)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or int(text.hidden_size) // heads)
    return int(getattr(text, "num_key_value_heads", None) or heads) * head_dim


def weights_bytes(shape: ModelShape, dtype_bytes: int, quantize: str | None) -> int:
    if quantize is None:
        return shape.parameters * dtype_bytes
    per = 1.0 if quantize == "8bit" else BYTES_4BIT
    return int(shape.decoder_linear * per + (shape.parameters - shape.decoder_linear) * 2)


def activation_bytes(shape: ModelShape, tokens: int, checkpointing: bool, dtype_bytes: int) -> int:
    per_layer = (7 * shape.hidden + 4 * shape.intermediate + 2 * shape.kv_width) * dtype_bytes
    if checkpointing:
        return tokens * (shape.layers * shape.hidden * dtype_bytes + per_layer)
    return tokens * shape.layers * per_layer


@dataclass
class TaskPlan:
    task: str
    context: int
    batch_size: int
    parts: dict  # name -> bytes
    checkpointing: bool = False

    @property
    def total_bytes(self) -> int:
        return int(sum(self.parts.values()))

    def to_dict(self) -> dict:
        return {"context": self.context, "batch_size": self.batch_size, "gradient_checkpointing": self.checkpointing,
                "parts": {k: int(v) for k, v in self.parts.items()}, "total_bytes": self.total_bytes}


def task_plan(shape: ModelShape, task: str, quantize: str | None, dtype_bytes: int, context: int | None = None,
              batch_size: int | None = None, checkpointing: bool = False, train: str = "fresh-lora") -> TaskPlan:
    """Memory for one task (see the module docstring for each term)."""
    if task not in TASKS:
        raise WorkbenchError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    context = context or DEFAULT_CONTEXT[task]
    batch = batch_size or DEFAULT_BATCH[task]
    act_bytes = 2 if quantize else dtype_bytes  # quantized models compute in 16 bits
    parts = {"weights": weights_bytes(shape, dtype_bytes, quantize)}
    if task == "chat":
        parts["kv_cache"] = 2 * 2 * shape.layers * shape.kv_width * context * act_bytes  # both panes
        parts["working"] = context * (4 * shape.hidden + 2 * shape.intermediate) * act_bytes + 2 * shape.vocab * 4
    elif task == "probe":
        parts["working"] = batch * context * (4 * shape.hidden + 2 * shape.intermediate) * act_bytes
        parts["reads"] = batch * shape.layers * shape.hidden * 4
    else:
        tokens = batch * context
        if task == "safety-train" and train == "full":
            if quantize:
                raise WorkbenchError("Full training cannot train quantized weights; use --train fresh-lora")
            parts["gradients_and_optimizer"] = 3 * shape.parameters * dtype_bytes
        else:
            parts["lora_and_optimizer"] = shape.lora_parameters * 16
        parts["activations"] = activation_bytes(shape, tokens, checkpointing, act_bytes)
        parts["logits"] = 2 * tokens * shape.vocab * 4
    return TaskPlan(task, context, batch, parts, checkpointing)


def devices() -> list[dict]:
    """The devices of this machine with their memory: every CUDA GPU, or the CPU."""
    found = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            found.append({"device": f"cuda:{i}", "name": torch.cuda.get_device_name(i), "total_bytes": int(total),
                          "free_bytes": int(free)})
        return found
    total = None
    try:
        with open("/proc/meminfo") as fh:
            total = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return [{"device": "cpu", "name": "CPU memory", "total_bytes": total, "free_bytes": available_memory_bytes("cpu")}]


def placement_for(total: int, weights: int, found: list[dict]) -> tuple[bool, str]:
    """(fits, how): on one device, split over the GPUs, or not at all (then with CPU offload, if that helps)."""
    free = [d["free_bytes"] or 0 for d in found]
    if any(total <= f for f in free):
        return True, f"fits on {found[free.index(max(free))]['device']}"
    gpus = [d for d in found if d["device"].startswith("cuda")]
    if len(gpus) > 1 and total <= sum(free) * 0.9:  # a split never packs perfectly
        return True, f"fits split over {len(gpus)} GPUs (device_map auto)"
    if gpus:
        cpu = available_memory_bytes("cpu") or 0
        if total <= sum(free) + cpu and weights > 0:
            return False, "fits only with part of the weights offloaded to CPU memory (slow)"
    return False, "does not fit"


@dataclass
class MemoryPlan:
    model: str
    quantize: str | None
    dtype: str
    shape: ModelShape
    tasks: dict[str, TaskPlan]
    devices: list[dict]
    verdicts: dict[str, tuple[bool, str]] = field(default_factory=dict)
    advice: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"model": self.model, "model_type": self.shape.model_type, "quantize": self.quantize,
                "dtype": self.dtype, "parameters": self.shape.parameters,
                "weights_bytes": self.tasks[next(iter(self.tasks))].parts["weights"],
                "devices": self.devices,
                "tasks": {name: {**plan.to_dict(), "fits": self.verdicts[name][0], "where": self.verdicts[name][1],
                                 "advice": self.advice.get(name, [])} for name, plan in self.tasks.items()}}

    def lines(self) -> list[str]:
        s = self.shape
        out = [f"{self.model}: {s.model_type}, {s.parameters / 1e9:.2f} B parameters, {s.layers} layers, "
               f"{self.quantize or self.dtype} weights {format_bytes(self.to_dict()['weights_bytes'])}"]
        out += ["devices: " + "; ".join(f"{d['device']} ({d['name']}) "
                                       f"{format_bytes(d['free_bytes'] or 0)} free of {format_bytes(d['total_bytes'] or 0)}"
                                       for d in self.devices)]
        for name, plan in self.tasks.items():
            fits, where = self.verdicts[name]
            parts = ", ".join(f"{k.replace('_', ' ')} {format_bytes(v)}" for k, v in plan.parts.items())
            out.append(f"{name:<13} {format_bytes(plan.total_bytes):>10}  {'OK ' if fits else 'NO '} {where}  "
                       f"[batch {plan.batch_size} x {plan.context} tokens"
                       f"{', gradient checkpointing' if plan.checkpointing else ''}: {parts}]")
            out += [f"{'':<13} to make it fit: {tip}" for tip in self.advice.get(name, [])]
        return out


def plan_memory(spec: str | Path, quantize: str | None = None, tasks: tuple[str, ...] = TASKS,
                context: int | None = None, batch_size: int | None = None, dtype: str | None = None,
                checkpointing: bool = False, train: str = "fresh-lora", found: list[dict] | None = None) -> MemoryPlan:
    """The memory plan of `spec` (a model folder, a folder with only config.json, a GGUF file or 'builtin') for
    `tasks` against the devices of this machine (or `found`)."""
    if quantize not in QUANTIZE:
        raise WorkbenchError(f"Unknown quantization {quantize!r}; choose 8bit or 4bit")
    found = found if found is not None else devices()
    on_gpu = any(d["device"].startswith("cuda") for d in found)
    dtype = dtype or ("bfloat16" if on_gpu else "float32")
    dtype_bytes = {"bfloat16": 2, "float16": 2, "float32": 4}[dtype]
    shape = model_shape(read_config(spec))
    plans = {t: task_plan(shape, t, quantize, dtype_bytes, context, batch_size, checkpointing and t in
                          ("implant", "safety-train"), train) for t in tasks}
    result = MemoryPlan(str(spec), quantize, dtype, shape, plans, found)
    for name, plan in plans.items():
        result.verdicts[name] = placement_for(plan.total_bytes, plan.parts["weights"], found)
        if not result.verdicts[name][0]:
            result.advice[name] = _advice(shape, plan, quantize, dtype_bytes, found, train)
    return result


def _advice(shape: ModelShape, plan: TaskPlan, quantize, dtype_bytes, found, train) -> list[str]:
    """Each change that could make `plan` fit, alone and then all together, with the size it comes to."""
    training = plan.task in ("implant", "safety-train")
    options = []
    if training and not plan.checkpointing:
        options.append(("gradient checkpointing (--gradient-checkpointing)", {"checkpointing": True}))
    if training and plan.batch_size > 1:
        options.append(("batch size 1", {"batch_size": 1}))
    if quantize != "4bit" and not (plan.task == "safety-train" and train == "full"):
        gpu = any(d["device"].startswith("cuda") for d in found)
        options += [(f"--quantize {q}{'' if gpu else ' (bitsandbytes needs a CUDA GPU)'}", {"quantize": q})
                    for q in ("8bit", "4bit") if not (quantize == "8bit" and q == "8bit")]
    if training and len(options) > 1:
        together = {}
        for _, change in options:
            together.update(change)
        options.append(("all of these together", together))
    tips = []
    for label, change in options:
        settings = {"quantize": quantize, "batch_size": plan.batch_size, "checkpointing": plan.checkpointing,
                    **change}
        other = task_plan(shape, plan.task, settings["quantize"], dtype_bytes, plan.context, settings["batch_size"],
                          settings["checkpointing"], train)
        tips.append(f"{label}: {format_bytes(other.total_bytes)}, "
                    f"{placement_for(other.total_bytes, other.parts['weights'], found)[1]}")
    return tips or ["a machine with more memory, or a smaller model"]


def check_training_fits(loaded, task: str, batch_size: int, checkpointing: bool, context: int | None = None,
                        free_bytes: int | None = None) -> None:
    """Before a LoRA training run on the loaded model: a clear error, with what would make it fit, when the
    memory it adds to the weights already loaded (optimizer, activations, logits) exceeds what is free
    (`free_bytes`, default: this machine's free memory on the model's device)."""
    if free_bytes is not None:
        free = free_bytes
    elif "cuda" in loaded.placement.device:
        free = sum(torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count()))
    else:
        free = available_memory_bytes(loaded.placement.device)
    if free is None:
        return
    dtype_bytes = torch.finfo(loaded.placement.dtype).bits // 8
    shape = model_shape(loaded.model.config)
    plan = task_plan(shape, task, loaded.quantization, dtype_bytes, context, batch_size, checkpointing)
    adds = plan.total_bytes - plan.parts["weights"]
    if adds <= free:
        return
    tips = []
    if not checkpointing:
        lighter = task_plan(shape, task, loaded.quantization, dtype_bytes, context, batch_size, True)
        tips.append(f"--gradient-checkpointing (adds {format_bytes(lighter.total_bytes - lighter.parts['weights'])})")
    if batch_size > 1:
        lighter = task_plan(shape, task, loaded.quantization, dtype_bytes, context, 1, checkpointing)
        tips.append(f"--batch-size 1 (adds {format_bytes(lighter.total_bytes - lighter.parts['weights'])})")
    raise WorkbenchError(f"{task} would add about {format_bytes(adds)} to the loaded weights (batch {batch_size} x "
                         f"{plan.context} tokens) and {loaded.placement.device} has {format_bytes(free)} free; "
                         f"try {' or '.join(tips) if tips else '--quantize 4bit'}")
