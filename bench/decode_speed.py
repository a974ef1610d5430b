"""Decode speed of our token loop vs `model.generate` on the same prompt and model (greedy), in one run.

Runs alternate (ours, generate, ours, ...) so both see the same machine state; the figure is the ratio
of median tokens per second (target >= 0.95).
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
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model(args.model, device=args.device)
    ids = loaded.encode_chat([{"role": "user", "content": PROMPT}])
    settings = SamplingSettings(max_new_tokens=args.tokens)
    device = loaded.placement.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def ours():
        sync()
        t = time.perf_counter()
        g = Generation(loaded, ids, settings).run()
        sync()
        return len(g.new_ids) / (time.perf_counter() - t), g.new_ids

    def reference():
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            out = loaded.model.generate(torch.tensor([ids], device=device), max_new_tokens=args.tokens,
                                        do_sample=False)
        sync()
        new = out[0, len(ids):].tolist()
        return len(new) / (time.perf_counter() - t), new

    ours(), reference()  # warm-up
    rates_ours, rates_ref, same = [], [], True
    for _ in range(args.runs):
        r1, a = ours()
        r2, b = reference()
        rates_ours.append(r1)
        rates_ref.append(r2)
        same &= a == b
    mine, theirs = statistics.median(rates_ours), statistics.median(rates_ref)
    print(f"decode speed ({loaded.identity.name}, {device} {loaded.placement.dtype_name}, "
          f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  prompt {len(ids)} tokens, {args.tokens} new tokens, greedy, median of {args.runs} alternating runs")
    print(f"  our loop:        {mine:.2f} tokens/s")
    print(f"  model.generate:  {theirs:.2f} tokens/s")
    print(f"  ratio ours/generate: {mine / theirs:.3f}  (target >= 0.95)")
    figure("decode speed, ours / model.generate", round(mine / theirs, 3), "ratio", "≥ 0.95", mine / theirs >= 0.95)
    figure("decode speed, our loop", round(mine, 2), "tokens/s")
    print(f"  identical tokens: {same}")


if __name__ == "__main__":
    main()
