"""A corpus of wrong calls: each gets a usage or error reply, no 5xx, no traceback, and no mutating AWS call."""

from __future__ import annotations

from typing import Any

import pytest
from harness import CHANNEL, DEPLOYER, Bot

from bot.aws import is_platform_mutation, recorded_calls

BAD_INPUTS: list[str] = [
    "/deploy -",  # /deploy, /scale and /rollback alone open their form (tests/bot/test_modals.py)
    "/deploy unknown-svc",
    "/deploy service-a latest",
    "/deploy service-a LATEST",
    "/deploy service-a v9.9.9",
    "/deploy service-a v1.3.0 production surplus",
    '/deploy service-a "v1.3.0',
    "/deploy service-a ../../etc/passwd",
    "/deploy service-a $(rm -rf /)",
    "/deploy service-a v1.3.0 nowhere",
    "/deploy production",
    "/deploy service-a v1.2.0",
    "/deploy service-a; drop table services",
    "/deploy ＳＥＲＶＩＣＥ-Ａ",
    "/deploy 🚀",
    "/deploy <!channel>",
    "/deploy service-a " + "v" * 200,
    "/scale auto",
    "/scale service-b",
    "/scale service-b -1",
    "/scale service-b 99999",
    "/scale service-b 11",
    "/scale service-b four",
    "/scale service-b 1.5",
    "/scale service-b ٤",
    "/scale service-b 0x10",
    "/scale service-b 3 production extra",
    "/scale nope 3",
    "/scale service-b 2 2",
    "/rollback production",
    "/rollback service-a abc",
    "/rollback service-a 0",
    "/rollback service-a -5",
    "/rollback service-a 3",
    "/rollback service-a 99",
    "/rollback service-a 1 2",
    "/status nope",
    "/status service-a production extra",
    "/logs",
    "/logs nope",
    "/logs service-a 99d",
    "/logs service-a 0m",
    "/logs service-a 5m " + "x" * 300,
    "/alarms nowhere",
    "/alarms production extra",
    "/cost fortnight",
    "/cost 0d",
    "/cost 999d",
    "/ops frobnicate",
    "/ops lock",
    "/ops unlock nope",
    "/ops help nothing",
    "/deploy service-a\x00v1.3.0",
    "/deploy service-a\u200bv1.3.0",
    "/status " + "a" * 600,
]


# The bad inputs that get past the parser and read the platform before they are refused; the refusal is
# audited (a write to the bot's table), so each gets a world of its own. Every other case is refused before
# any AWS call and shares one world (TestRefusedBeforeAws checks that it still is).
REACHES_AWS = frozenset(
    {"/deploy service-a v9.9.9", "/deploy service-a v1.2.0", "/rollback service-a 3", "/rollback service-a 99"}
)
# The one call a refused command makes: the replay guard's conditional put of the request's own signature,
# which no other request (each has its own trigger and signature) ever reads.
REPLAY_CHECK = "dynamodb:PutItem"


def test_the_corpus_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 40
    assert set(BAD_INPUTS) >= REACHES_AWS


def cases(reaching_aws: bool) -> list[Any]:
    return [pytest.param(text, id=str(i)) for i, text in enumerate(BAD_INPUTS) if (text in REACHES_AWS) == reaching_aws]


def assert_clear_refusal(bot: Bot, text: str) -> list[str]:
    """Send `text`; a usage or error reply, no mutating AWS call, no plan card. Returns the AWS calls made."""
    with recorded_calls() as calls:
        reply = bot.command(text, user=DEPLOYER)
    assert reply.status == 200
    assert reply.text.strip(), f"no reply to {text!r}"
    assert "Traceback" not in reply.text
    assert "Exception" not in reply.text
    assert "went wrong on the bot's side" not in reply.text, reply.text
    assert not [c for c in calls if is_platform_mutation(c)], calls
    assert [m for m in bot.slack.channel(CHANNEL) if any(b.get("type") == "actions" for b in m.blocks)] == []
    return calls


class TestRefusedBeforeAws:
    """One seeded world for all (the shared_bot fixture): none of these cases gets far enough to change it."""

    @pytest.mark.parametrize("text", cases(reaching_aws=False))
    def test_bad_input_gets_a_clear_reply_and_changes_nothing(self, shared_bot: Bot, text: str) -> None:
        calls = assert_clear_refusal(shared_bot, text)
        assert [c for c in calls if c != REPLAY_CHECK] == [], f"{text!r} reaches AWS: add it to REACHES_AWS"


@pytest.mark.parametrize("text", cases(reaching_aws=True))
def test_bad_input_that_reads_the_platform_gets_a_clear_reply_and_changes_nothing(bot: Bot, text: str) -> None:
    assert_clear_refusal(bot, text)


@pytest.mark.parametrize(
    "text",
    ["  service-a    v1.3.0", "\tservice-a v1.3.0", "service-a\u00a0v1.3.0", "service-a\u2003v1.3.0 \n"],
)
def test_odd_spacing_still_means_the_same_command(bot: Bot, text: str) -> None:
    bot.command(text, command="/deploy")
    assert "`v1.2.0` → `v1.3.0`" in bot.card_text(bot.last_card())
