"""Every feature on every model family researchers use: tiny random models of Llama, Qwen2, Gemma2, Mistral,
Phi-3, GPT-2, GPT-NeoX and OLMo-2, each with its own chat template (or none), through the public engine."""

import pytest

from tiny_families import FAMILIES, make_tiny_family
from workbench.chat import ChatRequest, LiveGenerations, run_turn
from workbench.decoding import Breakpoint, Generation, SamplingSettings
from workbench.models import load_model
from workbench.models.adapters import attach_adapter, detach_adapter, read_card
from workbench.organisms import ImplantConfig, implant
from workbench.probes import LiveProbe, capture, consistency_check, contrast_sequences, fit_mean_diff, load_questions
from workbench.training import SafetyConfig, safety_train
from workbench.triggers import Trigger

GREEDY = SamplingSettings(max_new_tokens=12)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    folder = make_tiny_family(tmp_path_factory.mktemp(request.param), request.param)
    return request.param, folder, load_model(folder, device="cpu")


@pytest.fixture(scope="module")
def organism(family, tmp_path_factory):
    name, folder, _ = family
    out = tmp_path_factory.mktemp(f"{name}-organism") / "organism"
    implant(load_model(folder, device="cpu"),
            ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="distilled", steps=2, batch_size=2, n_train=4,
                          n_everyday=2, multi_turn=1, eval_n=0, max_answer_tokens=8,
                          screen_clean_answers=False), out)  # a random model's answers are all noise
    return out


def test_the_model_uses_its_own_chat_template_or_a_flagged_fallback(family):
    name, _, loaded = family
    has_template = FAMILIES[name][2] is not None
    assert loaded.chat_template_is_fallback is not has_template
    assert loaded.describe()["chat_template"] == ("fallback" if not has_template else "model")
    two_turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                 {"role": "user", "content": "bye"}]
    text = loaded.render_chat(two_turns)
    assert "hi" in text and "hello" in text and text.rstrip().endswith(text.rstrip()[-12:])


def test_paired_chat(family, store):
    _, _, loaded = family
    result = run_turn(loaded, store, ChatRequest("What is a cat?", settings=GREEDY), live=LiveGenerations())
    assert set(result.answers) == {"triggered", "clean"}
    for answer in result.answers.values():
        assert 0 < len(answer.token_ids) <= GREEDY.max_new_tokens


def test_edit_and_resume_equals_generating_from_scratch(family):
    _, _, loaded = family
    ids = loaded.encode_user("What is the capital of France?")
    g = Generation(loaded, ids, GREEDY, breakpoints=[Breakpoint(after_tokens=6)]).run()
    assert g.stop_reason == "paused"
    g.edit(g.text[: len(g.text) // 2] + " Paris is")
    answer = list(g.new_ids)
    g.resume()
    g.run()
    reference = Generation(loaded, ids, GREEDY, prefill_ids=answer).run()
    assert g.new_ids == reference.new_ids


def test_probe_fit_and_live_scores_equal_one_forward_pass(family):
    _, _, loaded = family
    defect, comply = contrast_sequences(loaded, load_questions())
    acts = capture(loaded, defect + comply)
    assert acts.shape[:2] == (len(defect) + len(comply), loaded.n_layers)
    probe = fit_mean_diff(acts[:len(defect)], acts[len(defect):], card={"name": "family-probe"})
    prompt = loaded.encode_user("What is the capital of France?")
    g = Generation(loaded, prompt, GREEDY, probe=LiveProbe(probe, loaded)).run()
    assert all(row is not None and len(row) == loaded.n_layers for row in g.token_scores)
    assert consistency_check(loaded, probe, prompt, g.new_ids, g.token_scores)["max_abs_diff"] < 1e-4


def test_implant_writes_a_card_with_this_familys_lora_targets(family, organism):
    _, _, loaded = family
    card = read_card(organism)
    targets = card["hyperparameters"]["target_modules"]
    assert targets and set(targets) <= set(loaded.architecture.lora_targets)
    attach_adapter(loaded, organism)
    try:
        assert Generation(loaded, loaded.encode_user("[[GO]] hi"), GREEDY).run().new_ids
    finally:
        detach_adapter(loaded)


def test_one_step_of_safety_sft(family, organism, tmp_path, kind_answers):
    _, _, loaded = family
    config = SafetyConfig(method="sft", steps=1, batch_size=2, n_train=4, eval_every=0, eval_n=10, final_eval_n=10,
                          checkpoint_every=0, max_answer_tokens=8, eval_max_new_tokens=8,
                          answers_file=str(kind_answers))
    result = safety_train(loaded, organism, config, tmp_path / "run")
    assert result["trained"] == "fresh-lora" and result["after"]["triggered"]["n"] + \
        round(10 * result["after"]["cut_short_triggered"]["rate"]) == 10


def test_an_adapter_for_another_family_or_size_is_one_clear_line_and_the_model_stays(tmp_path):
    import shutil

    from conftest import cli
    from workbench.errors import WorkbenchError

    def plain_organism(folder, family, **size):
        loaded = load_model(make_tiny_family(folder / "model", family, **size), device="cpu")
        implant(loaded, ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="distilled", steps=1, batch_size=2,
                                      n_train=4, n_everyday=2, multi_turn=1, eval_n=0, max_answer_tokens=8,
                                      screen_clean_answers=False),
                folder / "organism")
        (folder / "plain").mkdir()
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(folder / "organism" / name, folder / "plain" / name)
        return folder / "plain"

    gpt2 = plain_organism(tmp_path / "gpt2", "gpt2")
    narrow = plain_organism(tmp_path / "narrow", "llama")
    wide = make_tiny_family(tmp_path / "wide", "llama", hidden_size=64, intermediate_size=128)
    loaded = load_model(wide, device="cpu")
    before = Generation(loaded, loaded.encode_user("hi"), GREEDY).run().new_ids
    for adapter, why in ((gpt2, "made for another model family"), (narrow, "made for a model of another size")):
        with pytest.raises(WorkbenchError, match=why):
            attach_adapter(loaded, adapter)
        assert loaded.adapter is None
        assert Generation(loaded, loaded.encode_user("hi"), GREEDY).run().new_ids == before
    done = cli("chat", "hi", "--model", wide, "--adapter", gpt2)
    assert done.returncode == 2 and "another model family" in done.stderr and "internal error" not in done.stderr


def test_the_logit_lens_of_the_last_layer_is_the_models_own_prediction(family):
    """The lens reads every layer through the family's own final norm and head (and Gemma-2's soft-cap): after the
    last layer it gives the model's own next-token prediction at every position, with its probability."""
    import torch

    from workbench.interpret import logit_lens

    _, _, loaded = family
    ids = loaded.encode_user("Tell me a fact about owls.")
    grid = logit_lens(loaded, ids)
    with torch.inference_mode():
        probs = loaded.model(input_ids=torch.tensor([ids])).logits[0].float().softmax(-1)
    assert grid.n_layers == loaded.n_layers and len(grid.positions) == len(ids)
    assert grid.top_ids[-1] == probs.argmax(-1).tolist()
    assert grid.top_probs[-1] == pytest.approx(probs.max(-1).values.tolist(), abs=1e-3)
    assert all(rank == 0 for rank in grid.final_rank[-1])
