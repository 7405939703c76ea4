"""What became of each task-definition revision of a service, so that a rollback never goes forward.

    rev#<env>#<service>   <revision, 10 digits>   one item a revision, its facts as attributes

A revision is deployed (by whom, when, which image), reaches steady state or fails, may be rolled back
from (by the circuit breaker, by /rollback, by an alarm card's button) and is replaced by the next one.
Each fact is one UpdateItem of its own attributes, so writers never overwrite each other; the first
deploy and the first steady state are kept (`if_not_exists`), the rest say the latest.

A revision is *known good* once it reached steady state and was never rolled back from nor failed.
A rollback goes to the newest known-good revision below the current one; a revision with no record
(ran before the bot, or its record expired) is offered only when no known-good one exists, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.clock import Clock
from bot.model import revision_of, tag_of
from bot.table import Table, key

RECORD_DAYS = 180
KEPT = 25  # revisions read back, newest first


class RolledBackBy(StrEnum):
    CIRCUIT_BREAKER = "the circuit breaker"
    COMMAND = "/rollback"
    ALARM = "an alarm card's Roll back"
    DEPLOY_CARD = "a deploy card's Roll back"


@dataclass(frozen=True, slots=True)
class Revision:
    task_definition: str
    image: str = ""
    deployed_by: str = ""
    deployed_at: float | None = None
    ran_at: float | None = None
    replaced_at: float | None = None
    failed_at: float | None = None
    failed_reason: str = ""
    rolled_back_at: float | None = None
    rolled_back_by: str = ""  # a user id; empty for the circuit breaker
    rolled_back_how: str = ""

    @property
    def number(self) -> int:
        return revision_of(self.task_definition)

    @property
    def tag(self) -> str:
        return tag_of(self.image)

    @property
    def bad(self) -> bool:
        return self.failed_at is not None or self.rolled_back_at is not None

    @property
    def known_good(self) -> bool:
        return self.ran_at is not None and not self.bad

    def outcome(self) -> str:
        """What became of it, in a few words of the bot's own mrkdwn."""
        if self.rolled_back_at is not None:
            who = f" by <@{self.rolled_back_by}>" if self.rolled_back_by else ""
            how = f" ({self.rolled_back_how})" if self.rolled_back_how else ""
            return f"rolled back from{who}{how}"
        if self.failed_at is not None:
            return "failed to roll out"
        if self.ran_at is not None:
            return "reached steady state"
        if self.deployed_at is not None:
            return "deployed, no outcome yet"
        return "no record"


