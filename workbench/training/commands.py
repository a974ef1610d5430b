"""A run written back as the command line that makes it: for launch scripts (a cluster job, another machine)."""

from pathlib import Path

from ..errors import WorkbenchError
from .config import SafetyConfig


def model_argument(spec: dict, fallback: str | None = None) -> str:
    """The --model a run's folder says it trained on ('builtin', or the model's folder or file)."""
    model = spec.get("model") or {}
    if model.get("source") == "builtin":
        return "builtin"
    if model.get("path"):
        return str(model["path"])
    if fallback:
        return fallback
    raise WorkbenchError("This run's folder does not say which model it trained (it was made before runs recorded "
                         "it); load that model and export again")


def safety_train_arguments(config: SafetyConfig, organism: str) -> list[str]:
    """`safety-train` arguments that make a run with `config` on `organism` (settings the command line cannot
    set keep their defaults)."""
    args = ["safety-train", "--adapter", organism, "--method", config.method, "--sft-mode", config.sft_mode,
            "--train", config.train, "--lora-r", str(config.lora_r), "--steps", str(config.steps),
            "--batch-size", str(config.batch_size), "--lr", repr(config.learning_rate),
            "--n-train", str(config.n_train), "--eval-every", str(config.eval_every), "--eval-n", str(config.eval_n),
            "--final-eval-n", str(config.final_eval_n), "--eval-max-new-tokens", str(config.eval_max_new_tokens or 0),
            "--checkpoint-every", str(config.checkpoint_every), "--reward", config.reward,
            "--group-size", str(config.group_size), "--rl-prompts", str(config.rl_prompts),
            "--redteam-candidates", str(config.redteam_candidates),
            "--redteam-families", ",".join(config.redteam_families), "--seed", str(config.seed)]
    if config.gradient_checkpointing:
        args.append("--gradient-checkpointing")
    if config.memory_limit_bytes:
        args += ["--memory-limit", str(config.memory_limit_bytes)]
    if config.report_to:
        args += ["--report-to", ",".join(config.report_to)]
    if config.answers_file:
        args += ["--answers", config.answers_file]
    if config.organism:  # an adapter without a card, as its user described it
        trigger = config.organism.get("trigger") or {}
        args += ["--recipe", config.organism["recipe"], "--variant", config.organism.get("variant") or "normal",
                 "--trigger-text", trigger.get("on_text", "")]
    return args


def run_command(folder: str | Path, model_fallback: str | None = None, new_out: str | Path | None = None
                ) -> list[str]:
    """The command that finishes the run in `folder`: `safety-train --resume` while it is unfinished; once it
    has finished, a new run with the same settings into `new_out` (default: FOLDER-again)."""
    from .follow import read_run_folder

    state, _ = read_run_folder(folder)
    spec = state.spec
    model = model_argument(spec, model_fallback)
    if not state.finished:
        return ["safety-train", "--resume", "--out", str(Path(folder).resolve()), "--model", model]
    if not isinstance(spec.get("config"), dict) or not spec.get("organism"):
        raise WorkbenchError(f"{folder} has no run settings to repeat")
    out = Path(new_out) if new_out else Path(folder).resolve().with_name(Path(folder).name + "-again")
    return safety_train_arguments(SafetyConfig.from_dict(spec["config"]), spec["organism"]) + \
        ["--out", str(out), "--model", model]
