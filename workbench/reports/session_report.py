"""A session as one self-contained HTML page (every turn's prompt and both panes' answers, person-written text
and the first divergence marked, live probe heatmaps as images, the command that reproduces each turn), as
Markdown to read, or as JSONL to analyse."""

import json
from html import escape

from ..chat.streaming import read_probe_record
from ..store import SessionStore
from .charts import heatmap, robust_limit
from .page import page, svg_img, table
from .reproduce import chat_command

PANES = (("triggered", "Trigger on"), ("clean", "Trigger off"))


def token_labels(message: dict) -> list[str]:
    """The text of each answer token, from the saved character offsets."""
    text, offsets = message.get("text") or "", message.get("token_offsets") or []
    if not isinstance(offsets, list) or not all(isinstance(o, int) for o in offsets):
        return []
    ends = offsets[1:] + [len(text)]
    return [text[a:b] for a, b in zip(offsets, ends)]


def _answer_html(message: dict, divergence: int | None) -> str:
    """The answer text, escaped, with person-written spans underlined and the first divergent token marked."""
    text = message.get("text") or ""
    marks: dict[int, list[str]] = {}
    for span in message.get("spans") or []:
        if isinstance(span, dict) and span.get("author") == "person":
            start, end = int(span.get("start", 0)), int(span.get("end", 0))
            marks.setdefault(start, []).append("<span class='person' title='written by a person'>")
            marks.setdefault(end, []).insert(0, "</span>")
    offsets = message.get("token_offsets") or []
    if divergence is not None and isinstance(offsets, list) and 0 <= divergence < len(offsets):
        marks.setdefault(int(offsets[divergence]), []).append("<span class='diverge' title='first divergent token'>"
                                                               "</span>")
    out, last = [], 0
    for at in sorted(k for k in marks if 0 <= k <= len(text)):
        out += [escape(text[last:at]), *marks[at]]
        last = at
    out.append(escape(text[last:]))
    return f"<div class='answer'>{''.join(out)}</div>"


def probe_matrix(message: dict) -> list[list[float | None]] | None:
    """The answer's saved live probe scores as matrix[layer][token], or None without (valid) scores."""
    record = read_probe_record(message.get("probe"))
    if record is None:
        return None
    layers, scores = record
    columns = [row if row is not None else [None] * layers for row in scores]
    return [[col[layer] for col in columns] for layer in range(layers)]


def _probe_html(message: dict, matrix: list[list[float | None]] | None, pane_title: str, limit: float) -> str:
    if matrix is None:
        return ""
    name = (message.get("probe") or {}).get("name") or "probe"
    return svg_img(heatmap(matrix, token_labels(message), f"{pane_title}: {name} score per layer and token",
                           limit=limit), f"probe heatmap, {pane_title}")


def session_html(store: SessionStore, session_id: int) -> str:
    """The session as a self-contained HTML report (the active branch of each answer, others listed)."""
    session = store.get_session(session_id)
    model = session.get("model") or {}
    summary = table(["session", "title", "started", "model", "fingerprint", "organism"],
                    [[session_id, session["title"], session["created_at"], model.get("name", "?"),
                      model.get("fingerprint", ""), session.get("adapter") or "none"]])
    by_turn: dict[int, list[dict]] = {}
    for message in store.messages(session_id, all_branches=True):
        by_turn.setdefault(message["turn"], []).append(message)
    body = [summary]
    for turn, messages in sorted(by_turn.items()):
        users = {m["pane"]: m for m in messages if m["role"] == "user"}
        answers = {m["pane"]: m for m in messages if m["role"] == "assistant" and m.get("active")}
        others = [m for m in messages if m["role"] == "assistant" and not m.get("active")]
        user = next(iter(users.values()), {})
        body.append(f"<h2>Turn {turn + 1}</h2><p><b>User:</b> {escape(user.get('typed_text') or user.get('text', ''))}"
                    "</p><div class='panes'>")
        paired = len(answers) > 1
        matrices = {pane: probe_matrix(answer) for pane, answer in answers.items()}
        limit = robust_limit(*[m for m in matrices.values() if m is not None])  # one scale for both panes
        for pane, title in PANES:
            answer = answers.get(pane)
            if answer is None:
                continue
            sampling = answer.get("sampling") or {}
            raw = ("<p class='muted'><b>Raw special tokens were on:</b> chat markers typed in the prompt acted as "
                   "real ones.</p>") if sampling.get("raw_special_tokens") else ""
            body.append(f"<div class='pane {pane}'><h4>{title}</h4>"
                        f"<p class='muted'>Prompt as the model saw it: {escape(users.get(pane, {}).get('text', ''))}</p>"
                        + raw
                        + _answer_html(answer, answer.get("first_divergence"))
                        + table(["tokens", "stop", "seed", "temperature", "top-p", "first divergence"],
                                [[len(answer.get("token_ids") or []), answer.get("stop_reason"), answer.get("seed"),
                                  sampling.get("temperature"), sampling.get("top_p"), answer.get("first_divergence")]])
                        + _probe_html(answer, matrices[pane], title, limit) + "</div>")
        body.append("</div>")
        if others:
            body.append("<p><b>Other branches</b> (edits kept in the database):</p>"
                        + table(["message", "pane", "edited from", "text"],
                                [[m["id"], m["pane"], m.get("parent_id") or "original", (m.get("text") or "")[:200]]
                                 for m in others]))
        first = next((answers[p] for p, _ in PANES if p in answers), None)
        if first is not None:
            note = " (then continue with --session for later turns)" if turn else ""
            body.append(f"<p><b>Reproduce</b>{note}:</p><pre class='cmd'>"
                        f"{escape(chat_command(user, first, paired, session.get('adapter')))}</pre>")
    return page(f"Session {session_id}: {session['title']}", "".join(body))


PANE_TITLES = dict(PANES)


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
                raw = ", raw special tokens on" if sampling.get("raw_special_tokens") else ""
                lines += [f"**{title} — assistant** (seed {message.get('seed')}, "
                          f"temperature {sampling.get('temperature')}{raw}){note}:", "", message["text"], ""]
                for span in message.get("spans") or []:
                    if span["author"] == "person":
                        written = message["text"][span["start"]:span["end"]]
                        lines += [f"> written by a person: {written!r}, replacing {span.get('replaced', '')!r}", ""]
        users = [m for m in messages if m["role"] == "user"]
        answers = [m for m in messages if m["role"] == "assistant"]
        if users and answers:
            lines += ["Reproduce:", "", "```", chat_command(users[0], answers[0], len(answers) > 1,
                                                           session.get("adapter")), "```", ""]
    return "\n".join(lines)


def session_jsonl(store: SessionStore, session_id: int) -> str:
    """The session's messages, every branch (`active` marks the shown one), one JSON object per line, every
    recorded field included."""
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in store.messages(session_id, all_branches=True))
