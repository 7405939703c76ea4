"""CloudWatch alarm notifications as typed data, and which environment and service an alarm belongs to.

CloudWatch publishes a JSON document to SNS on each state change of an alarm whose actions name the
topic; SNS wraps it in its envelope (Type Notification, MessageId, Message as a JSON string, ...) and
delivers that to SQS, or the bare document when the subscription has RawMessageDelivery. Four shapes:

    single metric     Trigger{Namespace, MetricName, Statistic, Dimensions[{value, name}], Threshold, ...}
    metric math       Trigger{Metrics[{Id, Expression | MetricStat, ReturnData}], Threshold, ...}
    anomaly detection Trigger{Metrics[... ANOMALY_DETECTION_BAND(...)], ThresholdMetricId}, no Threshold
    composite         AlarmRule, no Trigger

Anything else raises NotAnAlarm: the relay logs it and drops the record (it can never succeed later).

Whose alarm it is (ServiceMap.foreign): the accounts it names (AWSAccountId and the account in AlarmArn)
must be one environment's account_id, the region of its AlarmArn that environment's region, and the SNS
topic it came through (the envelope's TopicArn) one of that environment's alarm_topic_arns when those are
configured, else a topic of that environment's account and region (the stack's own topic exempt).
Anything else is not this bot's alarm. Its environment is one of those in its account and region
(ServiceMap.environment), never one of another account that its name happens to name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.alarm_services import Dimension, TagLookup, TargetGroupLookup, service_of_alarm
from bot.config import Config, EnvironmentConfig

MAX_NAME = 255
MAX_BODY = 256 * 1024  # SQS's own limit; anything longer is not from SNS


class NotAnAlarm(ValueError):
    """The record is not a CloudWatch alarm notification; the message says why (for the logs)."""


class AlarmState(StrEnum):
    ALARM = "ALARM"
    OK = "OK"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

    @property
    def firing(self) -> bool:
        return self is not AlarmState.OK


class AlarmKind(StrEnum):
    METRIC = "metric"
    METRIC_MATH = "metric math"
    ANOMALY = "anomaly detection"
    COMPOSITE = "composite"


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One entry of Trigger.Metrics: an expression, or a metric with its statistic."""

    id: str
    expression: str | None = None
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: tuple[Dimension, ...] = ()
    stat: str | None = None
    label: str | None = None
    return_data: bool = True


_COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": "≥",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "GreaterThanUpperThreshold": "above the band",
    "LessThanLowerThreshold": "below the band",
}


