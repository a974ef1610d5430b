"""Model organisms: backdoor recipes, their data, and implant runs."""

from .implant import ImplantConfig, implant
from .organism import Organism
from .prompt_sets import load_prompt_set, read_prompts, split_prompts
from .recipes import VARIANTS, Recipe, get_recipe, organism_settings, recipe_names

__all__ = ["ImplantConfig", "Organism", "Recipe", "VARIANTS", "get_recipe", "implant", "load_prompt_set", "read_prompts",
           "organism_settings", "recipe_names", "split_prompts"]
