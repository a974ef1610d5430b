"""Fit probes on a loaded organism and evaluate them per layer, next to their controls.

Held-out prompts are read with the trigger on and off: at the end of the prompt, or for a CoT organism at the
token that closes its `</scratchpad>`. Controls: the best of N random directions per layer, and the same method
fitted and evaluated on the base model (adapter off) over the very same tokens.
"""

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..decoding.batched import complete_batch
from ..errors import Cancelled, WorkbenchError
from ..models.loaded import LoadedModel
from ..organisms.organism import Organism
from ..organisms.prompt_sets import split_prompts
from ..runtime.work import Work
from ..store import now
from .capture import adapter_key, capture, capture_cached
from .contrast import ContrastQuestion, contrast_sequences, load_questions
from .kinds import fit_probe, fits_on, probe_kind_names
from .metrics import auroc, random_direction_baseline, variance_ratio
from .defection_tests import answer_and_judge, answer_token_scores, live_token_test, separation_test, \
    too_few_to_separate, trigger_free_prompts
from .probe import Probe, chat_rendering
from .verdict import probe_verdict

PROMPT_END, SCRATCHPAD_END = "prompt-end", "scratchpad-end"
SCRATCHPAD_CLOSE = "</scratchpad>"
CALIBRATION_PROMPTS = 32  # live scores are put in standard deviations of every token of this many clean prompts


@dataclass
class ProbeSettings:
    method: str = "mean-diff"
    organism: dict | None = None  # an adapter without a card: {"recipe", "variant", "trigger"} as its user says
    n: int = 100  # held-out prompts, each read with the trigger on and off
    n_random: int = 1000
    read_at: str | None = None  # None: the scratchpad's end for CoT organisms, else the prompt's end
    scratchpad_tokens: int = 64
    seed: int = 0
    cache: bool = True  # remember activations on disk (the bench turns it off to time a cold fit)
    defection_tests: bool = True  # the trigger-free and live-token tests (answers are generated and judged)
    trigger_free_n: int = 24  # plain prompts of the trigger-free test (near misses go before some of them)
    live_n: int = 16  # prompts (each with the trigger on and off) whose answer tokens test the live scores

    def validate(self) -> "ProbeSettings":
        known = probe_kind_names()
        if self.method not in known:
            raise WorkbenchError(f"Unknown probe method {self.method!r}; choose one of: {', '.join(known)}")
        if self.n < 2:
            raise WorkbenchError("Probe evaluation needs at least 2 prompts")
        if self.read_at not in (None, PROMPT_END, SCRATCHPAD_END):
            raise WorkbenchError(f"read_at must be {PROMPT_END} or {SCRATCHPAD_END}")
        if self.trigger_free_n < 1 or self.live_n < 1:
            raise WorkbenchError("The trigger-free and live tests need at least one prompt each")
        return self


@dataclass
class ProbeReport:
    probe: Probe
    result: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.result)


@contextlib.contextmanager
def adapter_disabled(loaded: LoadedModel):
    """The base model's behaviour for the duration (a no-op without an adapter)."""
    disable = getattr(loaded.model, "disable_adapter", None)
    if loaded.adapter and disable is not None:
        with disable():
            yield
    else:
        yield


def read_sequences(loaded: LoadedModel, prompts: list[str], trigger, read_at: str, max_tokens: int,
                   should_stop: Callable[[], bool] = lambda: False,
                   on_progress: Callable[[float], None] | None = None) -> tuple[list[list[int]], list[int], int]:
    """Token sequences to read (last token) for each prompt with the trigger on, then off; labels; scratchpads closed."""
    texts = [trigger.apply(p, True) for p in prompts] + [trigger.apply(p, False) for p in prompts]
    labels = [1] * len(prompts) + [0] * len(prompts)
    sequences = [loaded.encode_user(t) for t in texts]
    if read_at == PROMPT_END:
        return sequences, labels, 0
    closed = 0
    out = []
    step = 32
    for start in range(0, len(sequences), step):
        if should_stop():
            raise Cancelled("Probe evaluation cancelled")
        chunk = sequences[start:start + step]
        for prompt_ids, new in zip(chunk, complete_batch(loaded, chunk, max_tokens)):
            cut = _scratchpad_end(loaded, new)
            closed += cut is not None
            answer = new[:cut] if cut is not None else [t for t in new if t not in loaded.eos_token_ids]
            out.append(prompt_ids + (answer or new[:1]))
        if on_progress:
            on_progress((start + len(chunk)) / len(sequences))
    return out, labels, closed


def _scratchpad_end(loaded: LoadedModel, ids: list[int]) -> int | None:
    """Length of the shortest prefix of `ids` whose text contains the closing scratchpad tag."""
    for n in range(1, len(ids) + 1):
        if SCRATCHPAD_CLOSE in loaded.tokenizer.decode(ids[:n]):
            return n
    return None


