"""Command names that never clash (issue 20.4): `slack.commands` names the slash commands the app registers.

A prefix (`ops-`) makes /ops-deploy, /ops-scale, ... (the /ops command stays /ops); `style: single` keeps only
/ops <command>. Usage lines, help, hints and Did-you-mean suggestions show the names the workspace has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import CHANNEL, Bot, config_data

from bot.command_names import CommandNames
from bot.commands import SLASH_COMMANDS, Parser
from bot.config import ConfigError, parse_config
from bot.config_source import AckSettings, ack_settings
from bot.errors import UsageError
from handlers.runtime import Configuration

PREFIXED = {"prefix": "ops-"}
SINGLE = {"style": "single"}


def with_commands(commands: dict[str, Any]) -> dict[str, Any]:
    data = config_data()
    data["slack"] = {**dict(data.get("slack") or {}), "commands": commands}
    return data


@pytest.fixture
def config_dict(request: pytest.FixtureRequest) -> dict[str, Any]:
    return with_commands(request.param)


def plan_card(bot: Bot) -> str:
    return bot.card_text(bot.last_card())


@pytest.mark.parametrize("config_dict", [PREFIXED], indirect=True)
def test_a_prefixed_deploy_gives_the_plan_card_and_the_bare_name_is_not_the_apps(bot: Bot) -> None:
    reply = bot.command("/ops-deploy service-a v1.3.0")
    assert reply.status == 200
    assert reply.text == "", reply.text
    card = plan_card(bot)
    assert "`v1.2.0` → `v1.3.0`" in card
    assert "Confirm" in card

    posted = len(bot.slack.channel(CHANNEL))
    unknown = bot.command("/deploy service-a v1.3.0")
    # Bolt has no listener for it: the request is not acknowledged (Slack tells the person the app did not
    # respond), nothing is answered, nothing is planned.
    assert unknown.status == 404
    assert unknown.text == ""
    assert len(bot.slack.channel(CHANNEL)) == posted


@pytest.mark.parametrize("config_dict", [PREFIXED], indirect=True)
def test_usage_lines_hints_and_suggestions_show_the_prefixed_names(bot: Bot) -> None:
    wrong = bot.command("/ops-scale service-a")
    assert "Usage: `/ops-scale &lt;service&gt; &lt;count|auto&gt; [env]`" in wrong.text
    assert "`/scale" not in wrong.text

    misspelt = bot.command("/ops-deploy servce-a v1.3.0")
    assert "Did you mean `/ops-deploy service-a v1.3.0`?" in misspelt.text

    helped = bot.command("/ops help")
    assert "`/ops-deploy &lt;service&gt; [tag] [env]`" in helped.text
    assert "`/ops lock &lt;service&gt; [env] [reason]`" in helped.text
    assert "`/deploy" not in helped.text


@pytest.mark.parametrize("config_dict", [PREFIXED], indirect=True)
def test_the_plan_card_and_the_bots_hints_show_the_prefixed_names(bot: Bot) -> None:
    assert bot.command("/ops-scale service-b 4").text == ""
    card = plan_card(bot)
    assert "/ops-scale &lt;service&gt; auto" in card or "/ops-scale <service> auto" in card, card
    assert "`/scale" not in card


@pytest.mark.parametrize("config_dict", [PREFIXED], indirect=True)
def test_a_suggestion_with_the_prefixed_name_runs(bot: Bot) -> None:
    misspelt = bot.command("/ops-deploy servce-a v1.3.0")
    button = next(block["accessory"] for block in misspelt.ack["blocks"] if (block.get("accessory") or {}).get("value"))
    assert button["value"] == "/ops-deploy service-a v1.3.0"
    pressed = bot.click(button["action_id"], button["value"], "1700000000.000100")
    assert pressed.text == "", pressed.text
    assert "`v1.2.0` → `v1.3.0`" in plan_card(bot)


@pytest.mark.parametrize("config_dict", [SINGLE], indirect=True)
def test_the_single_style_runs_every_command_under_ops(bot: Bot) -> None:
    reply = bot.command("/ops deploy service-a v1.3.0")
    assert reply.text == "", reply.text
    assert "`v1.2.0` → `v1.3.0`" in plan_card(bot)

    assert bot.command("/status").status == 404  # not a command of the app

    helped = bot.command("/ops help")
    assert "`/ops deploy &lt;service&gt; [tag] [env]`" in helped.text
    assert "`/ops scale &lt;service&gt; &lt;count|auto&gt; [env]`" in helped.text
    assert "`/deploy" not in helped.text

    wrong = bot.command("/ops scale service-a")
    assert "Usage: `/ops scale &lt;service&gt; &lt;count|auto&gt; [env]`" in wrong.text


def test_the_default_names_are_todays() -> None:
    assert CommandNames().registered == SLASH_COMMANDS
    assert Parser(parse_config(config_data())).names.registered == SLASH_COMMANDS
    assert CommandNames(prefix="ops-").registered == (
        "/ops-deploy",
        "/ops-scale",
        "/ops-rollback",
        "/ops-status",
        "/ops-logs",
        "/ops-alarms",
        "/ops-cost",
        "/ops",
    )
    assert CommandNames(single=True).registered == ("/ops",)


def test_a_prefixed_parser_knows_only_its_names() -> None:
    parser = Parser(parse_config(with_commands(PREFIXED)))
    assert parser.parse("/ops-status", "") == parser.parse("/ops", "status")
    with pytest.raises(UsageError, match="Unknown command `/deploy`"):
        parser.parse("/deploy", "service-a")


@pytest.mark.parametrize(
    ("commands", "problem"),
    [
        ({"prefix": "Ops-"}, "slack.commands.prefix: 'Ops-'"),
        ({"prefix": "ops deploy"}, "slack.commands.prefix: 'ops deploy'"),
        ({"prefix": "a" * 24}, "at most 32 characters"),
        ({"style": "one"}, "slack.commands.style"),
        ({"style": "single", "prefix": "ops-"}, "slack.commands"),
        ({"prefx": "ops-"}, "slack.commands.prefx"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(tmp_path: Path, commands: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=r"slack\.commands") as raised:
        parse_config(with_commands(commands))
    assert problem in str(raised.value)
    # The ack's plain reading leaves it to the model, which fails with the same error.
    assert ack_settings(with_commands(commands)) is None
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(with_commands(commands)))
    with pytest.raises(ConfigError, match=r"slack\.commands"):
        _ = Configuration({"OPSBOT_CONFIG_FILE": str(path)}).ack


@pytest.mark.parametrize("commands", [PREFIXED, SINGLE, {"style": "separate"}, {}])
def test_the_acks_plain_reading_is_the_models(commands: dict[str, Any]) -> None:
    data = with_commands(commands)
    assert ack_settings(data) == AckSettings.of(parse_config(data))


def test_the_bots_own_hints_in_an_answer_show_the_workspaces_names() -> None:
    """A refusal from the work (bot.plans, bot.operations) names commands as by default: the answer shows them
    as the workspace has them."""
    from bot.dispatch import _answering
    from bot.errors import BotError

    said: list[dict[str, Any]] = []
    with _answering(said.append, "test", names=CommandNames(prefix="ops-")):
        raise BotError("Revision 3 was rolled back from.", "Deploy it on purpose: `/deploy service-a v1.2.0`.")
    text = str(said[0]["text"])
    assert "`/ops-deploy service-a v1.2.0`" in text
    assert "`/deploy" not in text
