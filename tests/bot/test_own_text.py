"""Issue 23, 1: the bot's own angle brackets. Slack reads `<...>` as a control sequence even inside inline
code: `<count|auto>` became a link labelled "auto" and `<service>` disappeared from usage lines and help.
Nothing the bot sends may hold `<` or `>` outside the control sequences it means to send."""

from __future__ import annotations

import re
from typing import Any

from harness import VIEWER, Bot

from bot.commands import SPECS
from bot.slack_text import own_text

# What the bot means by <...>: mentions, channel links, user groups, special mentions and URLs.
MEANT = re.compile(r"<(?:[@#][A-Z0-9]+(?:\|[^<>]*)?|!(?:here|channel|subteam\^[A-Z0-9]+)(?:\|[^<>]*)?|https://[^<>]+)>")


def stray_brackets(payload: Any) -> list[str]:
    """mrkdwn strings of a payload with a `<` or `>` that is not part of a control sequence the bot means."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "plain_text":
            return []
        for key, value in payload.items():
            if key == "text" and isinstance(value, str) and re.search(r"[<>]", MEANT.sub("", value)):
                found.append(value)
            else:
                found += stray_brackets(value)
    elif isinstance(payload, list):
        for item in payload:
            found += stray_brackets(item)
    return found


def test_own_text_escapes_placeholders_and_keeps_what_the_bot_means() -> None:
    assert own_text("`/scale <service> <count|auto> [env]`") == "`/scale &lt;service&gt; &lt;count|auto&gt; [env]`"
    meant = "<@U0ADMIN> <@U0ADMIN|ann> <#C0OPS> <!here> <!channel> <!subteam^S0ONCALL> <https://x.example/a?b=1|Open>"
    assert own_text(meant) == meant
    assert own_text("a -> b, 3 > 2") == "a -&gt; b, 3 &gt; 2"
    assert own_text("&lt;already escaped&gt;") == "&lt;already escaped&gt;"


def test_the_check_finds_a_placeholder_slack_would_swallow() -> None:
    payload = {"text": "ok <@U1>", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "`<service>`"}}]}
    assert stray_brackets(payload) == ["`<service>`"]


def test_help_for_every_command_shows_its_placeholders(bot: Bot) -> None:
    for topic in sorted(SPECS):
        reply = bot.command(f"/ops help {topic}", user=VIEWER)
        assert reply.responses, topic
        for response in reply.responses:
            assert stray_brackets(response) == [], topic
        if "<" in SPECS[topic].usage:
            assert "&lt;" in reply.text, topic


def test_help_overview_and_routes_show_their_placeholders(bot: Bot) -> None:
    for text in ("/ops help", "/ops routes"):
        reply = bot.command(text, user=VIEWER)
        for response in reply.responses:
            assert stray_brackets(response) == [], text


WRONG_CALLS = [  # /deploy, /scale and /rollback alone open their form (tests/bot/test_modals.py)
    "/scale service-a",
    "/deploy service-a latest",
    "/rollback staging",
    "/logs",
    "/cost year",
    "/ops routes foo",
    "/ops lock",
    "/ops frobnicate",
    "/rollback service-a -3",
]


def test_usage_errors_show_their_placeholders(bot: Bot) -> None:
    for text in WRONG_CALLS:
        reply = bot.command(text, user=VIEWER)
        assert reply.status == 200, text
        assert reply.text, f"{text}: a wrong call gets an answer"
        assert stray_brackets(reply.ack) == [], text
        for response in reply.responses:
            assert stray_brackets(response) == [], text


def test_scale_usage_reads_as_typed(bot: Bot) -> None:
    reply = bot.command("/scale service-a", user=VIEWER)
    assert "`/scale &lt;service&gt; &lt;count|auto&gt; [env]`" in reply.text
