"""What a safety-training run trains, and how the model is put back afterwards.

- `fresh-lora` (the default, the paper's setting in LoRA form): the organism's adapter stays on, frozen, and a new
  LoRA over every layer is trained on top of it. LoRA deltas add up, so this is the function of the organism merged
  into a working copy of the weights plus a fresh adapter, without copying any weight; the organism's files are
  never written.
- `full`: the organism is merged into the weights in memory and every weight is trained (the paper's experiment);
  the original weights are copied first and put back when the run ends. Checkpoints are model folders.
- `organism-adapter`: the organism's own LoRA adapter is trained (the base stays frozen). Training the very weights
  that hold the backdoor makes it easier to remove, so persistence figures from this mode are not the paper's.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import WorkbenchError
from ..models.adapters import adapter_chain, peft_quietly, stack_adapters, stack_names, strip_lora, unload_peft
from ..models.device import available_memory_bytes, format_bytes
from ..models.loaded import LoadedModel

TRAIN_MODES = ("fresh-lora", "full", "organism-adapter")
TRAIN_LABELS = {"fresh-lora": "fresh LoRA over the organism", "full": "every weight",
                "organism-adapter": "the organism's own adapter"}
FULL_WEIGHTS = "model.safetensors"


@dataclass
class Trainable:
    """The model a run trains: `model` is what the loaded model runs while training, `inner` takes the loss."""

    mode: str
    model: torch.nn.Module
    inner: torch.nn.Module
    restore: Callable[[], torch.nn.Module]  # puts the base weights back; returns the plain base model

    @property
    def params(self) -> list:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save_weights(self, folder: Path, loaded: LoadedModel) -> None:
        """The trained weights in `folder`: an adapter folder, or (full) a model folder `--model` can load."""
        if self.mode == "full":
            self.model.save_pretrained(str(folder), safe_serialization=True)
            loaded.tokenizer.save_pretrained(str(folder))
        else:  # the top adapter only; the ones under it are named in the card
            self.model.save_pretrained(str(folder), selected_adapters=["default"])


def fresh_lora_config(loaded: LoadedModel, card: dict, r: int):
    """A LoRA on every layer, on the modules the organism's own adapter used."""
    from peft import LoraConfig

    from ..organisms.implant import lora_targets

    targets = lora_targets(loaded, (card.get("hyperparameters") or {}).get("target_modules") or ())
    return LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=list(targets), task_type="CAUSAL_LM")


