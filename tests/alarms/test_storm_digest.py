"""Storm control for the alarms with cards of their own: while a channel storms, their changes are shown in the
storm digest (one write for many alarms), and their own cards follow at a lower priority."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .support import PREFIX, T0, AlarmsLambda, alarm_config, failed_ids, metric_alarm

NAMES = [PREFIX + f"service-a-storm-{i}" for i in range(6)]


def _storm(alarms: AlarmsLambda) -> None:
    """3 alarms with cards of their own, then a digest for the other 3 (digest_threshold 3)."""
    assert (
        failed_ids(alarms.deliver(*(metric_alarm(name=n, at=T0 + timedelta(seconds=i)) for i, n in enumerate(NAMES))))
        == []
    )
    assert len(alarms.cards()) == 4


def _writes(alarms: AlarmsLambda) -> list[tuple[str, str]]:
    """(method, ts written: the updated message's, or the thread's for a reply) of each successful write, in order."""
    calls = [c for c in alarms.slack.calls() if c.method in ("chat.postMessage", "chat.update") and c.status == 200]
    return [(c.method, str(c.params.get("ts") or c.params.get("thread_ts") or "")) for c in calls]


@pytest.mark.parametrize("config_dict", [alarm_config(digest_threshold=3)])
def test_an_own_card_alarm_s_change_in_a_storm_is_shown_in_the_digest_first(alarms: AlarmsLambda) -> None:
    _storm(alarms)
    own, digest = alarms.cards()[0], alarms.cards()[3]
    before = len(_writes(alarms))
    resolved = [metric_alarm(name=n, state="OK", old="ALARM", at=T0 + timedelta(minutes=2)) for n in NAMES[:2]]
    assert failed_ids(alarms.deliver(*resolved)) == []
    writes = _writes(alarms)[before:]
    # One write shows both changes: the digest's, before any own card is touched.
    assert writes[0] == ("chat.update", digest.ts)
    text = alarms.text(alarms.cards()[3])
    assert "Changed during the storm" in text
    for name in NAMES[:2]:
        line = next(line for line in text.splitlines() if f"`{name}`" in line)
        assert "resolved" in line
    assert "Alarm storm: 3 of 3 alarms firing" in text  # the digest's own alarms are counted as before
    # Nobody else waits for the channel: the own cards are brought to their state in the same invocation.
    assert "RESOLVED" in alarms.text(alarms.cards()[0])
    assert "RESOLVED" in alarms.text(alarms.cards()[1])
    assert "ALARM" in alarms.text(alarms.cards()[2])
    assert any("resolved" in reply.lower() for reply in alarms.thread(own))
    assert ("chat.update", own.ts) in writes[1:]


@pytest.mark.parametrize("config_dict", [alarm_config(digest_threshold=3)])
def test_an_own_card_keeps_its_latest_state_and_one_reply_per_change_it_shows(alarms: AlarmsLambda) -> None:
    _storm(alarms)
    own = alarms.cards()[0]
    alarms.deliver(metric_alarm(name=NAMES[0], state="OK", old="ALARM", at=T0 + timedelta(minutes=2)))
    alarms.deliver(metric_alarm(name=NAMES[0], state="ALARM", old="OK", at=T0 + timedelta(minutes=3)))
    card = alarms.text(alarms.cards()[0])
    assert "ALARM" in card
    assert "fired 2 times" in card
    line = next(line for line in alarms.text(alarms.cards()[3]).splitlines() if f"`{NAMES[0]}`" in line)
    assert "alarm" in line.lower()
    thread = alarms.thread(own)
    assert len(thread) == 2  # resolved, then firing again


def _prefixed(**commands: Any) -> dict[str, Any]:
    data = alarm_config(digest_threshold=3)
    data["slack"] = {**data.get("slack", {}), "commands": commands}
    return data


@pytest.mark.parametrize(
    ("config_dict", "typed"),
    [(_prefixed(prefix="ops-"), "/ops-alarms"), (_prefixed(style="single"), "/ops alarms")],
)
def test_the_digest_names_the_alarms_command_as_the_workspace_has_it(alarms: AlarmsLambda, typed: str) -> None:
    _storm(alarms)
    text = alarms.text(alarms.cards()[3])
    assert f"`{typed}` lists them" in text
    assert "`/alarms`" not in text
