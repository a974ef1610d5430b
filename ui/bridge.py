"""Carries work to the model-owner thread and its events back to the GUI thread as a Qt signal."""

from PySide6.QtCore import QObject, Signal

from workbench.chat import ChatRequest, LiveGenerations, resume_answers, run_turn
from workbench.errors import WorkbenchError
from workbench.events import JobFailed, JobFinished, ModelLoaded
from workbench.organisms.card import describe_model
from workbench.runtime import ModelOwner
from workbench.store import SessionStore

from .app_settings import freeze_long_lived
from .job_handle import JobHandle


class EngineBridge(QObject):
    """The GUI's handle on the engine. Every job method returns at once with the job's JobHandle, whose signals
    reach only the panel or controller that holds it; `model_changed` and `job_ended` are for everyone."""

    event = Signal(object)  # emitted on the owner thread, delivered queued on the GUI thread
    model_changed = Signal(dict)  # a job loaded a model, attached an adapter, or put the weights back
    job_ended = Signal(str, object)  # job name, result (None when it failed or was cancelled)

    def __init__(self, store: SessionStore, device: str | None = None, parent=None):
        super().__init__(parent)
        self.store = store
        self.device = device
        self.owner = ModelOwner(listener=self.event.emit, yield_cpu=True)
        self._handles: dict[int, JobHandle] = {}
        self.event.connect(self._route)  # first: each job's own handle hears its events
        self.live = LiveGenerations()  # paused answers' KV caches; touched only on the owner thread
        self._generation: JobHandle | None = None  # the latest chat/resume job (see `generating`)

    def load_model(self, spec: str, trust_remote_code: bool = False, quantize: str | None = None) -> JobHandle:
        """Load `spec` in the background; the previous model stays until the new one is ready."""
        device = self.device

        def job(ctx):
            from workbench.models import load_model  # transformers loads here, off the GUI thread

            loaded = load_model(spec, device=device, progress=ctx.progress,
                                trust_remote_code=trust_remote_code, quantize=quantize)
            ctx.owner.state.pop("model", None)
            self.live.clear()  # the old model's memory is collected on the GUI thread (see MainWindow)
            ctx.owner.state["model"] = loaded
            info = _model_info(loaded)
            ctx.emit(ModelLoaded(info=info, replaced=True))
            return info

        return self._submit("load-model", job)

    def set_adapter(self, adapter: str | None) -> JobHandle:
        """Attach a shipped organism or adapter folder (None: back to the base model)."""

        def job(ctx):
            from workbench.models.adapters import attach_adapter, detach_adapter

            loaded = _require_model(ctx)
            self.live.clear()
            if adapter:
                attach_adapter(loaded, adapter)
            else:
                detach_adapter(loaded)
            info = _model_info(loaded)
            ctx.emit(ModelLoaded(info=info))
            return info

        return self._submit("set-adapter", job)

    def implant(self, config, out_dir: str) -> JobHandle:
        """Implant an organism into the base model, then attach it so it can be tried at once."""

        def job(ctx):
            from workbench.models.adapters import attach_adapter, detach_adapter
            from workbench.organisms import implant

            loaded = _require_model(ctx)
            self.live.clear()
            previous = loaded.adapter
            detach_adapter(loaded)
            try:
                card = implant(loaded, config, out_dir, work=ctx,
                               command=["(workbench GUI)", repr(config.to_dict())])
            except BaseException:
                if previous:
                    attach_adapter(loaded, previous)
                ctx.emit(ModelLoaded(info=_model_info(loaded)))
                raise
            attach_adapter(loaded, out_dir)
            ctx.emit(ModelLoaded(info=_model_info(loaded)))
            return card

        return self._submit("implant", job, long=True)

    def evaluate(self, n: int, base_control: bool = True, clean_control: str | None = None) -> JobHandle:
        """Defection with and without the organism's trigger, judged on whole answers: `n` prompts of each set
        (held-out, everyday) and up to 64 multi-turn conversations (OrganismEval.to_dict()); with
        `base_control`, the base model answers the same sets beside it, and so does `clean_control` (the
        organism's clean control, implant --control) when given."""

        def job(ctx):
            from workbench.evals.organism import evaluate_organism
            from workbench.organisms import Organism

            loaded = _require_model(ctx)
            organism = Organism.open(loaded.adapter)
            control = Organism.open(clean_control).as_control_of(organism).adapter if clean_control else None
            return evaluate_organism(
                loaded, organism.recipe, organism.trigger, organism.variant, n_held_out=n, n_everyday=n,
                n_conversations=min(n, 64), base_control=base_control, clean_control=control,
                work=ctx).to_dict(with_samples=True)

        return self._submit("evaluate", job, long=True)

    def replicate(self, grid: str, quick: bool, out: str) -> JobHandle:
        """Run (or go on with) one of the paper's grids into `out` (replicate.run_grid); cancellable."""

        def job(ctx):
            from workbench.replicate import run_grid

            return run_grid(_require_model(ctx), grid, out, quick=quick, work=ctx)

        return self._submit("replicate", job, long=True)

    def fit_probe(self, settings) -> JobHandle:
        """Fit and evaluate a probe (probes.ProbeSettings) on the loaded model, with both controls."""

        def job(ctx):
            from workbench.probes import evaluate_probes, remember_fit

            loaded = _require_model(ctx)
            report = evaluate_probes(loaded, settings, work=ctx)
            try:  # reopening the workbench on this model and organism brings it back
                report.result["remembered_in"] = str(remember_fit(loaded, report.probe, report.result))
            except Exception as exc:  # noqa: BLE001 - the fit itself succeeded; only keeping it failed
                report.result["remembered_in"] = None
                report.result["not_remembered"] = f"could not keep it for next time: {exc}"
            return report

        return self._submit("probe-fit", job, long=True)

    def load_probe(self, folder: str) -> JobHandle:
        """Read a saved probe and say why its scores may not mean much on the loaded model: (probe, warnings)."""

        def job(ctx):
            from workbench.probes import Probe

            probe = Probe.load(folder)
            loaded = ctx.owner.state.get("model")
            return probe, (probe.warnings_for(loaded) if loaded is not None else [])

        return self._submit("probe-load", job)

    def check_probe(self, probe, answers: dict) -> JobHandle:
        """Recompute answers' probe scores in one uncached forward pass each and compare with the live ones.

        `answers` is {message_id: live rows}; the result is the worst case over them, with each one's figures.
        """
        store = self.store

        def job(ctx):
            from workbench.probes import check_saved_answers

            return check_saved_answers(_require_model(ctx), store, probe, answers)

        return self._submit("probe-check", job)

    def answer_lens(self, message_ids: list[int]) -> JobHandle:
        """The logit lens of saved answers on the loaded model: {message_id: interpret.LensGrid}."""
        store = self.store

        def job(ctx):
            from workbench.interpret import answer_lens

            loaded = _require_model(ctx)
            return {m: answer_lens(loaded, store.prompt_of(m)["token_ids"] or [],
                                   store.get_message(m).get("token_ids") or []) for m in message_ids}

        return self._submit("logit-lens", job)

    def ask(self, request: ChatRequest, session_id: int | None) -> JobHandle:
        """Answer one chat turn on the loaded model, streaming its tokens."""
        store = self.store

        def job(ctx):
            loaded = _require_model(ctx)
            return run_turn(loaded, store, request, session_id=session_id, work=ctx, live=self.live)

        self._generation = self._submit("chat", job, interleave=True)
        return self._generation

    def ask_both_ways(self, text: str, settings) -> JobHandle:
        """Answer `text` in a new session with the attached organism's trigger on and off, side by side (the
        demo's live step: it needs no trigger settings of its own)."""
        store = self.store

        def job(ctx):
            loaded = _require_model(ctx)
            _, trigger, _, _ = _attached_organism(loaded, 0)
            request = ChatRequest(text, trigger=trigger, paired=True, settings=settings)
            return run_turn(loaded, store, request, work=ctx, live=self.live)

        self._generation = self._submit("chat", job, interleave=True)
        return self._generation

    def resume(self, edits: dict, breakpoints: tuple = (), probe=None) -> JobHandle:
        """Continue answers {message_id: edited text or None}; an edited one becomes a new branch."""
        store = self.store

        def job(ctx):
            loaded = _require_model(ctx)
            return resume_answers(loaded, store, edits, breakpoints=breakpoints, work=ctx, live=self.live,
                                  probe=probe)

        self._generation = self._submit("resume", job, interleave=True)
        return self._generation

    def safety_train(self, config, out_dir: str, resume: bool = False) -> JobHandle:
        """Safety-train the attached organism into `out_dir` (or resume the run there), recorded in the session
        database. Chat turns asked meanwhile run between its steps, on the model as trained so far."""
        store = self.store

        def job(ctx):
            from workbench.training import resume_safety_train, safety_train

            loaded = _require_model(ctx)
            common = dict(work=ctx, store=store)
            self.live.clear()
            try:
                if resume:
                    return resume_safety_train(loaded, out_dir, **common)
                if not loaded.adapter:
                    raise WorkbenchError("Attach an organism first: safety training starts from its adapter")
                return safety_train(loaded, loaded.adapter, config, out_dir,
                                    command=["(workbench GUI)", repr(config.to_dict())], **common)
            finally:
                self.live.clear()  # answers paused mid-run were written by weights that are gone now
                ctx.emit(ModelLoaded(info=_model_info(loaded)))

        return self._submit("safety-train", job, long=True, yields=True)

    def scratchpad_experiment(self, n: int) -> JobHandle:
        """The 2x2 scratchpad experiment on the attached organism, filling cells as it goes."""

        def job(ctx):
            from workbench.evals import run_scratchpad_experiment

            loaded = _require_model(ctx)
            recipe, trigger, _, prompts = _attached_organism(loaded, n)
            return run_scratchpad_experiment(loaded, trigger, prompts, recipe, work=ctx)

        return self._submit("scratchpad-experiment", job, long=True)

    def patch(self, prompt: str, trigger, layers: str, tokens: str, sweep: bool = False,
              max_new_tokens: int = 24, direction: str = "restore") -> JobHandle:
        """Activation patching of `prompt` between its trigger-on and trigger-off runs (workbench.interpret):
        `direction` "restore" patches the trigger-on run into the trigger-off run, "remove" back. The cells
        `layers` x `tokens` (as typed: 3,5 / 2-6 / all; tokens also `trigger`) are patched and the answers
        regenerated; with `sweep`, every (layer, token) cell alone, both ways. The result: {"layers", "pair",
        "tokens", and "patch", or "sweep" (restore) and "sweep_back" (remove)}."""

        def job(ctx):
            from workbench.interpret.patching import REMOVE, make_pair, parse_indices
            from workbench.interpret.patching import patch as patch_cells
            from workbench.interpret.patching import sweep as sweep_cells

            loaded = _require_model(ctx)
            pair = make_pair(loaded, trigger, prompt, direction=direction)
            out = {"layers": loaded.n_layers, "pair": pair.to_dict(loaded), "tokens": pair.tokens(loaded)}
            if sweep:
                back = pair.reversed(loaded)
                (restore, remove) = (back, pair) if pair.direction == REMOVE else (pair, back)
                out["sweep"] = sweep_cells(loaded, restore, ctx.part(0.0, 0.5, suffix=", trigger on into off")).to_dict()
                out["sweep"]["pair"] = restore.to_dict(loaded)
                out["sweep_back"] = sweep_cells(loaded, remove, ctx.part(0.5, 0.5, suffix=", back")).to_dict()
                out["sweep_back"]["pair"] = remove.to_dict(loaded)
            else:
                ctx.progress("Patching and regenerating the answers", None)
                chosen = parse_indices(layers, loaded.n_layers, "layers")
                positions = parse_indices(tokens, len(pair.source_ids), "tokens", {"trigger": pair.trigger_positions})
                out["patch"] = patch_cells(loaded, pair, chosen, positions, max_new_tokens).to_dict()
            return out

        return self._submit("patch", job, long=sweep)

    def steer(self, probe, layers: str, scale: float, n: int) -> JobHandle:
        """Defection of the attached organism on its first `n` held-out prompts, trigger on and off, without and
        with `probe`'s direction added at `layers` (as typed: 20,22 / 18-24 / all) scaled by `scale` score units
        (workbench.interpret.steering); the result is SteeringResult.to_dict() with the prompt set named."""

        def job(ctx):
            from workbench.interpret.patching import parse_indices
            from workbench.interpret.steering import measure_steering

            loaded = _require_model(ctx)
            chosen = parse_indices(layers, loaded.n_layers, "layers")
            recipe, trigger, _, prompts = _attached_organism(loaded, n)
            return measure_steering(loaded, probe, chosen, scale, trigger, prompts, recipe,
                                    f"the {recipe.name} recipe's held-out prompts", work=ctx).to_dict()

        return self._submit("steer", job, long=True)

    def scan(self, settings) -> JobHandle:
        """A trigger scan of the attached organism (workbench.scan) on held-out prompts, saved in the session
        database; the result is the report's dict with its "run_id"."""

        def job(ctx):
            from workbench.organisms.prompt_sets import load_prompt_set, split_prompts
            from workbench.scan import scan
            from workbench.scan.record import record_scan

            loaded = _require_model(ctx)
            prompts = split_prompts(load_prompt_set())[1][: settings.n_prompts]
            report = scan(loaded, prompts, settings, "user_prompts (held-out part)", work=ctx)
            return {**report.to_dict(), "run_id": record_scan(self.store, report, loaded.identity.name)}

        return self._submit("scan", job, long=True)

    def _submit(self, name: str, fn, interleave: bool = False, long: bool = False, yields: bool = False
                ) -> JobHandle:
        handle = JobHandle(self.owner.submit(name, fn, interleave=interleave, long=long, yields=yields), self)
        self._handles[handle.id] = handle  # before any of its events is delivered: they are queued to this thread
        return handle

    def _route(self, event) -> None:
        handle = self._handles.get(getattr(event, "job_id", None))
        if isinstance(event, ModelLoaded):
            # the new objects join the ones the collector never scans; only a new model needs the previous one's
            # (frozen) objects scanned once more, a 300 ms pause
            freeze_long_lived(release_previous=event.replaced)
            self.model_changed.emit(event.info)
        if handle is not None:
            if isinstance(event, (JobFinished, JobFailed)):
                del self._handles[handle.id]
            handle.deliver(event)
        if isinstance(event, (JobFinished, JobFailed)):
            self.job_ended.emit(event.name, event.result if isinstance(event, JobFinished) else None)

    def jobs_ahead(self) -> list:
        """The running job and the queued ones (workbench.runtime.Job: name, long, yields): what a job submitted
        now waits for."""
        return self.owner.jobs()

    def long_job(self, between_steps: bool = False) -> str | None:
        """The name of a running or queued long job (implant, evaluation, experiment, probe fit); with
        `between_steps`, only one that does not run interleaved work between its steps (for a chat turn, which
        may wait for the next step of a safety-training run)."""
        return next((job.name for job in self.owner.jobs()
                     if job.long and not (between_steps and job.yields)), None)

    @property
    def generating(self) -> bool:
        """A chat answer is being written or waits in the queue."""
        return self._generation is not None and not self._generation.done

    @property
    def busy(self) -> bool:
        return self.owner.busy

    def shutdown(self) -> None:
        self.owner.shutdown()


def _require_model(ctx):
    loaded = ctx.owner.state.get("model")
    if loaded is None:
        raise WorkbenchError("No model is loaded yet; wait for it or open one from the File menu")
    return loaded


def _model_info(loaded) -> dict:
    """What the status bar shows (organisms.card.describe_model), and the remembered probe fit for this model
    and organism, if any (probes.remembered_fit)."""
    from workbench.probes import remembered_fit

    try:
        folder = remembered_fit(loaded)
    except Exception:  # noqa: BLE001 - a damaged probes folder must never stop a model from loading
        folder = None
    return {**describe_model(loaded), "remembered_probe": str(folder) if folder else None}


def _attached_organism(loaded, n: int):
    """(recipe, trigger, variant, the first `n` held-out prompts) of the attached organism (base: defaults)."""
    from workbench.organisms import Organism, split_prompts

    organism = Organism.open(loaded.adapter)
    return organism.recipe, organism.trigger, organism.variant, split_prompts(organism.recipe.prompts())[1][:n]