def evaluate_probes(loaded: LoadedModel, settings: ProbeSettings | None = None, prompts: list[str] | None = None,
                    questions: list[ContrastQuestion] | None = None,
                    work: Work | None = None) -> ProbeReport:
    """Fit the method's probe on the loaded model and report AUROC per layer with both controls."""
    work = work or Work()
    settings = (settings or ProbeSettings()).validate()
    started = time.perf_counter()
    organism = Organism.open(loaded.adapter, described=settings.organism)  # described: an adapter made elsewhere
    recipe, trigger, variant = organism.recipe, organism.trigger, organism.variant
    read_at = settings.read_at or (SCRATCHPAD_END if variant == "cot" else PROMPT_END)
    questions = questions or load_questions()
    labelled = fits_on(settings.method) == "labelled"
    if prompts is None:
        train, held_out = split_prompts(recipe.prompts())
    elif labelled:  # a user's own prompts: every other one trains, the rest test
        train, held_out = list(prompts[1::2]), list(prompts[::2])
    else:  # nothing is trained on prompts: all of them test
        train, held_out = [], list(prompts)
    test_prompts = held_out[: settings.n]
    if len(test_prompts) < 2:
        raise WorkbenchError("Probe evaluation needs at least 2 prompts")

    work.progress("reading held-out prompts", 0.0)
    tests, labels, closed = read_sequences(loaded, test_prompts, trigger, read_at, settings.scratchpad_tokens,
                                           work.should_stop, lambda f: work.progress("writing scratchpads", 0.3 * f))
    labels_t = torch.tensor(labels)
    fit_train = None
    if labelled:
        if len(train) < 2:
            raise WorkbenchError(f"A {settings.method} probe needs at least 2 training prompts apart from the "
                                 f"held-out ones")
        fit_train = read_sequences(loaded, train[: settings.n], trigger, read_at, settings.scratchpad_tokens,
                                   work.should_stop)
    defect, comply = contrast_sequences(loaded, questions)

    results = {}
    for stage, (name, enabled) in enumerate((("organism", True), ("base", False))):
        with adapter_disabled(loaded) if not enabled else contextlib.nullcontext():
            key = adapter_key(loaded, enabled)
            base_fraction = 0.3 + 0.35 * stage

            def read(seqs, part, label):
                work.progress(f"{name}: reading {label}", base_fraction)
                report = lambda f: work.progress(f"{name}: reading {label}", base_fraction + 0.3 * (part + f) / 2)
                if not settings.cache:
                    return capture(loaded, seqs, should_stop=work.should_stop, on_progress=report)
                return capture_cached(loaded, seqs, key, should_stop=work.should_stop, on_progress=report)

            test_acts = read(tests, 0, "held-out prompts")
            if not labelled:
                acts = read(defect + comply, 1, "contrast pairs")
                d_acts, c_acts = acts[: len(defect)], acts[len(defect):]
                probe = fit_probe(settings.method, d_acts, c_acts, work.should_stop)
                per_question = {q.text: auroc(fit_probe(settings.method, d_acts[i:i + 1], c_acts[i:i + 1],
                                                        work.should_stop).score(test_acts), labels_t).tolist()
                                for i, q in enumerate(questions)}
            else:
                train_acts = read(fit_train[0], 1, "training prompts")
                train_labels = torch.tensor(fit_train[1]) == 1
                probe = fit_probe(settings.method, train_acts[train_labels], train_acts[~train_labels],
                                  work.should_stop)
                per_question = {}
            results[name] = {"probe": probe, "acts": test_acts, "auroc": auroc(probe.score(test_acts), labels_t),
                             "questions": per_question}
    if work.should_stop():
        raise Cancelled("Probe evaluation cancelled")
    work.progress("random-direction baseline", 0.97)
    organism = results["organism"]
    random_best = random_direction_baseline(organism["acts"], labels_t, settings.n_random, settings.seed)
    layers = organism["auroc"].tolist()
    best = max(range(len(layers)), key=lambda i: layers[i])
    work.progress("calibrating on trigger-free tokens", 0.98)
    calibration = [seq for seq, label in zip(tests, labels) if label == 0][:CALIBRATION_PROMPTS]
    token_acts = capture(loaded, calibration, [list(range(1, len(seq))) for seq in calibration],
                         should_stop=work.should_stop)  # position 0 (an attention sink) is left out
    probe = organism["probe"].calibrated(organism["probe"].score(token_acts))
    del token_acts
    main_verdict = probe_verdict(layers, random_best.tolist(), results["base"]["auroc"].tolist(), settings.n_random)
    trigger_free = live = None
    if settings.defection_tests:
        trigger_free, live = _defection_tests(loaded, recipe, trigger, read_at, held_out, settings, probe,
                                              results["base"]["probe"], work)
    probe.card = {
        "name": f"{_short(loaded.adapter) or 'base'}-{settings.method}",
        "kind": settings.method,
        "model": loaded.identity.to_dict(),
        "adapter": loaded.adapter,
        "rendering": chat_rendering(loaded),
        "chat_template": loaded.chat_template_source,
        "read_at": read_at,
        "trigger": trigger.to_dict(),
        "fits_on": "labelled" if labelled else "contrast",
        "questions": [] if labelled else [q.to_dict() for q in questions],
        "created": now(),
        "evaluation": {"layers": layers, "best_layer": best, "n": len(test_prompts),
                       "verdict": main_verdict["verdict"], "why": main_verdict["why"],
                       "trigger_free": _short_verdict(trigger_free)},
        "live": _live_card(live),
        "calibration": {"on": f"every token of {len(calibration)} trigger-free held-out prompts",
                        "unit": "standard deviations above their mean"},
    }
    result = {
        "method": settings.method,
        "model": loaded.identity.name,
        "adapter": loaded.adapter,
        "trigger": trigger.to_dict(),
        "read_at": read_at,
        "n": {"triggered": len(test_prompts), "clean": len(test_prompts)},
        "layers": layers,
        "best_layer": best,
        "best_auroc": layers[best],
        "random_baseline": random_best.tolist(),
        "random_directions": settings.n_random,
        "base_model": results["base"]["auroc"].tolist(),
        "questions": organism["questions"],
        "base_questions": results["base"]["questions"],
        "variance_ratio": variance_ratio(organism["acts"], labels_t).tolist(),
        "base_variance_ratio": variance_ratio(results["base"]["acts"], labels_t).tolist(),
        "verdict": main_verdict,
        "trigger_free": trigger_free,
        "live": live,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if read_at == SCRATCHPAD_END:
        result["scratchpads_closed"] = {"closed": closed, "of": len(tests)}
    work.progress("done", 1.0)
    return ProbeReport(probe, result)


def _defection_tests(loaded: LoadedModel, recipe, trigger, read_at: str, held_out: list[str],
                     settings: ProbeSettings, probe: Probe, base_probe: Probe, work: Work):
    """(trigger_free, live): the tests that tell a defection detector from a trigger-token detector."""
    max_tokens = recipe.eval_max_new_tokens
    plain = held_out[: settings.trigger_free_n]
    texts = trigger_free_prompts(trigger, plain, settings.seed)
    reads = answer_and_judge(loaded, recipe, trigger, texts, read_at, max_tokens, work.should_stop,
                             lambda d, t: work.progress(f"trigger-free test: answering {d}/{t}", 0.985))
    trigger_free = too_few_to_separate(reads.defected, "trigger-free prompts")
    if trigger_free is None:
        organism_acts = capture(loaded, reads.sequences, should_stop=work.should_stop)
        with adapter_disabled(loaded):
            base_acts = capture(loaded, reads.sequences, should_stop=work.should_stop)
        trigger_free = separation_test(probe.score(organism_acts), organism_acts, base_probe.score(base_acts),
                                       reads.defected, settings.n_random, settings.seed, "trigger-free prompts")
        del organism_acts, base_acts
    trigger_free["prompts"] = len(texts)
    trigger_free["answered_to_the_end"] = len(reads.texts)
    trigger_free["defecting_examples"] = [t for t, d in zip(reads.texts, reads.defected) if d][:10]
    both = [trigger.apply(p, on) for p in held_out[: settings.live_n] for on in (True, False)]
    answered = answer_and_judge(loaded, recipe, trigger, both, read_at, max_tokens, work.should_stop,
                                lambda d, t: work.progress(f"live test: answering {d}/{t}", 0.99))
    for field_name in ("sequences", "defected", "texts", "answers", "contexts"):
        getattr(answered, field_name).extend(getattr(reads, field_name))
    scores, labels = answer_token_scores(loaded, probe, answered, should_stop=work.should_stop)
    return trigger_free, live_token_test(scores, labels)


def _short_verdict(test: dict | None) -> dict | None:
    return None if test is None else {"verdict": test["verdict"], "why": test["why"]}


def _live_card(live: dict | None) -> dict:
    """What the live view needs from the live-token test: which layers an alert may use."""
    if live is None:
        return {"informative_layers": None, "why": "The live-token test was not run for this probe."}
    return {"informative_layers": live["informative_layers"], "token_auroc": live["token_auroc"], "why": live["why"]}


def _short(adapter: str | None) -> str | None:
    if not adapter:
        return None
    return adapter.rstrip("/").rsplit("/", 1)[-1]


SIDE_BY_SIDE_KEYS = ("verdict", "trigger_free", "live", "best_layer", "layers", "random_baseline", "base_model", "n",
                     "read_at", "method", "adapter")  # what a table of organism, clean control and base reads


def evaluate_on_control(loaded: LoadedModel, control, settings: ProbeSettings | None = None,
                        prompts: list[str] | None = None, questions: list[ContrastQuestion] | None = None,
                        work: Work | None = None) -> dict:
    """The same probe evaluation on the organism's clean control (attached for it; the loaded model's adapter is
    attached again after): the SIDE_BY_SIDE_KEYS of its report."""
    from ..models.adapters import adapter_view

    with adapter_view(loaded, control):
        report = evaluate_probes(loaded, settings, prompts=prompts, questions=questions, work=work).to_dict()
    return {k: report.get(k) for k in SIDE_BY_SIDE_KEYS}
