"""bot/history.py: what a revision's record says, read the way the planner reads it."""

from __future__ import annotations

from bot.history import Revision, known, last_known_good

FULL = "arn:aws:ecs:us-east-1:123456789012:task-definition/ecs-microservices-production-service-a:{}"


def test_a_revision_is_found_by_its_number_whether_named_by_arn_or_by_family_and_revision() -> None:
    """ECS answers with full ARNs, but a task definition can be named `family:N` too: a known-bad revision
    named that way must not look unrecorded (the planner would offer an unrecorded one as a fallback)."""
    bad = Revision(FULL.format(4), failed_at=1.0)
    assert known([bad], "ecs-microservices-production-service-a:4") is bad
    assert known([bad], FULL.format(4)) is bad
    assert known([bad], FULL.format(3)) is None


def test_the_last_known_good_is_below_the_current_revision_and_never_bad() -> None:
    records = [
        Revision(FULL.format(5), ran_at=5.0, failed_at=6.0),
        Revision(FULL.format(4), ran_at=4.0, rolled_back_at=4.5),
        Revision(FULL.format(3), ran_at=3.0),
        Revision(FULL.format(2), ran_at=2.0),
    ]
    assert last_known_good(records, FULL.format(3)) is records[3]
    assert last_known_good(records, FULL.format(6)) is records[2]
    assert last_known_good(records, FULL.format(2)) is None


def test_a_revisions_past_in_one_write_reads_as_the_four_facts_recorded_one_by_one(aws: object) -> None:
    """RevisionHistory.past (the sandbox's seed) stores what deployed, ran, replaced and rolled_back_from do."""
    from harness import state_table

    from bot.history import RevisionHistory, RolledBackBy

    history = RevisionHistory(state_table())
    td = "arn:aws:ecs:us-east-1:123456789012:task-definition/fam:{}"
    image, at = "repo:v1", 1_700_000_000.0
    history.deployed("production", "one", td.format(1), image, by="", at=at)
    history.ran("production", "one", td.format(1), at + 120)
    history.replaced("production", "one", td.format(1), at=at + 86400)
    history.rolled_back_from("production", "one", td.format(1), RolledBackBy.COMMAND, at=at + 86400)
    history.past("production", "two", td.format(1), image, at + 120, at + 86400, (at + 86400, RolledBackBy.COMMAND))
    assert history.revisions("production", "one") == history.revisions("production", "two")
    assert history.revisions("production", "two")[0].bad
