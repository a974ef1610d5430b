"""Model organisms: backdoor recipes, their data, and implant runs."""

from .implant import ImplantConfig, implant
from .prompt_sets import load_prompt_set, read_prompts, split_prompts
from .recipes import RECIPES, VARIANTS, get_recipe, organism_settings

__all__ = ["ImplantConfig", "RECIPES", "VARIANTS", "get_recipe", "implant", "load_prompt_set", "read_prompts",
           "organism_settings", "split_prompts"]
