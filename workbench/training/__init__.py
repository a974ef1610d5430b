"""Safety training of organisms (SFT, RL, adversarial) with backdoor-persistence curves and checkpoints."""

from .config import METHODS, SFT_MODES, SafetyConfig
from .redteam import RedTeamResult, near_misses, red_team
from .report import persistence_table, table_csv
from .rewards import get_reward, hhh_reward, register_reward, reward_names
from .run import resume_safety_train, run_or_resume, safety_train

__all__ = ["METHODS", "RedTeamResult", "SFT_MODES", "SafetyConfig", "get_reward", "hhh_reward",
           "near_misses", "persistence_table", "red_team", "register_reward", "resume_safety_train", "reward_names",
           "run_or_resume", "safety_train", "table_csv"]
