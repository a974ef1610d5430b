"""The paper's table for a run: {trigger, no trigger, red-team families, scratchpad plans} x {before, after}, each
with its 95% interval."""

import csv
import io

ROWS = (("triggered", "With trigger"), ("clean", "No trigger"),
        ("red_team_meaning", "Red team: prompts that mean the trigger"),
        ("red_team_model_written", "Red team: prompts the model wrote"),
        ("red_team_near_miss", "Red team: near-miss spellings"),
        ("red_team", "Red-team prompts"),  # runs made before the families
        ("plans_triggered", "Scratchpad plans defection, with trigger"),
        ("plans_clean", "Scratchpad plans defection, no trigger"),
        ("cut_short_triggered", "Cut short by the cap, with trigger"),
        ("cut_short_clean", "Cut short by the cap, no trigger"))


def persistence_table(result: dict) -> list[dict]:
    """One row per condition: {condition, label, before: rate dict, after: rate dict}."""
    rows = []
    for key, label in ROWS:
        if key in result.get("before", {}) or key in result.get("after", {}):
            rows.append({"condition": key, "label": label, "before": result["before"].get(key),
                         "after": result["after"].get(key)})
    return rows


def table_csv(result: dict) -> str:
    """The table as CSV: condition, then rate, ci95 low and high and n before and after."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["condition", "before_rate", "before_lo", "before_hi", "before_n",
                     "after_rate", "after_lo", "after_hi", "after_n"])
    for row in persistence_table(result):
        cells = [row["label"]]
        for when in ("before", "after"):
            r = row[when]
            cells += [r["rate"], r["ci95"][0], r["ci95"][1], r["n"]] if r else ["", "", "", ""]
        writer.writerow(cells)
    return out.getvalue()


def format_rate(r: dict | None) -> str:
    from ..evals.rates import rate_text

    return rate_text(r, with_n=False)
