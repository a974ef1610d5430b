"""Who wrote which characters of an answer: the model, or a person (with when and what they replaced)."""

MODEL, PERSON = "model", "person"


def model_spans(text: str) -> list[dict]:
    """The provenance of an answer the model wrote alone."""
    return [{"start": 0, "end": len(text), "author": MODEL}] if text else []


def person_span(start: int, text: str, at: str, replaced: str = "") -> dict:
    return {"start": start, "end": start + len(text), "author": PERSON, "at": at, "replaced": replaced}


def apply_change(spans: list[dict], start: int, replaced: str, inserted: str, at: str) -> list[dict]:
    """The spans after a person replaced `replaced` (at `start`) with `inserted`."""
    end_old = start + len(replaced)
    shift = len(inserted) - len(replaced)
    out = []
    for span in spans:
        if span["end"] <= start:
            out.append(dict(span))
            continue
        if span["start"] < start:
            out.append({**span, "end": start})
        if span["end"] > end_old:
            out.append({**span, "start": max(span["start"], end_old) + shift, "end": span["end"] + shift})
    if inserted or replaced:
        out.append(person_span(start, inserted, at, replaced))
    return normalise(out)


def extend_model(spans: list[dict], text_length: int) -> list[dict]:
    """The spans after the model wrote more text, up to `text_length` characters."""
    end = max((s["end"] for s in spans), default=0)
    if text_length > end:
        spans = spans + [{"start": end, "end": text_length, "author": MODEL}]
    return normalise(spans)


def normalise(spans: list[dict]) -> list[dict]:
    """Sorted; empty model spans dropped; neighbouring model spans merged. Person spans stay as written
    (an empty one records a deletion)."""
    out: list[dict] = []
    for span in sorted(spans, key=lambda s: (s["start"], s["end"])):
        if span["author"] == MODEL and span["end"] <= span["start"]:
            continue
        if out and span["author"] == MODEL and out[-1]["author"] == MODEL and out[-1]["end"] == span["start"]:
            out[-1] = {**out[-1], "end": span["end"]}
        else:
            out.append(dict(span))
    return out


def person_written(spans: list[dict], text: str) -> list[str]:
    """The pieces of `text` a person wrote."""
    return [text[s["start"]:s["end"]] for s in spans if s["author"] == PERSON and s["end"] > s["start"]]
