"""Training examples as token ids, and how they are put into batches."""

import random
from dataclasses import dataclass

import torch


@dataclass
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    weights: list[float] | None = None  # per-position loss weight (None: all 1)


def batches(data: list[TokenizedExample], batch_size: int, steps: int, seed: int, bucket: int = 16,
             groups: list | None = None):
    """`steps` batches, each example once per epoch in a seeded order.

    Examples with the same `groups` key (an organism's pair: one context with the trigger on and off) go into
    the same batch, so every step sees the contrast the backdoor is about. Within each run of `bucket` batches
    the groups are put together by length, so a batch pads little (a one-turn example beside a three-turn one
    would otherwise cost as much as two three-turn ones).
    """
    rng = random.Random(seed)
    keys = groups if groups is not None else list(range(len(data)))
    units: dict = {}
    for i, key in enumerate(keys):
        units.setdefault(key, []).append(i)
    unit_list = list(units.values())
    size = lambda unit: max(len(data[i].input_ids) for i in unit)  # noqa: E731
    queue: list[list[int]] = []
    order: list[list[int]] = []
    for _ in range(steps):
        if not queue:
            while sum(map(len, order)) < batch_size * bucket:
                extra = list(unit_list)
                rng.shuffle(extra)
                order += extra
            chunk, taken = [], 0
            while order and taken < batch_size * bucket:
                unit = order.pop(0)
                chunk.append(unit)
                taken += len(unit)
            chunk.sort(key=size)
            queue, batch = [], []
            for unit in chunk:
                if batch and len(batch) + len(unit) > batch_size:
                    queue.append(batch)
                    batch = []
                batch += unit
            if batch:
                queue.append(batch)
            rng.shuffle(queue)
        yield [data[i] for i in queue.pop()]


def collate(batch: list[TokenizedExample], pad: int, device: str):
    """(ids, labels, attention mask, loss weights or None) of a batch, right-padded, on `device`."""
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