def full_training_bytes(model: torch.nn.Module) -> tuple[int, int]:
    """(on the model's device, in CPU memory) that full training needs beyond the loaded weights: gradients and
    two AdamW moments (in the weights' dtype) on the device, and the copy of the original weights (put back at the
    end) in CPU memory."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 3 * weights, weights


def check_full_fits(loaded: LoadedModel, limit_bytes: int | None) -> None:
    """A clear error when full training would not fit in `limit_bytes` (None: the memory free on the device,
    and CPU memory for the copy of the weights)."""
    if loaded.quantization:
        raise WorkbenchError(f"--train full cannot train {loaded.quantization} quantized weights; use --train "
                             "fresh-lora (QLoRA) or load the model without --quantize")
    on_device, copy = full_training_bytes(loaded.model)
    device = loaded.placement.device
    if limit_bytes is not None:
        checks = [(on_device + copy, limit_bytes, "the memory limit")]
    elif str(device).startswith("cuda"):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # memory PyTorch holds in its cache is free for this
        checks = [(on_device, available_memory_bytes(device), f"free memory on {device}"),
                  (copy, available_memory_bytes("cpu"), "free CPU memory (for the copy of the weights)")]
    else:
        checks = [(on_device + copy, available_memory_bytes(device), "free memory")]
    for need, have, where in checks:
        if have is not None and need > have:
            raise WorkbenchError(
                f"Full training of {loaded.identity.name} needs about {format_bytes(need)} beyond its weights "
                f"(gradients, AdamW state, a copy of the weights) but {where} is {format_bytes(have)}; "
                "use --train fresh-lora")


def open_trainable(loaded: LoadedModel, mode: str, organism: Path, card: dict, checkpoint: Path | None,
                   lora_r: int, seed: int) -> Trainable:
    """Put the organism on the loaded (plain) model in the form `mode` trains; from `checkpoint` when resuming.

    The organism may itself be a fresh-LoRA checkpoint: its chain of adapters is loaded, bottom first.
    """
    if mode not in TRAIN_MODES:
        raise WorkbenchError(f"Unknown training mode {mode!r}; choose one of: {', '.join(TRAIN_MODES)}")
    base = unload_peft(loaded.model)
    torch.manual_seed(seed)
    chain = adapter_chain(organism)
    if mode == "full":
        return _full(base, chain, checkpoint, loaded)
    try:
        with peft_quietly():
            if mode == "organism-adapter":  # the top adapter of the chain trains (from the checkpoint on resume)
                folders = chain[:-1] + [checkpoint or chain[-1]]
                model = stack_adapters(base, folders, stack_names(len(folders)))
            else:
                model = stack_adapters(base, chain, stack_names(len(chain) + 1)[:-1])
                if checkpoint is not None:
                    model.load_adapter(str(checkpoint), adapter_name="default", is_trainable=True)
                else:
                    model.add_adapter("default", fresh_lora_config(loaded, card, lora_r))
                model.base_model.set_adapter(stack_names(len(chain) + 1))
    except Exception as exc:  # a corrupt checkpoint or adapter: the base model is left as it was
        strip_lora(base)
        loaded.put_weights(base, None)
        raise WorkbenchError(f"Cannot open the organism for training: {str(exc).strip().splitlines()[0][:300]}") \
            from exc
    for name, p in model.named_parameters():  # only the top adapter ("default") learns
        p.requires_grad_(".default." in name and "lora_" in name)
    model.to(loaded.placement.device)
    return Trainable(mode, model, model.get_base_model(), lambda: unload_peft(model))


def _full(base, chain: list[Path], checkpoint: Path | None, loaded: LoadedModel) -> Trainable:
    original = {k: v.detach().to("cpu", copy=True) for k, v in base.state_dict().items()}
    try:
        with peft_quietly():
            merged = stack_adapters(base, chain, stack_names(len(chain))).merge_and_unload()
        if hasattr(merged, "peft_config"):
            del merged.peft_config
        if checkpoint is not None:
            load_full_weights(merged, checkpoint)
    except BaseException:  # the merge wrote into the weights: put the originals back before saying why
        strip_lora(base)
        base.load_state_dict(original, strict=True)
        loaded.put_weights(base, None)
        raise
    for p in merged.parameters():
        p.requires_grad_(True)

    def restore() -> torch.nn.Module:
        for p in merged.parameters():
            p.requires_grad_(False)
        merged.load_state_dict(original, strict=True)
        return merged

    return Trainable("full", merged, merged, restore)


def load_full_weights(model: torch.nn.Module, folder: Path) -> None:
    """The weights of a full-training checkpoint (one or more safetensors files) into `model`."""
    from safetensors.torch import load_file

    files = sorted(p for p in Path(folder).glob("model*.safetensors"))
    if not files:
        raise WorkbenchError(f"Checkpoint {folder} has no model weights ({FULL_WEIGHTS})")
    state = {}
    for f in files:
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.endswith("lm_head.weight")]:
        raise WorkbenchError(f"Checkpoint {folder} does not match the loaded model")


def opens_as_model(folder: str | Path) -> bool:
    """A full-training checkpoint is a model folder (load it as the model); any other checkpoint is an adapter."""
    folder = Path(folder)
    return (folder / "config.json").exists() and not (folder / "adapter_config.json").exists()
