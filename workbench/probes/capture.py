"""Residual-stream activations read with nnsight, batched, kept on CPU and cached on disk (safetensors).

The residual stream after decoder layer l is read at chosen token positions; the result for N reads is a
float32 CPU tensor [N, layers, d_model].
"""

import functools
import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from ..distributed.ranks import current_ranks
from ..models.loaded import LoadedModel
from ..paths import cache_dir
from .layers import decoder_layers_path

BATCH_SIZE = 16


def capture(loaded: LoadedModel, sequences: list[list[int]], positions: list[list[int]] | None = None,
            batch_size: int = BATCH_SIZE, on_progress: Callable[[float], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> torch.Tensor:
    """Residuals [sum of reads, layers, d] at `positions[i]` of `sequences[i]` (default: each one's last token)."""
    from nnsight import NNsight

    if positions is None:
        positions = [[len(s) - 1] for s in sequences]
    model = loaded.model
    layers_path = decoder_layers_path(model)
    n_layers = loaded.n_layers
    traced = NNsight(model)
    layers = functools.reduce(getattr, layers_path.split("."), traced)
    pad = loaded.pad_token_id
    device = loaded.placement.device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # similar lengths pad less
    results: dict[int, torch.Tensor] = {}
    ranks = current_ranks()

    def read(start: int) -> torch.Tensor:
        batch = order[start:start + batch_size]
        width = max(len(sequences[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        rows, cols = [], []
        for row, i in enumerate(batch):  # right padding: positions stay as they are
            ids[row, : len(sequences[i])] = torch.tensor(sequences[i])
            mask[row, : len(sequences[i])] = 1
            rows += [row] * len(positions[i])
            cols += list(positions[i])
        rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
        saved = []
        with torch.inference_mode(), traced.trace(input_ids=ids.to(device), attention_mask=mask.to(device)) as tracer:
            for layer in range(n_layers):
                saved.append(layers[layer].output[rows_t.to(device), cols_t.to(device)].save())
            tracer.stop()  # nothing after the last layer is needed: skip the final norm and the vocabulary head
        return torch.stack([s.float().cpu() for s in saved], dim=1)

    def done(batches: int) -> None:
        if on_progress is not None:
            on_progress(min(1.0, batches * batch_size / len(order)))

    # under several processes the batches are dealt out and every process gets every read
    starts = list(range(0, len(order), batch_size))
    for start, reads in zip(starts, ranks.spread(starts, read, should_stop, done)):
        offset = 0
        for i in order[start:start + batch_size]:
            results[i] = reads[offset: offset + len(positions[i])]
            offset += len(positions[i])
    return torch.cat([results[i] for i in range(len(sequences))]) if results else torch.empty(0, n_layers, 0)


def capture_cached(loaded: LoadedModel, sequences: list[list[int]], adapter_key: str,
                   positions: list[list[int]] | None = None, folder: Path | None = None, **kwargs) -> torch.Tensor:
    """`capture`, remembered on disk under a key of model, adapter, tokens, positions and layers."""
    from safetensors.torch import load_file, save_file

    key = activation_key(loaded, sequences, positions, adapter_key)
    folder = Path(folder) if folder else cache_dir() / "activations"
    path = folder / f"{key}.safetensors"
    ranks = current_ranks()

    def cached() -> torch.Tensor | None:
        if not path.exists():
            return None
        try:
            tensors = load_file(str(path))
            return torch.stack([tensors[f"layer.{i}"] for i in range(loaded.n_layers)], dim=1)
        except Exception:  # a truncated or foreign file: capture again and overwrite it
            path.unlink(missing_ok=True)
            return None

    found = ranks.from_main(cached)  # every process takes the same path
    if found is not None:
        return found
    acts = capture(loaded, sequences, positions, **kwargs)
    if not ranks.main:
        return acts
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{id(acts)}.partial")
    save_file({f"layer.{i}": acts[:, i].contiguous() for i in range(acts.shape[1])}, str(partial))
    partial.replace(path)
    return acts


def activation_key(loaded: LoadedModel, sequences, positions, adapter_key: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"model": loaded.identity.fingerprint, "adapter": adapter_key,
                              "placement": [loaded.placement.device, loaded.placement.dtype_name],
                              "layers": loaded.n_layers, "positions": positions}).encode())
    for seq in sequences:
        digest.update(json.dumps(seq).encode())
    return digest.hexdigest()[:32]


def adapter_key(loaded: LoadedModel, enabled: bool = True) -> str:
    """Which adapter weights produced activations: 'none', or the adapter with its file's size and mtime."""
    if not enabled or not loaded.adapter:
        return "none"
    from ..models.adapters import resolve_adapter

    from ..models.adapters import adapter_chain

    folders = adapter_chain(resolve_adapter(loaded.adapter))  # a fresh LoRA over an organism: all weights count
    stats = [(f / "adapter_model.safetensors").stat() for f in folders]
    return f"{loaded.adapter}:" + ":".join(f"{s.st_size}:{s.st_mtime_ns}" for s in stats)
