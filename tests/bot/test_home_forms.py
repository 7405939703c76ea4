"""A form opened from the App Home has no channel of its own: its plan goes where the config says for the
environment *submitted* (bot.home_view.plan_channel), also when the person switches the environment inside
the form after opening it from another environment's line (review F4, the part in the form's listeners)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import DEPLOYER, Bot, config_data
from moto import mock_aws

from bot.config import Config
from bot.home_view import DEPLOY_ACTION
from bot.modals import ENV_ACTION, ENV_BLOCK
from sandbox.clock import SimulatedClock
from sandbox.seed import Seeded, SeedPlan, seed

PRODUCTION_CHANNEL, STAGING_CHANNEL = "C0PRODOPS", "C0STAGEOPS"


@pytest.fixture
def config_dict() -> dict[str, Any]:
    data = config_data(channels=[PRODUCTION_CHANNEL])
    staging = data["environments"][1]
    staging["channels"] = [STAGING_CHANNEL]
    staging["roles"] = {"deployer": [DEPLOYER]}
    return data


@pytest.fixture
def aws(config: Config, seed_plan: SeedPlan) -> Iterator[Seeded]:
    with mock_aws():
        seeded = seed(config, plan=seed_plan)
        seed(config, plan=seed_plan, env="staging")
        yield seeded


@pytest.fixture
def bot(bot: Bot) -> Bot:
    """The bot's `bot`, built on a simulated wall clock: the home's refresh spacing (bot.home) waits on it, not
    for real seconds (these tests are about where a plan goes, not when a home is refreshed)."""
    import handlers.slack
    from handlers.runtime import Clocks

    wall = SimulatedClock(wall=True)
    handlers.slack.reset(Clocks(wall=wall.now, sleep=wall.sleep))
    handlers.slack.prime()
    return bot


def _block(view: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if str(b.get("block_id", "")).startswith(prefix))


def test_a_home_form_switched_to_another_environment_plans_in_that_environments_channel(bot: Bot) -> None:
    bot.open_home(DEPLOYER)
    bot.view_action(DEPLOYER, bot.slack.home(DEPLOYER) or {}, "home:production:service-a", DEPLOY_ACTION)
    modal = bot.slack.modal(DEPLOYER)
    assert modal is not None, "no form was opened"

    bot.view_action(DEPLOYER, modal, ENV_BLOCK, ENV_ACTION, "staging")  # opened from production's line
    modal = bot.slack.modal(DEPLOYER)
    assert modal is not None
    text = str(modal["blocks"])
    assert "not allowed" not in text, text  # staging's choices, read as from staging's channel
    tags = _block(modal, "tag:staging:service-a")
    assert "v1.3.0" in [o["value"] for o in tags["element"]["options"]]

    bot.submit_view(DEPLOYER, modal, {str(tags["block_id"]): "v1.3.0"})

    assert not bot.slack.channel(PRODUCTION_CHANNEL)
    staged = " ".join(m.text for m in bot.slack.channel(STAGING_CHANNEL))
    assert "v1.3.0" in staged, staged