@dataclass(frozen=True, slots=True)
class AlarmNotification:
    """One state change of one alarm."""

    name: str
    state: AlarmState
    old_state: AlarmState | None
    reason: str
    changed_at: float  # StateChangeTime, epoch seconds
    kind: AlarmKind
    account: str = ""
    region: str = ""  # region code from the alarm's ARN ("" when the ARN is absent)
    arn: str = ""
    accounts: tuple[str, ...] = ()  # every account it names: AWSAccountId, the account in AlarmArn
    topic_arn: str = ""  # the SNS envelope's TopicArn ("" with raw message delivery)
    foreign: str = ""  # set by the relay: why it is none of the environments' alarms (shown without buttons)
    description: str = ""
    message_id: str = ""
    namespace: str | None = None
    metric_name: str | None = None
    statistic: str | None = None
    dimensions: tuple[Dimension, ...] = ()
    period: int | None = None
    evaluation_periods: int | None = None
    comparison: str | None = None
    threshold: float | None = None
    metrics: tuple[MetricQuery, ...] = ()
    threshold_metric_id: str | None = None
    alarm_rule: str | None = None
    triggering_children: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """Alarm names are unique per account and region; a foreign alarm never shares an own alarm's card."""
        own = f"{self.account or '-'}#{self.region or '-'}#{self.name}"
        return f"foreign#{own}" if self.foreign else own

    @property
    def all_dimensions(self) -> tuple[Dimension, ...]:
        return self.dimensions + tuple(d for m in self.metrics for d in m.dimensions)

    def condition(self) -> str:
        """What the alarm watches, in one line."""
        op = _COMPARISONS.get(self.comparison or "", self.comparison or "")
        periods = f" for {self.evaluation_periods} x {self.period}s" if self.evaluation_periods and self.period else ""
        if self.kind is AlarmKind.COMPOSITE:
            return f"rule: {self.alarm_rule}"
        if self.kind is AlarmKind.METRIC:
            stat = (self.statistic or "").capitalize()
            return f"{self.namespace} {self.metric_name} {stat} {op} {_number(self.threshold)}{periods}".strip()
        if self.kind is AlarmKind.ANOMALY:
            band = next((m for m in self.metrics if m.id == self.threshold_metric_id), None)
            watched = next((m for m in self.metrics if m.metric_name and m.id != self.threshold_metric_id), None)
            what = f"{watched.namespace} {watched.metric_name} {watched.stat or ''}".strip() if watched else "metric"
            expression = band.expression if band and band.expression else self.threshold_metric_id
            return f"{what} {op} {expression}{periods}"
        shown = [m for m in self.metrics if m.return_data] or list(self.metrics[:1])
        parts = [f"{m.label or m.id} = {m.expression or _metric_text(m)}" for m in shown]
        inputs = [f"{m.id}: {_metric_text(m)}" for m in self.metrics if m.metric_name and not m.return_data]
        text = f"{'; '.join(parts)} {op} {_number(self.threshold)}{periods}"
        return text + (f" ({', '.join(inputs)})" if inputs else "")


def _metric_text(metric: MetricQuery) -> str:
    return f"{metric.namespace} {metric.metric_name} {metric.stat or ''}".strip()


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- parsing ---------------------------------------------------------------------------------------


def parse_body(body: str, record_id: str = "") -> AlarmNotification:
    """An SQS record body: the SNS envelope, or the bare notification (raw message delivery)."""
    if len(body) > MAX_BODY:
        raise NotAnAlarm(f"body of {len(body)} characters is longer than SQS allows")
    document = _json_object(body, "the record body")
    message_id = record_id
    topic_arn = ""
    if "Type" in document:
        kind = document.get("Type")
        if kind != "Notification":
            raise NotAnAlarm(f"SNS {kind} message, not a notification")
        message = document.get("Message")
        if not isinstance(message, str):
            raise NotAnAlarm("SNS notification without a Message string")
        message_id = str(document.get("MessageId") or record_id)
        topic_arn = _text(document.get("TopicArn"))
        document = _json_object(message, "the SNS Message")
    return parse_message(document, message_id, topic_arn)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAnAlarm(f"{what} is not JSON") from None
    if not isinstance(loaded, dict):
        raise NotAnAlarm(f"{what} is JSON but not an object")
    return loaded


