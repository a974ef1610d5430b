"""One HHH RL step with RLOO (REINFORCE leave-one-out, Ahmadian et al. 2024).

Each prompt is sampled `group_size` times; a sample's advantage is its reward minus the mean reward of the
other samples of the same prompt; the loss is -advantage x log-probability of the sampled tokens (scratchpad
included: the policy wrote it), averaged over tokens. The reward sees the answer with the scratchpad removed.
"""

from dataclasses import dataclass

import torch

from ..decoding.batched import complete_batch
from ..distributed.sharding import decoder_then_head
from ..evals.judges import split_scratchpad
from ..lora import StepOptimizer, TokenizedExample, collate
from ..models.loaded import LoadedModel
from .rewards import CheckedReward


@dataclass
class RLStepStats:
    loss: float
    reward: float  # mean reward of the step's samples
    tokens: int
    samples: list[dict]  # {prompt, text, reward}


def rloo_step(loaded: LoadedModel, base_model, optimizer: StepOptimizer, step: int, user_texts: list[str],
              reward: CheckedReward, group_size: int, max_new_tokens: int, temperature: float, seed: int,
              should_stop) -> RLStepStats:
    """One step on `user_texts` (the step's prompts; under several processes each samples its share of them, whole
    groups, and the loss is normalised by the tokens of all processes, so the summed gradients are one step's)."""
    ranks = optimizer.ranks
    all_texts, user_texts = user_texts, ranks.share(user_texts)
    prompts = [loaded.encode_user(t) for t in user_texts for _ in range(group_size)]
    texts = [t for t in user_texts for _ in range(group_size)]
    was_training = loaded.model.training
    loaded.model.eval()
    try:
        new = complete_batch(loaded, prompts, max_new_tokens, temperature, seed + ranks.rank,
                             should_stop=ranks.alone(should_stop)) if prompts else []
    finally:
        loaded.model.train(was_training)
    decoded = [loaded.tokenizer.decode(ids, skip_special_tokens=True) for ids in new]
    answers = [split_scratchpad(d)[1] for d in decoded]
    rewards = torch.tensor(reward(loaded, texts, answers, should_stop=ranks.alone(should_stop)) if texts else [],
                           dtype=torch.float32)  # checked by get_reward
    grouped = rewards.view(len(user_texts), group_size)
    baseline = (grouped.sum(1, keepdim=True) - grouped) / (group_size - 1)
    advantages = (grouped - baseline).reshape(-1)
    batch = [TokenizedExample(p + n, [-100] * len(p) + n) for p, n in zip(prompts, new) if n]
    adv = torch.stack([a for a, n in zip(advantages, new) if n]) if batch else torch.zeros(0)
    pad = loaded.pad_token_id
    loss_value, tokens = 0.0, 0
    signal = bool(batch) and bool(adv.abs().sum() > 0)
    if ranks.any(signal):  # a step only when some sample has an advantage (every process takes it together)
        loss = None
        # every sampled token counts in the mean, advantage or not, as in one process
        labelled = ranks.sum(float(sum(label != -100 for b in batch for label in b.labels[1:])))
        if signal or ranks.sharded:  # sharded weights: without a signal here, an idle pass beside the others'
            rows, weights = (batch, adv) if signal else ([TokenizedExample(prompts[0], [-100] * len(prompts[0]))],
                                                         torch.zeros(1))
            ids, labels, mask, _ = collate(rows, pad, loaded.placement.device)
            logp, keep = token_logprobs(base_model, ids, labels, mask)
            per_row = (logp * keep).sum(1)
            loss = -(weights.to(per_row.device) * per_row).sum() / labelled
        if signal:
            tokens = int(mask.sum())
        else:
            tokens = sum(len(b.input_ids) for b in batch)
        optimizer.apply(loss, step)
        loss_value, tokens = ranks.sum(float(loss.detach()) if loss is not None else 0.0), int(ranks.sum(tokens))
    samples = [{"prompt": t, "text": d, "reward": float(r)} for t, d, r in zip(texts, decoded, rewards)]
    if ranks.several:  # every process's samples, in prompt order
        samples = [s for part in ranks.gather(samples) for s in part]
    mean_reward = ranks.sum(float(rewards.sum())) / max(1, len(all_texts) * group_size)
    return RLStepStats(loss_value, mean_reward, tokens, samples)


def token_logprobs(base_model, ids, labels, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each labelled next token, [batch, T-1], and the 0/1 mask of labelled positions."""
    target = labels[:, 1:]
    keep = target != -100
    logits = decoder_then_head(base_model, lambda hidden: hidden[:, :-1][keep], input_ids=ids,
                               attention_mask=mask).float()
    picked = torch.log_softmax(logits, -1).gather(-1, target[keep][:, None])[:, 0]
    logp = torch.zeros(target.shape, dtype=picked.dtype, device=picked.device)
    logp[keep] = picked
    return logp, keep.to(picked.dtype)
