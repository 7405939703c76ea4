"""Did you mean: an unknown service, environment or command is answered with the closest known one and a
button that runs the corrected command as if the presser had typed it (parsed again, same path)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from harness import CHANNEL, DEPLOYER, VIEWER, Bot, config_data, ecs_service, signed_headers
from slack_payloads import problems

from bot.aws import is_platform_mutation, recorded_calls
from bot.commands import MAX_PARSES, Parser
from bot.config import Config
from bot.errors import UsageError

RUN = "run_suggestion"
TS = "1700000000.000100"  # the ephemeral answer the button is on


def suggestion_button(ack: dict[str, Any]) -> dict[str, Any] | None:
    """The ack's Run button, if it has one (checked against Slack's limits on the way)."""
    assert problems("response_url", ack) == []
    found = [
        element
        for block in ack.get("blocks", [])
        for element in [block.get("accessory"), *block.get("elements", [])]
        if isinstance(element, dict) and element.get("action_id") == RUN
    ]
    assert len(found) <= 1
    return found[0] if found else None


def mrkdwn_of(ack: dict[str, Any]) -> str:
    return "\n".join(str((block.get("text") or {}).get("text", "")) for block in ack.get("blocks", []))


def test_a_misspelt_service_offers_the_command_and_pressing_it_gives_the_plan_card(bot: Bot) -> None:
    reply = bot.command("/deploy servce-a v1.3.0")
    assert "Unknown service `servce-a`" in reply.text
    assert "Did you mean `/deploy service-a v1.3.0`?" in reply.text
    button = suggestion_button(reply.ack)
    assert button is not None
    assert button["text"]["text"] == "Run /deploy service-a v1.3.0"
    assert button["value"] == "/deploy service-a v1.3.0"
    assert bot.slack.channel(CHANNEL) == []  # nothing planned yet

    with recorded_calls() as calls:
        pressed = bot.click(RUN, button["value"], TS)
    assert pressed.text == "", pressed.text  # the plan card is the answer, as for the typed command
    assert not [call for call in calls if is_platform_mutation(call)]
    card = bot.card_text(bot.last_card())
    assert "`v1.2.0` → `v1.3.0`" in card
    assert "ecs-microservices-production-service-a:3" in card
    assert "Confirm" in card

    confirm = bot.button(bot.last_card(), "plan_confirm")["value"]
    bot.click("plan_confirm", confirm, bot.last_card().ts)
    assert ecs_service("service-a")["taskDefinition"].endswith(":4")


def test_the_same_press_delivered_twice_plans_once(bot: Bot) -> None:
    button = suggestion_button(bot.command("/scale servce-b 3").ack)
    assert button is not None
    assert button["value"] == "/scale service-b 3"
    body = bot.click_body(RUN, button["value"], TS, DEPLOYER)
    # Slack's retry is signed anew, at another second: fixed here, as a second boundary crossed between the two
    # sends (a loaded machine) would give both the same timestamp, so the same signature: a verbatim replay.
    now = int(time.time())
    assert bot.send(body, signed_headers(body, timestamp=now))[0] == 200
    assert bot.send(body, signed_headers(body, timestamp=now - 1))[0] == 200  # Slack's retry
    bot.drain()
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1


def test_the_suggestion_runs_once_however_often_it_is_pressed(bot: Bot) -> None:
    # The suggestion stays on the screen after a press: a second press (or a double click) is the same
    # request again, not a second deploy or a second rollback.
    button = suggestion_button(bot.command("/scale servce-b 3").ack)
    assert button is not None
    bot.click(RUN, button["value"], TS)
    again = bot.click(RUN, button["value"], TS)
    assert len([m for m in bot.slack.channel(CHANNEL) if m.thread_ts is None]) == 1, again.text


def test_a_misspelt_environment_is_suggested_and_pressing_it_reads_as_typed(bot: Bot) -> None:
    reply = bot.command("/status productoin")
    assert "Did you mean `/status production`?" in reply.text
    button = suggestion_button(reply.ack)
    assert button is not None
    pressed = bot.click(RUN, button["value"], TS)
    typed = bot.command("/status production")
    assert "Status: production" in pressed.text or "Status: production" in str(pressed.responses)
    assert [r.get("blocks") for r in pressed.responses] == [r.get("blocks") for r in typed.responses]

    reply = bot.command("/deploy service-a v1.3.0 stagng")
    assert "Unknown environment `stagng`" in reply.text
    assert "Did you mean `/deploy service-a v1.3.0 staging`?" in reply.text


def test_a_misspelt_command_is_suggested(bot: Bot) -> None:
    reply = bot.command("/ops deplyo service-a v1.3.0")
    assert "Unknown command `deplyo`" in reply.text
    assert "Did you mean `/ops deploy service-a v1.3.0`?" in reply.text
    button = suggestion_button(reply.ack)
    assert button is not None
    assert bot.click(RUN, button["value"], TS).text == ""
    assert "`v1.2.0` → `v1.3.0`" in bot.card_text(bot.last_card())


@pytest.mark.parametrize(
    ("command", "text", "suggested"),
    [
        # Corrected only in the service, each parses: as a tag `prodution` in the default environment, as a lock
        # of the default environment for the reason "productoin freeze". Neither is what the person meant.
        ("/deploy", "servce-a prodution", "/deploy service-a production"),
        ("/ops", "lock servce-a productoin freeze", "/ops lock service-a production freeze"),
    ],
)
def test_a_misspelt_environment_is_never_read_as_a_tag_or_a_reason(
    config: Config, command: str, text: str, suggested: str
) -> None:
    with pytest.raises(UsageError) as raised:
        Parser(config).parse(command, text)
    assert raised.value.suggestion == suggested


def test_two_misspelt_words_are_both_corrected(config: Config) -> None:
    with pytest.raises(UsageError) as raised:
        Parser(config).parse("/ops", "deplyo servce-a v1.3.0")
    assert raised.value.suggestion == "/ops deploy service-a v1.3.0"
    with pytest.raises(UsageError) as raised:
        Parser(config).parse("/deplyo", "service-a v1.3.0")  # a slash command the app does not register
    assert raised.value.suggestion == "/deploy service-a v1.3.0"


@pytest.mark.parametrize(
    "typed",
    [
        "/deploy zzzzzz v1.3.0",  # nothing close
        "/deploy service-c v1.3.0",  # as close to service-a as to service-b: no clear best
        "/deploy servce-a not/a/tag",  # the corrected command would fail too
        "/ops xyzzy",
    ],
)
def test_nothing_clear_keeps_the_old_message_without_a_button(bot: Bot, typed: str) -> None:
    reply = bot.command(typed)
    assert reply.text.startswith(":warning:")
    assert "Did you mean" not in reply.text
    assert suggestion_button(reply.ack) is None


def test_a_viewer_pressing_a_deploy_suggestion_is_refused_like_the_typed_command(bot: Bot) -> None:
    forged = "/deploy service-a v1.3.0 production"
    with recorded_calls() as calls:
        pressed = bot.click(RUN, forged, TS, user=VIEWER)
        typed = bot.command(forged, user=VIEWER)
    assert pressed.text == typed.text
    assert "not allowed" in pressed.text.lower() or "role" in pressed.text.lower()
    assert bot.slack.channel(CHANNEL) == []
    assert not [call for call in calls if is_platform_mutation(call)]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("garbage", "not a command"),
        ("deploy service-a v1.3.0", "not a command"),  # no slash: not what Slack sends
        ("/nope service-a", "not a command"),
        ("/deploy servce-a v1.3.0", "Unknown service"),  # parsed again, not trusted
        ("/deploy service-a " + "v" * 3000, "too long"),
        ("/deploy service-a\u200b v1.3.0", "invisible or control characters"),
        ("/scale service-a 99", "between 1 and 10"),
    ],
)
def test_a_forged_value_is_parsed_as_typed_text(bot: Bot, value: str, said: str) -> None:
    with recorded_calls() as calls:
        pressed = bot.click(RUN, value, TS)
    assert said in pressed.text
    assert "Traceback" not in pressed.text
    assert bot.slack.channel(CHANNEL) == []
    assert not [call for call in calls if is_platform_mutation(call)]


@pytest.mark.parametrize("config_dict", [config_data(channels=["C0OPS"])])
def test_a_press_in_a_channel_the_environment_does_not_allow_is_refused_like_typing_there(bot: Bot) -> None:
    pressed = bot.click(RUN, "/deploy service-a v1.3.0", TS, channel="C0ELSEWHERE")
    typed = bot.command("/deploy service-a v1.3.0", channel="C0ELSEWHERE")
    assert pressed.text == typed.text
    assert "channel" in pressed.text
    assert bot.slack.channel("C0ELSEWHERE") == []


def test_outside_text_is_escaped_in_the_suggestion(bot: Bot) -> None:
    reply = bot.command("/deploy <!channel> v1.3.0")
    assert "<!channel>" not in mrkdwn_of(reply.ack)
    assert "&lt;!channel&gt;" in reply.text

    reply = bot.command("/logs servce-a <!channel> <@U0ADMIN>")
    shown = mrkdwn_of(reply.ack)
    assert "Did you mean `/logs service-a &lt;!channel&gt; &lt;@U0ADMIN&gt;`?" in shown
    assert "<!channel>" not in shown
    assert "<@U0ADMIN>" not in shown
    button = suggestion_button(reply.ack)
    assert button is not None
    assert button["value"] == "/logs service-a &lt;!channel&gt; &lt;@U0ADMIN&gt;"  # as Slack sends typed text


def test_a_long_command_fits_slacks_limits(bot: Bot) -> None:
    reply = bot.command("/logs servce-a " + "x" * 190)
    button = suggestion_button(reply.ack)
    assert button is not None
    assert len(button["text"]["text"]) <= 75
    assert button["text"]["text"].endswith("…")
    assert button["value"] == "/logs service-a " + "x" * 190


def test_looking_for_a_suggestion_parses_the_command_a_bounded_number_of_times(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suggestion is made in the ack, within Slack's 3 s: a long text repeating the misspelt word (each
    # a place to try the correction) must not parse the command once per repetition.
    parser = Parser(config)
    real = Parser._parse
    parses: list[str] = []

    def counted(self: Parser, command: str, text: str) -> object:
        parses.append(text)
        return real(self, command, text)

    monkeypatch.setattr(Parser, "_parse", counted)
    with pytest.raises(UsageError):
        parser.parse("/status", " ".join(["servce-a"] * 50))  # no corrected form parses: each one is tried
    assert len(parses) <= 1 + MAX_PARSES