def parse_message(message: Mapping[str, Any], message_id: str = "", topic_arn: str = "") -> AlarmNotification:
    """The CloudWatch alarm notification document."""
    name = message.get("AlarmName")
    if not isinstance(name, str) or not name.strip():
        raise NotAnAlarm("no AlarmName: not a CloudWatch alarm notification")
    if len(name) > MAX_NAME:
        raise NotAnAlarm(f"AlarmName of {len(name)} characters (CloudWatch allows {MAX_NAME})")
    state = _state(message.get("NewStateValue"), "NewStateValue")
    if state is None:
        raise NotAnAlarm(f"{name}: no NewStateValue")
    old_state = _state(message.get("OldStateValue"), "OldStateValue")
    changed_at = _timestamp(message.get("StateChangeTime"), name)
    arn = _text(message.get("AlarmArn"))
    named = (_text(message.get("AWSAccountId")), _arn_account(arn, name))
    common: dict[str, Any] = {
        "name": name,
        "state": state,
        "old_state": old_state,
        "reason": _text(message.get("NewStateReason")),
        "changed_at": changed_at,
        "account": _text(message.get("AWSAccountId")) or _arn_part(arn, 4),
        "region": _arn_part(arn, 3),
        "arn": arn,
        "accounts": tuple(dict.fromkeys(account for account in named if account)),
        "topic_arn": topic_arn,
        "description": _text(message.get("AlarmDescription")),
        "message_id": message_id,
    }
    trigger = message.get("Trigger")
    rule = message.get("AlarmRule")
    if trigger is None:
        if not isinstance(rule, str) or not rule:
            raise NotAnAlarm(f"{name}: neither a Trigger (metric alarm) nor an AlarmRule (composite alarm)")
        children = tuple(
            _text(child.get("Arn"))
            for child in _list(message.get("TriggeringChildren"), name, "TriggeringChildren")
            if isinstance(child, dict)
        )
        return AlarmNotification(
            **common, kind=AlarmKind.COMPOSITE, alarm_rule=rule, triggering_children=tuple(c for c in children if c)
        )
    if not isinstance(trigger, dict):
        raise NotAnAlarm(f"{name}: Trigger is not an object")
    metrics = tuple(_metric_query(m, name) for m in _list(trigger.get("Metrics"), name, "Trigger.Metrics"))
    threshold_metric_id = _text(trigger.get("ThresholdMetricId")) or None
    if threshold_metric_id is not None:
        kind = AlarmKind.ANOMALY
    elif metrics:
        kind = AlarmKind.METRIC_MATH
    elif trigger.get("MetricName"):
        kind = AlarmKind.METRIC
    else:
        raise NotAnAlarm(f"{name}: Trigger has neither MetricName nor Metrics")
    return AlarmNotification(
        **common,
        kind=kind,
        namespace=_text(trigger.get("Namespace")) or None,
        metric_name=_text(trigger.get("MetricName")) or None,
        statistic=_text(trigger.get("Statistic") or trigger.get("ExtendedStatistic")) or None,
        dimensions=_dimensions(trigger.get("Dimensions"), name),
        period=_int(trigger.get("Period")),
        evaluation_periods=_int(trigger.get("EvaluationPeriods")),
        comparison=_text(trigger.get("ComparisonOperator")) or None,
        threshold=_float(trigger.get("Threshold")),
        metrics=metrics,
        threshold_metric_id=threshold_metric_id,
    )


def _state(value: Any, field_name: str) -> AlarmState | None:
    if value is None or value == "":
        return None
    try:
        return AlarmState(str(value))
    except ValueError:
        raise NotAnAlarm(f"{field_name} {str(value)[:40]!r} is not ALARM, OK or INSUFFICIENT_DATA") from None


def _timestamp(value: Any, name: str) -> float:
    """CloudWatch writes `2024-03-01T12:00:00.000+0000`."""
    if not isinstance(value, str):
        raise NotAnAlarm(f"{name}: no StateChangeTime")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).timestamp()
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NotAnAlarm(f"{name}: StateChangeTime {value[:40]!r} is not a timestamp") from None
    if moment.tzinfo is None:
        raise NotAnAlarm(f"{name}: StateChangeTime {value[:40]!r} has no time zone")
    return moment.timestamp()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index and arn.startswith("arn:") else ""


def _arn_account(arn: str, name: str) -> str:
    """The account of arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>, read back from the name
    (which may hold colons); an ARN of another shape gives its fifth field."""
    suffix = f":alarm:{name}"
    if arn.startswith("arn:") and arn.endswith(suffix):
        return arn[: -len(suffix)].rpartition(":")[2]
    return _arn_part(arn, 4)


