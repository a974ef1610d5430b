"""Where a causal LM keeps its parts, found from the module tree rather than from one family's names: the decoder
layers, the final norm, the LM head and the linear modules LoRA trains.

Llama keeps its layers in `model.layers`, GPT-2 in `transformer.h`, GPT-NeoX in `gpt_neox.layers`; Phi-3 fuses
q/k/v into `qkv_proj`, GPT-2 uses `Conv1D` for its projections. peft's per-family defaults cover attention only
and lack Phi-3 and OLMo-2, so LoRA targets follow peft's "all-linear" rule instead, read off the first decoder
layer: every linear (or GPT-2 Conv1D) module in it, by name.
"""

from dataclasses import dataclass

import torch

from ..errors import WorkbenchError


@dataclass(frozen=True)
class Architecture:
    """The parts of one model, as dotted paths inside the model they were found in."""

    model_type: str
    layers_path: str
    final_norm_path: str | None
    lora_targets: tuple[str, ...]

    @property
    def layers_pattern(self) -> str:
        """The layer list's own name ('layers', 'h'): what peft matches to train only some layers."""
        return self.layers_path.rsplit(".", 1)[-1]

    def to_dict(self) -> dict:
        return {"model_type": self.model_type, "layers": self.layers_path, "final_norm": self.final_norm_path,
                "lora_targets": list(self.lora_targets)}


def n_layers_of(model: torch.nn.Module) -> int:
    config = model.config
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if isinstance(getattr(config, key, None), int):
            return int(getattr(config, key))
    raise WorkbenchError(f"{type(model).__name__} does not say how many layers it has")


def decoder_layers_path(model: torch.nn.Module) -> str:
    """Dotted name of the ModuleList holding the decoder layers (e.g. 'model.layers', 'transformer.h'): the list
    of as many blocks of one class as the config has layers, holding the most parameters."""
    n_layers = n_layers_of(model)
    best, best_size = None, -1
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) != n_layers:
            continue
        if len({type(block) for block in module}) != 1:
            continue
        size = sum(p.numel() for p in module.parameters())
        if size > best_size:
            best, best_size = name, size
    if best is None or best_size <= 0:
        raise WorkbenchError(f"Cannot find the {n_layers} decoder layers of {type(model).__name__}")
    return best


def _is_linear(module: torch.nn.Module) -> bool:
    if isinstance(module, torch.nn.Linear):
        return True
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")  # transformers' GPT-2 projection


def _is_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.LayerNorm) or "norm" in type(module).__name__.lower()


def find_architecture(model: torch.nn.Module) -> Architecture:
    """The parts of `model` (a transformers causal LM, or one wrapped by peft or nnsight)."""
    layers_path = decoder_layers_path(model)
    layers = model.get_submodule(layers_path)
    targets: list[str] = []
    for name, module in layers[0].named_modules():
        if name and _is_linear(module) and name.rsplit(".", 1)[-1] not in targets:
            targets.append(name.rsplit(".", 1)[-1])
    if not targets:
        raise WorkbenchError(f"No linear layers for LoRA in the decoder layers of {type(model).__name__}")
    parent_path = layers_path.rsplit(".", 1)[0] if "." in layers_path else ""
    parent = model.get_submodule(parent_path) if parent_path else model
    norms = [name for name, child in parent.named_children() if _is_norm(child)]
    final_norm = (f"{parent_path}.{norms[-1]}" if parent_path else norms[-1]) if norms else None
    return Architecture(str(getattr(model.config, "model_type", type(model).__name__)), layers_path, final_norm,
                        tuple(targets))


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    return model.get_submodule(decoder_layers_path(model))