class RevisionHistory:
    def __init__(self, table: Table, clock: Clock | None = None) -> None:
        """`clock` dates the facts given no time of their own (the table's clock unless given)."""
        self.table = table
        self.clock = table.clock if clock is None else clock

    # --- facts --------------------------------------------------------------------------------------

    def deployed(
        self, env: str, service: str, task_definition: str, image: str, by: str, at: float | None = None
    ) -> None:
        self._note(env, service, task_definition, {"image": image}, first={"deployed_by": by, "deployed_at": at})

    def ran(self, env: str, service: str, task_definition: str, at: float | None = None) -> None:
        self._note(env, service, task_definition, {}, first={"ran_at": at})

    def replaced(self, env: str, service: str, task_definition: str, at: float | None = None) -> None:
        self._note(env, service, task_definition, {"replaced_at": at})

    def failed(self, env: str, service: str, task_definition: str, reason: str, at: float | None = None) -> None:
        self._note(env, service, task_definition, {"failed_at": at, "failed_reason": reason[:500]})

    def rolled_back_from(
        self, env: str, service: str, task_definition: str, how: RolledBackBy, by: str = "", at: float | None = None
    ) -> None:
        fields: dict[str, Any] = {"rolled_back_at": at, "rolled_back_how": how.value}
        if by:
            fields["rolled_back_by"] = by
        self._note(env, service, task_definition, fields)

    def past(
        self,
        env: str,
        service: str,
        task_definition: str,
        image: str,
        ran_at: float,
        replaced_at: float | None = None,
        rolled_back: tuple[float, RolledBackBy] | None = None,
    ) -> None:
        """A revision's whole past, as `deployed` (at `ran_at` - 120 s, by nobody the bot knows), `ran`,
        `replaced` and `rolled_back_from` would have recorded it, in one PutItem that replaces any record of
        it: a history made elsewhere (the sandbox's seed, which every in-process test runs: four UpdateItems
        cost moto about 40 ms)."""
        attributes: dict[str, Any] = {
            "image": image,
            "deployed_by": "",
            "deployed_at": ran_at - 120,
            "ran_at": ran_at,
        }
        if replaced_at is not None:
            attributes["replaced_at"] = replaced_at
        if rolled_back is not None:
            attributes |= {"rolled_back_at": rolled_back[0], "rolled_back_how": rolled_back[1].value}
        item = {
            **key(_pk(env, service), f"{revision_of(task_definition):010d}"),
            "task_definition": {"S": task_definition},
            "expires_at": {"N": str(int(self.clock() + RECORD_DAYS * 86400))},
            **{name: _attribute(value) for name, value in attributes.items()},
        }
        self.table.put_item(item, what="Save revision history")

    def _note(
        self,
        env: str,
        service: str,
        task_definition: str,
        latest: dict[str, Any],
        first: dict[str, Any] | None = None,
    ) -> None:
        """One UpdateItem: `latest` attributes set, `first` ones only if absent; None means now."""
        now = self.clock()
        names: dict[str, str] = {"#td": "task_definition", "#exp": "expires_at"}
        values: dict[str, Any] = {
            ":td": {"S": task_definition},
            ":exp": {"N": str(int(now + RECORD_DAYS * 86400))},
        }
        sets = ["#td = :td", "#exp = :exp"]
        for index, (name, value) in enumerate({**latest, **(first or {})}.items()):
            names[f"#a{index}"] = name
            values[f":v{index}"] = _attribute(now if value is None else value)
            if first and name in first:
                sets.append(f"#a{index} = if_not_exists(#a{index}, :v{index})")
            else:
                sets.append(f"#a{index} = :v{index}")
        sk = f"{revision_of(task_definition):010d}"
        self.table.update_item(_pk(env, service), sk, "SET " + ", ".join(sets), names, values, "Save revision history")

    # --- reading -------------------------------------------------------------------------------------

    def revisions(self, env: str, service: str) -> list[Revision]:
        """The recorded revisions of a service, newest first."""
        items = self.table.query_items(
            _pk(env, service), newest_first=True, limit=KEPT, consistent=True, what="Read revision history"
        )
        return [_revision(item) for item in items]


def last_known_good(revisions: Sequence[Revision], current: str) -> Revision | None:
    """The newest revision below `current` that reached steady state and was never rolled back from or
    failed: the only kind of revision a rollback goes to on its own."""
    below = revision_of(current)
    return next((r for r in revisions if r.number < below and r.known_good), None)


def known(revisions: Sequence[Revision], task_definition: str) -> Revision | None:
    """The record of this revision, matched on its number (the record's key: one service, one family), so a
    short `family:3` and a full ARN find the same record, and a known-bad revision never looks unrecorded."""
    number = revision_of(task_definition)
    return next((r for r in revisions if r.number == number), None)


def _pk(env: str, service: str) -> str:
    return f"rev#{env}#{service}"


def _attribute(value: Any) -> dict[str, str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {"S": str(value)}
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _revision(item: dict[str, Any]) -> Revision:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    def text(name: str) -> str:
        return str(item[name]["S"]) if name in item else ""

    return Revision(
        task_definition=text("task_definition"),
        image=text("image"),
        deployed_by=text("deployed_by"),
        deployed_at=number("deployed_at"),
        ran_at=number("ran_at"),
        replaced_at=number("replaced_at"),
        failed_at=number("failed_at"),
        failed_reason=text("failed_reason"),
        rolled_back_at=number("rolled_back_at"),
        rolled_back_by=text("rolled_back_by"),
        rolled_back_how=text("rolled_back_how"),
    )
