"""Export a session as Markdown (to read) or JSONL (to analyse)."""

import json

from .sessions import SessionStore

PANE_TITLES = {"triggered": "Trigger on", "clean": "Trigger off"}


def session_markdown(store: SessionStore, session_id: int) -> str:
    """The session as Markdown: one section per turn, each pane's prompt and answer."""
    session = store.get_session(session_id)
    model = session.get("model") or {}
    lines = [f"# {session['title']}", "", f"- session: {session_id}", f"- started: {session['created_at']}",
             f"- model: {model.get('name', '?')}", ""]
    by_turn: dict[int, list[dict]] = {}
    for message in store.messages(session_id):
        by_turn.setdefault(message["turn"], []).append(message)
    for turn, messages in sorted(by_turn.items()):
        lines += [f"## Turn {turn + 1}", ""]
        for message in messages:
            title = PANE_TITLES.get(message["pane"], message["pane"])
            if message["role"] == "user":
                lines += [f"**{title} — user:** {message['text']}", ""]
            else:
                sampling = message.get("sampling") or {}
                note = f" (first divergence at token {message['first_divergence']})" \
                    if message.get("first_divergence") is not None else ""
                lines += [f"**{title} — assistant** (seed {message.get('seed')}, "
                          f"temperature {sampling.get('temperature')}){note}:", "", message["text"], ""]
                for span in message.get("spans") or []:
                    if span["author"] == "person":
                        written = message["text"][span["start"]:span["end"]]
                        lines += [f"> written by a person: {written!r}, replacing {span.get('replaced', '')!r}", ""]
    return "\n".join(lines)


def session_jsonl(store: SessionStore, session_id: int) -> str:
    """The session's messages, every branch (`active` marks the shown one), one JSON object per line, every
    recorded field included."""
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in store.messages(session_id, all_branches=True))