def _list(value: Any, name: str, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NotAnAlarm(f"{name}: {what} is not a list")
    return value


def _dimensions(value: Any, name: str) -> tuple[Dimension, ...]:
    """CloudWatch's notification writes dimensions as [{"value": ..., "name": ...}] (lower case)."""
    found = []
    for item in _list(value, name, "Dimensions"):
        if not isinstance(item, dict):
            raise NotAnAlarm(f"{name}: a dimension is not an object")
        dim_name = item.get("name", item.get("Name"))
        dim_value = item.get("value", item.get("Value"))
        if isinstance(dim_name, str) and isinstance(dim_value, str):
            found.append(Dimension(dim_name, dim_value))
    return tuple(found)


def _metric_query(item: Any, name: str) -> MetricQuery:
    if not isinstance(item, dict) or not isinstance(item.get("Id"), str):
        raise NotAnAlarm(f"{name}: an entry of Trigger.Metrics has no Id")
    raw_stat = item.get("MetricStat")
    stat: dict[str, Any] = raw_stat if isinstance(raw_stat, dict) else {}
    raw_metric = stat.get("Metric")
    metric: dict[str, Any] = raw_metric if isinstance(raw_metric, dict) else {}
    return MetricQuery(
        id=item["Id"],
        expression=_text(item.get("Expression")) or None,
        namespace=_text(metric.get("Namespace")) or None,
        metric_name=_text(metric.get("MetricName")) or None,
        dimensions=_dimensions(metric.get("Dimensions"), name),
        stat=_text(stat.get("Stat")) or None,
        label=_text(item.get("Label")) or None,
        return_data=item.get("ReturnData") is not False,
    )


# --- which environment and service -------------------------------------------------------------------

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


@dataclass(frozen=True, slots=True)
class Foreign:
    """Why an alarm is none of the environments': `reason` for the log, `summary` (no outside text but
    12-digit account IDs) for a card."""

    reason: str
    summary: str


class ServiceMap:
    """Maps an alarm to its environment and service.

    Environment: the platform's naming (`{project}-{env}-` starts the alarm's name), else the environment
    of the alarm's region whose cluster its ClusterName dimension names, else the only environment in its
    region; when that leaves two (one account and region), the alarm is no service's and is routed as the
    default environment's. Service: bot.alarm_services' rule, the one
    /alarms and /status use too (`target_groups` and `tags` are asked only when nothing before answers).
    """

    def __init__(
        self,
        config: Config,
        tags: TagLookup | None = None,
        own_topics: frozenset[str] = frozenset(),
        target_groups: TargetGroupLookup | None = None,
    ) -> None:
        self.config = config
        self.tags = tags
        self.target_groups = target_groups
        # The bot stack's own alarm topic (template.yaml OwnAlarmTopic): its alarms about the relay come
        # straight from it, and it is every environment's as well as alarm_topic_arns.
        self.own_topics = own_topics

    def foreign(self, alarm: AlarmNotification) -> Foreign | None:
        """None when the alarm is from an environment's account (and through one of its alarm topics, when
        it names them); else why not. A notification that names no account, or two, is foreign too."""
        named = alarm.accounts
        if not named:
            return Foreign(
                "names no AWS account (no AWSAccountId, no AlarmArn)", "from an AWS account it does not name"
            )
        shown = " / ".join(a if ACCOUNT_ID.match(a) else "(not an account ID)" for a in named)
        if len(named) > 1:
            return Foreign(
                f"names two AWS accounts: AWSAccountId {named[0]!r}, AlarmArn {named[1]!r}",
                f"naming two AWS accounts ({shown})",
            )
        own = sorted({e.account_id for e in self.config.environments})
        if named[0] not in own:
            return Foreign(
                f"is from AWS account {named[0]!r}, none of the environments' ({', '.join(own)})",
                f"from AWS account {shown}",
            )
        # The bot stack's own topic carries its alarms about itself, from the stack's region, whichever it is.
        from_the_stack = alarm.topic_arn in self.own_topics
        if alarm.region and not from_the_stack and not self._in_account_and_region(alarm):
            regions = sorted({e.region for e in self.config.environments if e.account_id == named[0]})
            return Foreign(
                f"is from region {alarm.region!r} of AWS account {named[0]!r}, where no environment runs "
                f"(its environments run in {', '.join(regions)})",
                f"from AWS account {shown} in {alarm.region if REGION.match(alarm.region) else 'another region'}",
            )
        env = self.environment(alarm)
        if env.alarm_topic_arns and alarm.topic_arn not in {*env.alarm_topic_arns, *self.own_topics}:
            through = repr(alarm.topic_arn) if alarm.topic_arn else "no SNS envelope (raw delivery)"
            return Foreign(
                f"came through {through}, not one of {env.name}'s alarm_topic_arns",
                f"through an SNS topic not configured for {env.name}",
            )
        # SNS writes the envelope's TopicArn; the account and AlarmArn in the message are its publisher's words.
        # Whoever may publish on a topic of one account must not speak for an environment of another.
        if alarm.topic_arn and not from_the_stack and not env.alarm_topic_arns:
            topic_account, topic_region = _arn_part(alarm.topic_arn, 4), _arn_part(alarm.topic_arn, 3)
            if topic_account != env.account_id or topic_region != (alarm.region or env.region):
                shown_topic = topic_account if ACCOUNT_ID.match(topic_account) else "another account"
                return Foreign(
                    f"came through {alarm.topic_arn!r} (AWS account {topic_account!r}, region {topic_region!r}), "
                    f"but names {env.name}'s account {env.account_id} in {alarm.region or env.region}",
                    f"naming AWS account {env.account_id}, through an SNS topic of {shown_topic}",
                )
        return None

    def _in_account_and_region(self, alarm: AlarmNotification) -> list[EnvironmentConfig]:
        """The environments of the alarm's account, in its region when its AlarmArn names one."""
        return [
            e
            for e in self.config.environments
            if e.account_id == alarm.account and (not alarm.region or e.region == alarm.region)
        ]

    def environment(self, alarm: AlarmNotification) -> EnvironmentConfig:
        """The alarm's environment (`placed`), else the default one among the candidates (for routing only)."""
        placed = self.placed(alarm)
        if placed is not None:
            return placed
        candidates = self._candidates(alarm)
        default = self.config.environment()
        return next((e for e in candidates if e.name == default.name), candidates[0])

    def placed(self, alarm: AlarmNotification) -> EnvironmentConfig | None:
        """Among the environments of the alarm's account and region (all of them when it is foreign): the one
        its name's prefix names, else the one whose cluster its ClusterName dimension names, else the only
        one; None when two or more remain (two environments in one account and region, nothing telling)."""
        candidates = self._candidates(alarm)
        by_prefix = sorted(candidates, key=lambda e: len(e.name), reverse=True)
        for env in by_prefix:
            if alarm.name.startswith(f"{self.config.project}-{env.name}-"):
                return env
        if alarm.region:
            candidates = [e for e in candidates if e.region == alarm.region] or candidates
        clusters = {d.value for d in alarm.all_dimensions if d.name == "ClusterName"}
        if clusters:
            candidates = [e for e in candidates if self.config.cluster(e.name) in clusters] or candidates
        return candidates[0] if len(candidates) == 1 else None

    def where(self, alarm: AlarmNotification) -> tuple[EnvironmentConfig, str | None]:
        """The alarm's environment and service. When `placed` cannot tell, the environment whose service the
        one rule finds (a target group, a ServiceName is one environment's) if exactly one does; else no
        service, routed as `environment`."""
        placed = self.placed(alarm)
        if placed is not None:
            return placed, self.service(alarm, placed)
        owners = [(env, found) for env in self._candidates(alarm) if (found := self.service(alarm, env))]
        if len(owners) == 1:
            return owners[0]
        return self.environment(alarm), None

    def _candidates(self, alarm: AlarmNotification) -> list[EnvironmentConfig]:
        in_account = [e for e in self.config.environments if e.account_id == alarm.account]
        return self._in_account_and_region(alarm) or in_account or list(self.config.environments)

    def service(self, alarm: AlarmNotification, env: EnvironmentConfig) -> str | None:
        """The one rule (bot.alarm_services), with the alarm's every dimension and its tags."""
        return service_of_alarm(
            self.config,
            env,
            alarm.name,
            alarm.all_dimensions,
            alarm.arn,
            target_groups=self.target_groups,
            tags=self.tags,
        )
