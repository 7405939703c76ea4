"""Issue 15, item 7: `/ops audit` reads like a log for people.

The mentions the bot wrote show as mentions; what a person typed (or AWS sent) is shown escaped, so it can
never ping or link; no internal key is shown. Entries stored before this (in DynamoDB for 400 days) still
read, escaped whole.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from harness import ADMIN, DEPLOYER, DEPLOYER2, VIEWER, Bot, state_table, stores

from bot import render
from bot.stores import AuditEntry

# As Slack sends it: special mentions and links as sequences, a typed "&" as an entity.
TYPED = "<!channel> freeze, ask <@U0EVIL> or see <https://evil.example|here> Q&amp;A"
RAW = ("<!channel>", "<@U0EVIL>", "<https://evil.example")


def audit_text(bot: Bot, args: str = "") -> str:
    """What `/ops audit` shows: the mrkdwn of its answer, fallback text and blocks."""
    reply = bot.command(f"/ops audit {args}".strip(), user=VIEWER)
    assert reply.ack == {}
    [answer] = reply.responses
    parts = [str(answer.get("text", ""))]
    for block in answer.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict) and text.get("type") == "mrkdwn":
            parts.append(str(text["text"]))
    return "\n".join(parts)


def test_a_mention_the_bot_wrote_shows_as_a_mention(bot: Bot) -> None:
    assert bot.command("/ops lock service-a production db migration", user=DEPLOYER2).ack == {}
    bot.command("/deploy service-a v1.3.0", user=DEPLOYER)  # refused: DEPLOYER2 holds the lock
    bot.command("/ops unlock service-a", user=ADMIN)
    shown = audit_text(bot)
    assert f"*unlocked*: lock of <@{DEPLOYER2}>" in shown
    assert f"*rejected*: service-a (production) is locked by <@{DEPLOYER2}> since" in shown
    assert f"<@{ADMIN}> /ops unlock service-a" in shown  # the actor, as a mention
    assert "&lt;@" not in shown


def test_a_channel_mention_a_person_typed_shows_escaped(bot: Bot) -> None:
    bot.command(f"/ops lock service-a production {TYPED}", user=DEPLOYER2)
    shown = audit_text(bot, "service-a")
    assert not [raw for raw in RAW if raw in shown], shown
    assert "&lt;!channel&gt; freeze, ask &lt;@U0EVIL&gt;" in shown
    assert "Q&amp;A" in shown  # reads "Q&A", as typed
    assert "Q&amp;amp;A" not in shown  # not Slack's entity shown as text
    assert "*locked*: until" in shown  # the bot's own words: how long the lock holds


def test_the_outcome_of_a_lock_is_when_it_ends_and_the_request_keeps_the_reason(bot: Bot) -> None:
    bot.command("/ops lock service-a production db migration", user=DEPLOYER2)
    [entry] = [e for e in stores().audit.trail("production", "service-a") if e.decision == "locked"]
    assert entry.request == "/ops lock service-a production db migration"
    assert entry.outcome.startswith("until ")
    assert entry.outcome.endswith(" UTC")


def test_a_refusal_of_a_read_command_is_recorded_as_denied_with_its_reason(bot: Bot) -> None:
    bot.command("/ops lock service-a", user=VIEWER)  # needs the operator role
    [entry] = stores().audit.trail("production", "service-a")
    assert entry.decision == "denied"
    assert "needs the *operator* role" in entry.outcome
    assert "*denied*: This needs the *operator* role" in audit_text(bot)


def _old_item(**fields: Any) -> None:
    """An entry as the bot stored it before outcomes were marked as the bot's mrkdwn."""
    at = fields.pop("at", time.time())
    data = {
        "env": "production",
        "service": "service-a",
        "actor": DEPLOYER,
        "request": "/ops lock service-a",
        "decision": "locked",
        "outcome": "",
        "plan_id": "",
        "at": at,
        "id": f"old{int(at * 1000) % 100000}",
        **fields,
    }
    sk = f"{datetime.fromtimestamp(at, UTC).isoformat()}#{data['id']}"
    for scope in ("service-a", "*"):
        state_table().put(f"audit#production#{scope}", sk, data)


def test_entries_stored_before_are_still_shown_escaped_whole_and_without_internal_keys(bot: Bot) -> None:
    now = time.time()
    _old_item(outcome=TYPED, at=now - 30)
    _old_item(
        request="acknowledge alarm ecs-microservices-production-service-a-cpu-high",
        decision="acknowledged",
        outcome="123456789012#us-east-1#ecs-microservices-production-service-a-cpu-high@1796095834.959",
        actor="U0OPERATOR",
        at=now - 20,
    )
    _old_item(decision="unlocked", outcome=f"lock of <@{DEPLOYER2}>", at=now - 10)
    shown = audit_text(bot)
    assert not [raw for raw in RAW if raw in shown], shown
    assert "&lt;!channel&gt; freeze" in shown
    assert "123456789012#" not in shown
    assert "*acknowledged*: incident opened 2026-12-01 03:30 UTC" in shown
    # Before, the bot's mentions and what people typed were stored alike: an old one stays escaped.
    assert f"lock of &lt;@{DEPLOYER2}&gt;" in shown


def test_a_long_outcome_is_cut_outside_a_mention_or_an_entity() -> None:
    """Cut inside `<@U…>` or `&lt;`, an outcome would show a broken sequence; it is cut before it."""
    for outcome in ("x" * 195 + f" <@{DEPLOYER2}>", "x" * 196 + " &lt;tag&gt;"):
        entry = AuditEntry("production", "service-a", DEPLOYER, "/x", "rejected", outcome, outcome_format="mrkdwn")
        line = render.audit_message("production", None, [entry])["blocks"][1]["text"]["text"]
        assert line.rpartition("*rejected*: ")[2] == outcome[: outcome.index(" ") + 1] + "…"
