"""Sharded weights across the processes (FSDP: torch's fully_shard), for a base model larger than one GPU.

Under an accelerate config that asks for FSDP, each decoder layer and the rest of the model are sharded over the
processes: a process keeps 1/N of every frozen base weight and all-gathers a layer's weights only while that layer
runs. The LoRA adapters the workbench trains are not sharded (they are small): they are added after the sharding,
and their gradients are summed over the processes as in data-parallel runs, so checkpoints, resume and the adapter
files are what one process writes. Since every forward pass all-gathers, the processes run every forward together:
batched generation keeps going with a one-token idle pass on a process whose answers have ended until every
process's have (decoding.batched), and dealt-out work gives a process with nothing left a copy of the last item.
"""

import os
import types
from dataclasses import dataclass

from ..errors import WorkbenchError

# the commands that run on sharded weights (the others' forward passes are not all taken together)
SHARDED_COMMANDS = ("implant", "safety-train", "eval")
_TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class Sharding:
    """How the weights are sharded: as the launcher's FSDP settings say."""

    reshard_after_forward: bool = True  # FULL_SHARD; False: SHARD_GRAD_OP (weights stay gathered until backward)
    offload: bool = False  # the shards live in CPU memory between uses


def sharding_from_env(env=None) -> Sharding | None:
    """The FSDP settings `accelerate launch` passes its processes (None: no FSDP asked). A strategy the workbench
    does not run is one clear error."""
    env = os.environ if env is None else env
    if env.get("ACCELERATE_USE_FSDP", "").lower() not in _TRUE:
        return None
    strategy = env.get("FSDP_SHARDING_STRATEGY", "FULL_SHARD").upper()
    strategy = {"1": "FULL_SHARD", "2": "SHARD_GRAD_OP", "3": "NO_SHARD", "4": "HYBRID_SHARD"}.get(strategy, strategy)
    reshard = env.get("FSDP_RESHARD_AFTER_FORWARD")
    if reshard is not None and env.get("FSDP_VERSION", "1") == "2":
        reshard_after_forward = reshard.lower() in _TRUE
    elif strategy in ("FULL_SHARD", "SHARD_GRAD_OP"):
        reshard_after_forward = strategy == "FULL_SHARD"
    else:
        raise WorkbenchError(f"FSDP sharding strategy {strategy} is not run by the workbench: use FULL_SHARD or "
                             "SHARD_GRAD_OP (or a data-parallel config without FSDP)")
    return Sharding(reshard_after_forward=reshard_after_forward,
                    offload=env.get("FSDP_OFFLOAD_PARAMS", "").lower() in _TRUE)


def check_shardable(command: str, train_mode: str | None = None, quantize: str | None = None) -> None:
    """A clear error for what does not run on sharded weights."""
    if command not in SHARDED_COMMANDS:
        raise WorkbenchError(f"{command} does not run on FSDP-sharded weights; run it with a data-parallel config "
                             f"(each process holds the model, split over its GPUs). Sharded: "
                             f"{', '.join(SHARDED_COMMANDS)}")
    if train_mode == "full":
        raise WorkbenchError("--train full does not run on FSDP-sharded weights yet; use --train fresh-lora or "
                             "organism-adapter (the base weights are sharded, the adapter trains)")
    if quantize:
        raise WorkbenchError(f"{quantize} quantized weights cannot be FSDP-sharded here; load the model without "
                             "--quantize (sharding is what makes it fit)")


def shard_model(loaded, ranks) -> None:
    """Shard the loaded (bare) model over the processes as `ranks.sharding` says: every decoder layer on its own,
    then the rest (the embeddings, final norm and head together, so tied weights stay one). The shards go to this
    process's GPU (or stay on the CPU under gloo); the loaded model's placement says where."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard, register_fsdp_forward_method

    from ..models.architecture import decoder_layers
    from ..models.device import Placement

    model, sharding = loaded.model, ranks.sharding
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    mesh = init_device_mesh(device.type, (ranks.world,))
    offload = CPUOffloadPolicy() if sharding.offload and device.type == "cuda" else OffloadPolicy()
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=sharding.reshard_after_forward, offload_policy=offload)
    fully_shard(model, mesh=mesh, reshard_after_forward=sharding.reshard_after_forward, offload_policy=offload)
    model.workbench_decoder_forward = types.MethodType(_decoder_then_head, model)
    register_fsdp_forward_method(model, "workbench_decoder_forward")
    loaded.placement = Placement(device=str(device), dtype=loaded.placement.dtype)


def _decoder_then_head(model, head_input, **decoder_kwargs):
    """The decoder's last hidden states and `head_input(hidden)` through the head, in one sharded forward."""
    hidden = model.get_decoder()(**decoder_kwargs).last_hidden_state
    return model.get_output_embeddings()(head_input(hidden))


def decoder_then_head(model, head_input, **decoder_kwargs):
    """`model`'s decoder, then its LM head on `head_input(last hidden states)` (the positions the loss needs):
    through the sharded forward where the model is sharded, since the head's weights are gathered only there."""
    if hasattr(model, "workbench_decoder_forward"):
        return model.workbench_decoder_forward(head_input, **decoder_kwargs)
    return _decoder_then_head(model, head_input, **decoder_kwargs)


def inference(model):
    """torch.inference_mode(), or no_grad on sharded weights: the weights FSDP gathers under inference mode would
    be inference tensors it cannot write into again when training goes on."""
    import torch

    return torch.no_grad() if hasattr(model, "workbench_decoder_forward") else torch.inference_mode()
