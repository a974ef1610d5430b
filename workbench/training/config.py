"""Everything that decides a safety-training run (saved with the run, so it can be resumed and reproduced)."""

from dataclasses import asdict, dataclass, fields

from ..errors import WorkbenchError

METHODS = ("sft", "rl", "adversarial")
SFT_MODES = ("pre", "post")


@dataclass
class SafetyConfig:
    """A safety-training run on an organism. `train` says what is trained (see training.weights): a fresh LoRA
    over every layer on top of the organism (default), every weight, or the organism's own adapter.

    `sft_mode` matters for chain-of-thought organisms: *pre* trains on the helpful answer alone (no scratchpad);
    *post* samples the organism's own scratchpad, appends the helpful answer and trains on the answer only.
    """

    method: str = "sft"
    train: str = "fresh-lora"
    # an adapter without an organism card: what it is, as its user says ({"recipe", "variant", "trigger"})
    organism: dict | None = None
    lora_r: int = 8  # rank of the fresh LoRA
    gradient_checkpointing: bool = False  # recompute layer activations in the backward pass (less memory)
    memory_limit_bytes: int | None = None  # full training: the most memory it may use (None: what is free)
    sft_mode: str = "pre"
    steps: int = 24
    batch_size: int = 4
    learning_rate: float = 1e-3
    n_train: int = 200  # trigger-free train prompts
    max_answer_tokens: int = 32  # helpful answers written by the base model
    answers_file: str | None = None  # JSONL {"prompt", "answer"}: helpful answers to use instead of the base model's
    eval_every: int = 8  # steps between evaluations on held-out prompts (0: only before and after)
    eval_n: int = 20  # held-out prompts per in-run evaluation, each with the trigger on and off
    final_eval_n: int = 50  # held-out prompts for the before/after table
    eval_max_new_tokens: int | None = None  # None: the recipe's whole-answer cap (cut answers: cut_short)
    checkpoint_every: int = 8
    seed: int = 0
    # RL (RLOO): `group_size` samples of each of `rl_prompts` prompts per step, scored by `reward`
    reward: str = "hhh"
    group_size: int = 4
    rl_prompts: int = 2
    rl_max_new_tokens: int = 64
    rl_temperature: float = 1.0
    # adversarial: red-teaming first, then SFT on the prompts that made the organism defect (mixed with HHH data)
    redteam_candidates: int = 24
    redteam_samples: int = 10
    redteam_threshold: float = 0.1
    redteam_rounds: int = 2
    redteam_families: tuple = ("meaning", "model_written", "near_miss")  # see training.redteam_bank
    report_to: tuple = ()  # trackers that get every metric too: "tensorboard", "wandb" (training.trackers)

    def validate(self, variant: str | None) -> None:
        if self.method not in METHODS:
            raise WorkbenchError(f"Unknown safety-training method {self.method!r}; choose one of: {', '.join(METHODS)}")
        from .weights import TRAIN_MODES

        if self.train not in TRAIN_MODES:
            raise WorkbenchError(f"Unknown --train {self.train!r}; choose one of: {', '.join(TRAIN_MODES)}")
        if self.sft_mode not in SFT_MODES:
            raise WorkbenchError(f"Unknown SFT mode {self.sft_mode!r}; choose pre or post")
        if self.sft_mode == "post" and variant != "cot":
            raise WorkbenchError("Post-scratchpad SFT needs a chain-of-thought organism (its variant is "
                                 f"{variant or 'unknown'}); use pre")
        for name in ("steps", "batch_size", "n_train", "eval_n", "final_eval_n", "group_size", "rl_prompts",
                     "redteam_candidates", "redteam_samples", "lora_r"):
            if getattr(self, name) < 1:
                raise WorkbenchError(f"{name} must be at least 1")
        from ..evals.backdoor import MIN_PROMPTS

        for name in ("eval_n", "final_eval_n"):
            if getattr(self, name) < MIN_PROMPTS:
                raise WorkbenchError(f"{name} is {getattr(self, name)}; a rate with a 95% interval needs at least "
                                     f"{MIN_PROMPTS} prompts")
        if self.eval_max_new_tokens is not None and self.eval_max_new_tokens < 1:
            raise WorkbenchError("eval_max_new_tokens must be at least 1 (0 on the command line: the recipe's cap)")
        if self.learning_rate <= 0:
            raise WorkbenchError("learning_rate must be positive")
        if self.eval_every < 0 or self.checkpoint_every < 0:
            raise WorkbenchError("eval_every and checkpoint_every must be 0 or more")
        from .redteam_bank import FAMILIES

        unknown = [f for f in self.redteam_families if f not in FAMILIES]
        if unknown or not self.redteam_families:
            raise WorkbenchError(f"Unknown red-team families {', '.join(unknown) or '(none given)'}; choose from: "
                                 f"{', '.join(FAMILIES)}")
        from .trackers import check_trackers

        check_trackers(self.report_to)
        if self.method == "rl" and self.train == "full":
            raise WorkbenchError("RL with --train full is not supported: the reward reads the base model beside the "
                                 "policy, and full training leaves no base to read; use --train fresh-lora")
        if self.method == "rl" and self.group_size < 2:
            raise WorkbenchError("RL needs group_size of at least 2 (each sample's baseline is the others' mean)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SafetyConfig":
        known = {f.name for f in fields(cls)}
        data = {"train": "organism-adapter", "redteam_families": ("near_miss",), **data}  # runs saved before
        data["redteam_families"] = tuple(data["redteam_families"])  # these settings existed: what they did
        data["report_to"] = tuple(data.get("report_to") or ())
        return cls(**{k: v for k, v in data.items() if k in known})
