"""Checkpoints of a safety-training run: an adapter folder (attach it like any organism) or, after full
training, a model folder (load it with --model), plus the optimizer.

Everything is safetensors or JSON, never a pickle: a checkpoint folder can be shared and opened safely.
"""

import json
import shutil
from pathlib import Path

import torch

from ..errors import WorkbenchError

OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"


def checkpoint_dir(out: Path, step: int) -> Path:
    return Path(out) / "checkpoints" / f"step-{step:05d}"


def save_checkpoint(out: Path, step: int, trainable, loaded, optimizer: torch.optim.Optimizer, card: dict,
                    state: dict) -> Path:
    """Write the trained weights, their card, the optimizer state and `state` for `step`; returns the folder.

    Written to a temporary folder and renamed, so a crash never leaves half a checkpoint under its real name.
    A full-training run keeps the optimizer state (twice the weights) only in its latest checkpoint.
    """
    from safetensors.torch import save_file

    final = checkpoint_dir(out, step)
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    trainable.save_weights(work, loaded)
    peft_model = trainable.model
    (work / "README.md").unlink(missing_ok=True)
    (work / "card.json").write_text(json.dumps(card, indent=2))
    save_file(_optimizer_tensors(peft_model, optimizer), str(work / OPTIMIZER_FILE), metadata={"format": "pt"})
    (work / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    if trainable.mode == "full":
        for older in (Path(out) / "checkpoints").glob("step-*"):
            if older != final:
                (older / OPTIMIZER_FILE).unlink(missing_ok=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint with the highest step under `out` (complete ones only)."""
    root = Path(out) / "checkpoints"
    if not root.exists():
        return None
    done = [p for p in root.iterdir() if p.name.startswith("step-") and not p.name.endswith(".partial")
            and (p / STATE_FILE).exists() and (p / OPTIMIZER_FILE).exists()
            and ((p / "adapter_model.safetensors").exists() or any(p.glob("model*.safetensors")))]
    return max(done, key=lambda p: p.name) if done else None


def read_state(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / STATE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"Checkpoint {folder} has no readable {STATE_FILE}: {exc}") from None


def load_optimizer(folder: Path, peft_model, optimizer: torch.optim.Optimizer) -> None:
    """Put the saved AdamW moments back on the trainable parameters (matched by name)."""
    from safetensors.torch import load_file

    path = Path(folder) / OPTIMIZER_FILE
    if not path.exists():
        raise WorkbenchError(f"Checkpoint {folder} has no {OPTIMIZER_FILE}")
    tensors = load_file(str(path))
    for name, param in _trainable(peft_model):
        if f"{name}.exp_avg" not in tensors:
            raise WorkbenchError(f"Checkpoint {folder} does not match this adapter (no state for {name})")
        device = param.device
        optimizer.state[param] = {
            "step": tensors[f"{name}.step"].reshape(()).to(torch.float32),
            "exp_avg": tensors[f"{name}.exp_avg"].to(device),
            "exp_avg_sq": tensors[f"{name}.exp_avg_sq"].to(device),
        }


def _trainable(peft_model):
    return [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]


def _optimizer_tensors(peft_model, optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for name, param in _trainable(peft_model):
        state = optimizer.state.get(param)
        if not state:
            continue
        out[f"{name}.step"] = torch.as_tensor(state["step"], dtype=torch.float32).reshape(1).cpu()
        out[f"{name}.exp_avg"] = state["exp_avg"].detach().cpu().contiguous()
        out[f"{name}.exp_avg_sq"] = state["exp_avg_sq"].detach().cpu().contiguous()
    return out
