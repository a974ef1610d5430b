"""Turn an edited answer text into token ids without re-tokenising the part the person left alone."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenEdit:
    """The answer's tokens after an edit: the first `kept` old ids unchanged, then `ids[kept:]` new."""

    ids: list[int]
    kept: int
    replaced: str  # the old text the person replaced
    inserted: str  # the text the person wrote in its place
    start: int  # character offset where the change begins (same in old and new text)


def common_prefix(a, b) -> int:
    """Length of the longest common prefix of two sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def text_change(old: str, new: str) -> tuple[int, str, str]:
    """(start, replaced, inserted): the one contiguous change that turns `old` into `new`."""
    start = common_prefix(old, new)
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    return start, old[start:end_old], new[start:end_new]


def retokenize_edit(tokenizer, old_ids: list[int], old_starts: list[int], old_text: str, new_text: str) -> TokenEdit:
    """Token ids for `new_text`, keeping every old token that lies wholly before the first changed character.

    `old_starts[i]` is the character offset in `old_text` where token i's text starts (as the detokenizer
    reports it). The rest of the text, from the first token touching the change, is tokenised afresh.
    """
    start, replaced, inserted = text_change(old_text, new_text)
    if old_text == new_text:
        return TokenEdit(list(old_ids), len(old_ids), "", "", len(old_text))
    n = min(len(old_ids), len(old_starts))
    kept = 0
    while kept < n:
        end = old_starts[kept + 1] if kept + 1 < n else len(old_text)
        if end > start:
            break
        kept += 1
    # A token that produced no text of its own holds part of a multi-byte character: it goes with the change.
    while kept > 0 and (old_starts[kept] if kept < n else len(old_text)) == old_starts[kept - 1]:
        kept -= 1
    # Special tokens (end of turn) decode to no text and are never kept inside an edited answer.
    while kept > 0 and old_ids[kept - 1] in tokenizer.all_special_ids:
        kept -= 1
    cut = old_starts[kept] if kept < n else len(old_text)
    suffix = new_text[cut:]
    # a person's words: a chat marker typed in the edit stays literal text
    new_ids = tokenizer(suffix, add_special_tokens=False, split_special_tokens=True)["input_ids"] if suffix else []
    return TokenEdit(list(old_ids[:kept]) + list(new_ids), kept, replaced, inserted, start)
