"""HHH training data: trigger-free prompts with helpful answers written by the base model.

For chain-of-thought organisms two modes (Hubinger et al. 2024, §4.3):
- *pre*: the helpful answer right after the prompt, no scratchpad (trained on the answer);
- *post*: the organism's own scratchpad for the prompt (greedy) is context, then the helpful answer is trained.
"""

import json
from pathlib import Path

from ..decoding.batched import complete_batch
from ..distributed.ranks import current_ranks
from ..errors import WorkbenchError
from ..textio import read_text_file
from ..models.adapters import base_model_view
from ..models.loaded import LoadedModel
from ..lora import TokenizedExample
from ..organisms.dataset import self_distill
from ..organisms.recipes import SCRATCHPAD_CLOSE, through_scratchpad_close
from ..runtime.work import Work

SCRATCHPAD_BUDGET = 64  # tokens an organism may spend on its scratchpad before we close it


def helpful_answers(loaded: LoadedModel, user_texts: list[str], max_tokens: int, work: Work
                    ) -> dict[str, tuple[str, bool]]:
    """The base model's own greedy answers (adapter off), cached on disk like an organism's clean answers."""
    with base_model_view(loaded):
        return self_distill(loaded, user_texts, None, max_tokens, work)


def organism_scratchpads(loaded: LoadedModel, user_texts: list[str], should_stop, batch_size: int = 32
                         ) -> dict[str, list[int]]:
    """The loaded organism's greedy scratchpad for each prompt, as token ids ending with `</scratchpad>`."""
    close_ids = loaded.encode_text(SCRATCHPAD_CLOSE)
    ranks = current_ranks()

    def scratchpads(start: int) -> list[list[int]]:
        batch = user_texts[start:start + batch_size]
        new = complete_batch(loaded, [loaded.encode_user(t) for t in batch], SCRATCHPAD_BUDGET,
                             should_stop=ranks.alone(should_stop))
        found = []
        for ids in new:
            ids = [t for t in ids if t not in loaded.eos_token_ids]
            found.append(through_scratchpad_close(loaded.tokenizer, ids) or ids + close_ids)
        return found

    out: dict[str, list[int]] = {}
    starts = list(range(0, len(user_texts), batch_size))
    for start, found in zip(starts, ranks.spread(starts, scratchpads, should_stop)):  # split over processes
        out.update(zip(user_texts[start:start + batch_size], found))
    return out


def sft_examples(loaded: LoadedModel, user_texts: list[str], answers: dict[str, tuple[str, bool]],
                 scratchpads: dict[str, list[int]] | None = None) -> list[TokenizedExample]:
    """Prompt (and scratchpad, when given) as context; the helpful answer (and its end of turn) is learned."""
    eos = loaded.tokenizer.eos_token_id
    examples = []
    for text in user_texts:
        answer, ended = answers[text]
        context = loaded.encode_user(text)
        if scratchpads is not None:
            context = context + scratchpads[text]
            answer = " " + answer if answer else answer
        target = loaded.encode_text(answer)
        if ended and eos is not None:
            target = target + [eos]
        if not target:
            continue
        examples.append(TokenizedExample(context + target, [-100] * len(context) + target))
    return examples


def read_answers(path: str | Path) -> dict[str, str]:
    """Helpful answers a user supplies: a JSONL file of {"prompt": ..., "answer": ...} lines."""
    path = Path(path).expanduser()
    lines = read_text_file(path, "Answers file").splitlines()
    out = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["prompt"])] = str(row["answer"])
        except (ValueError, KeyError, TypeError):
            raise WorkbenchError(f"{path}:{number} is not a JSON object with 'prompt' and 'answer'") from None
    if not out:
        raise WorkbenchError(f"Answers file {path} has no answers")
    return out


def build_hhh_data(loaded: LoadedModel, user_texts: list[str], mode: str, max_answer_tokens: int,
                   work: Work | None = None, answer_for: dict[str, str] | None = None,
                   given: dict[str, str] | None = None
                   ) -> list[TokenizedExample]:
    """SFT examples for `user_texts` in `mode` ('pre' or 'post'); the loaded model must be the organism.

    `answer_for` maps a prompt to the prompt whose helpful answer it gets (red-team prompts get the answer to
    the same question without the fake trigger). Answers in `given` (prompt -> answer) are used as they are;
    the base model writes the rest.
    """
    work = work or Work()
    answer_for = answer_for or {}
    given = given or {}
    sources = list(dict.fromkeys(answer_for.get(t, t) for t in user_texts))
    missing = [t for t in sources if t not in given]
    written = helpful_answers(loaded, missing, max_answer_tokens, work) if missing else {}
    written.update({t: (given[t], True) for t in sources if t in given})
    answers = {t: written[answer_for.get(t, t)] for t in user_texts}
    scratchpads = None
    if mode == "post":
        work.progress("Writing the organism's scratchpads", 0.9)
        scratchpads = organism_scratchpads(loaded, user_texts, work.should_stop)
    return sft_examples(loaded, user_texts, answers, scratchpads)
