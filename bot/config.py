"""The bot's configuration: one pydantic model, from an optional YAML file and environment variables.

Environment variables (all optional when the YAML file says it):
    OPSBOT_CONFIG_FILE    path of a YAML file shaped like config/example.yaml
    OPSBOT_PROJECT        project name (overrides the file)
    OPSBOT_ENVIRONMENT    the default environment; created from the variables below if the file lacks it
    OPSBOT_CLUSTER        ECS cluster of that environment (overrides the naming convention)
    OPSBOT_ACCOUNT_ID     the AWS account the bot runs in (the template: AWS::AccountId): the account_id of
                          every environment without role_arn, which the bot operates with its own credentials
    OPSBOT_EXTERNAL_ID    the sts:ExternalId of every environment with role_arn that names none (external_id)
    OPSBOT_SERVICES       comma-separated short service names (keeps the file's settings for those it has)
    OPSBOT_STATE_TABLE    the bot's DynamoDB table
    AWS_REGION            region of an environment created from the variables
    AWS_ENDPOINT_URL      one endpoint for every AWS client (moto locally)
    SLACK_API_URL         base URL of the Slack Web API (a stand-in locally)
    SLACK_SIGNING_SECRET_NAME, SLACK_BOT_TOKEN_SECRET_NAME  the Secrets Manager secrets of the two (slack.*)
    OPSBOT_COST_CHANNEL   channel ID of the weekly cost post (cost.weekly_channel)
    OPSBOT_ALARM_CHANNEL  channel ID of the alarm cards (alarms.channel)

Channels are chosen by routing (routing.rules, then alarms.channel / cost.weekly_channel, then
routing.default_channel): bot/routing.py, docs/routing.md.

The variables are declared once (bot.config_source.VARIABLES, read here by EnvironmentVariables). An invalid
configuration raises ConfigError at start-up with one line per problem, each naming the field (or the
environment variable). The file and the variables are merged by bot.config_source, which the Slack
function's ack reads without this model (docs/architecture.md, "Cold path").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.command_names import CommandNames, command_names_problem
from bot.config_source import (
    DEFAULT_MAX_TASKS,
    DEFAULT_MIN_TASKS,
    DEFAULT_SLACK_API_URL,
    DEFAULT_STATE_TABLE,
    VARIABLES,
    comma_separated,
    overlay,
    read_config_file,
)
from bot.config_source import ConfigError as ConfigError  # defined without pydantic, for the ack path

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
SLACK_ID_PATTERN = re.compile(r"^(\*|[UWS][A-Z0-9]{2,})$")
CHANNEL_ID_PATTERN = re.compile(r"^[CGD][A-Z0-9]{2,}$")
PLACEHOLDERS = frozenset({"project", "env", "name"})
ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
ROLE_ACCOUNT_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
# sts:AssumeRole's ExternalId: 2 to 1224 of these characters.
EXTERNAL_ID_PATTERN = r"^[\w+=,.@:/-]{2,1224}$"
TOPIC_ARN_PATTERN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"


def channel_id(channel: str) -> str:
    """The one check of a Slack channel ID, for every setting that names a channel."""
    if not CHANNEL_ID_PATTERN.match(channel):
        raise ValueError(f"{channel!r} is not a Slack channel ID (C..., G... or D...)")
    return channel


def _channel_ids(channels: list[str]) -> list[str]:
    return [channel_id(channel) for channel in channels]


ChannelId = Annotated[str, AfterValidator(channel_id)]
# A list is checked as a whole, so a problem names the setting (environments.0.channels), not an index in it.
ChannelIds = Annotated[list[str], AfterValidator(_channel_ids)]


class Role(IntEnum):
    """What a person may do in an environment; each role includes the ones below it."""

    VIEWER = 1
    OPERATOR = 2
    DEPLOYER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Naming(_Strict):
    """Templates of the physical names infra/ gives each resource."""

    cluster: str = "{project}-{env}-cluster"
    ecs_service: str = "{project}-{env}-{name}"
    task_family: str = "{project}-{env}-{name}"
    container: str = "{name}"
    ecr_repository: str = "{project}-{env}-{name}"
    log_group: str = "/ecs/{project}-{env}-{name}"
    alarm_prefix: str = "{project}-{env}-{name}-"

    @field_validator("*")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        used = set(re.findall(r"{(\w*)}", template))
        unknown = used - PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{project}}, {{env}} or {{name}}")
        return template


class Roles(_Strict):
    """Slack user IDs (U..., W...) and user-group IDs (S...) per role; "*" means everyone."""

    admin: list[str] = Field(default_factory=list)
    deployer: list[str] = Field(default_factory=list)
    operator: list[str] = Field(default_factory=list)
    viewer: list[str] = Field(default_factory=list)

    @field_validator("*")
    @classmethod
    def _slack_ids(cls, members: list[str]) -> list[str]:
        for member in members:
            if not SLACK_ID_PATTERN.match(member):
                raise ValueError(f"{member!r} is not a Slack user ID (U..., W...), user-group ID (S...) or '*'")
        return members

    def grants(self) -> list[tuple[Role, list[str]]]:
        return [
            (Role.ADMIN, self.admin),
            (Role.DEPLOYER, self.deployer),
            (Role.OPERATOR, self.operator),
            (Role.VIEWER, self.viewer),
        ]


class EnvironmentConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    # The AWS account the environment runs in: the alarm relay shows only alarms from it (security issue 14,
    # finding 7). Given, or the account of role_arn, or OPSBOT_ACCOUNT_ID (environments without role_arn).
    account_id: str
    # The SNS topics its alarms come through; when given, a notification through any other topic is dropped.
    alarm_topic_arns: list[Annotated[str, Field(pattern=TOPIC_ARN_PATTERN)]] = Field(default_factory=list)
    cluster: str | None = None
    role_arn: Annotated[str | None, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")] = None
    # The sts:ExternalId the role's trust policy asks for (infra/modules/workload_access); unset, OPSBOT_EXTERNAL_ID.
    external_id: str | None = None
    protected: bool = False
    require_confirmation: bool | None = None
    four_eyes: bool = False
    plan_ttl_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    lock_ttl_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    channels: ChannelIds = Field(default_factory=list)
    roles: Roles = Field(default_factory=Roles)

    @model_validator(mode="before")
    @classmethod
    def _account_of_the_role(cls, data: Any) -> Any:
        """An environment operated through role_arn is in the role's account; one without either fails here."""
        if not isinstance(data, Mapping) or data.get("account_id") is not None:
            return data
        role = ROLE_ACCOUNT_PATTERN.match(str(data.get("role_arn") or ""))
        if role is not None:
            return {**data, "account_id": role.group(1)}
        raise ValueError(
            "account_id: the environment's 12-digit AWS account ID is required (the alarm relay drops alarms "
            "from any other account); give it in the config file, or OPSBOT_ACCOUNT_ID (the template sets "
            "it to the account the bot is deployed in), or role_arn for an environment in another account"
        )

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id(cls, account: Any) -> Any:
        if isinstance(account, int) and not isinstance(account, bool):
            raise ValueError(
                f'{account} is a number: quote the account ID (account_id: "{account:012d}"), since YAML '
                "reads unquoted digits as a number and drops leading zeros"
            )
        if not isinstance(account, str) or not ACCOUNT_ID_PATTERN.match(account):
            raise ValueError(f"{str(account)[:40]!r} is not an AWS account ID (12 digits)")
        return account

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, external_id: str | None) -> str | None:
        if external_id is not None and not re.match(EXTERNAL_ID_PATTERN, external_id):
            raise ValueError(
                "an external id is 2 to 1224 letters, digits and + = , . @ : / - _; "
                "give the value of the sts:ExternalId condition in the role's trust policy"
            )
        return external_id

    @model_validator(mode="after")
    def _role_in_the_account(self) -> Self:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError(
                "external_id is set but role_arn is not: only an environment operated through role_arn assumes "
                "a role; add the role_arn of the environment's account, or remove external_id"
            )
        role = ROLE_ACCOUNT_PATTERN.match(self.role_arn or "")
        if role is not None and role.group(1) != self.account_id:
            raise ValueError(
                f"role_arn is a role of account {role.group(1)}, but account_id is {self.account_id}: "
                "the environment runs in the role's account"
            )
        return self

    @property
    def confirmation_required(self) -> bool:
        """Plans need a Confirm click; by default only in protected environments, and always under four-eyes
        (a second person confirms, so there must be something to confirm)."""
        if self.four_eyes:
            return True
        return self.protected if self.require_confirmation is None else self.require_confirmation


class ServiceConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    ecs_service: str | None = None
    task_family: str | None = None
    container: str | None = None
    ecr_repository: str | None = None
    log_group: str | None = None
    min_tasks: Annotated[int, Field(ge=0, le=1000)] = DEFAULT_MIN_TASKS
    max_tasks: Annotated[int, Field(ge=1, le=1000)] = DEFAULT_MAX_TASKS
    scale_step: Annotated[int, Field(ge=1, le=100)] = 1
    # A deploy card with no ECS event for this long is settled by asking ECS (the one-minute sweep).
    deploy_timeout_minutes: Annotated[int, Field(ge=5, le=1440)] = 30

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks ({self.min_tasks}) is greater than max_tasks ({self.max_tasks})")
        return self


class CommandSettings(_Strict):
    """The slash commands' names (bot.commands.CommandNames): `/deploy`, ... by default; a prefix (`ops-`) makes
    `/ops-deploy`, ...; style `single` keeps only `/ops <command>`. manifest.yaml is made from it (`make manifest`)."""

    style: Literal["separate", "single"] = "separate"
    prefix: str = ""

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, prefix: str) -> str:
        problem = command_names_problem("separate", prefix)
        if problem is not None:
            raise ValueError(problem[1])
        return prefix

    @model_validator(mode="after")
    def _one_style(self) -> Self:
        problem = command_names_problem(self.style, self.prefix)
        if problem is not None:
            raise ValueError(problem[1])
        return self

    @property
    def names(self) -> CommandNames:
        return CommandNames(self.prefix, self.style == "single")


class SlackSettings(_Strict):
    api_url: str = DEFAULT_SLACK_API_URL
    signing_secret_name: str | None = None
    bot_token_secret_name: str | None = None
    commands: CommandSettings = Field(default_factory=CommandSettings)


# Tag keys: 1-128 letters (any script), digits, spaces and + - = . _ : / @. The length is bounded apart:
# `{1,128}` over Unicode \w makes pydantic-core compile a huge automaton, ~30 ms a field at every cold start.
TAG_KEY_PATTERN = r"^[\w .:/=+@-]+$"
TAG_KEY_MAX = 128
SCHEDULE_PATTERN = r"^(cron|rate)\([^()]+\)$"


class CostSettings(_Strict):
    """/cost and the weekly cost post (bot/cost.py, handlers/costs.py)."""

    # The cost allocation tag that names the platform service of a resource (activate it in Billing).
    tag_key: Annotated[str, Field(pattern=TAG_KEY_PATTERN, max_length=TAG_KEY_MAX)] = "Service"
    # When environments share an account: the activated tag whose value is the environment's name.
    # Unset, /cost shows the whole account of the environment.
    environment_tag_key: Annotated[str | None, Field(pattern=TAG_KEY_PATTERN, max_length=TAG_KEY_MAX)] = None
    # Cost Explorer charges $0.01 per request and refreshes its data a few times a day.
    cache_hours: Annotated[float, Field(gt=0, le=48)] = 6
    weekly_channel: ChannelId | None = None
    # The EventBridge schedule of the weekly post; template.yaml's CostReportSchedule must say the same.
    weekly_schedule: Annotated[str, Field(pattern=SCHEDULE_PATTERN)] = "cron(0 9 ? * MON *)"

    @field_validator("tag_key", "environment_tag_key")
    @classmethod
    def _user_tag(cls, key: str | None) -> str | None:
        if key is not None and key.lower().startswith("aws:"):
            raise ValueError(f"{key!r} is an AWS-generated tag; name a user-defined cost allocation tag")
        return key


class AlarmServiceRule(_Strict):
    """Maps alarms to a service where dimensions and the naming convention do not; first match wins.

    Exactly one of: `name_prefix` (the alarm name starts with it), `name_pattern` (a regular expression
    searched in the alarm name) or `dimensions` (metric dimension name -> regular expression its value
    must match, e.g. {"LoadBalancer": "^app/shop-alb/"}).
    """

    service: Annotated[str, Field(pattern=NAME_PATTERN)]
    name_prefix: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    name_pattern: str | None = None
    dimensions: dict[str, str] | None = None

    @field_validator("name_pattern")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return pattern

    @field_validator("dimensions")
    @classmethod
    def _dimension_regexes(cls, dimensions: dict[str, str] | None) -> dict[str, str] | None:
        if dimensions is not None:
            if not dimensions:
                raise ValueError("name at least one dimension")
            for name, pattern in dimensions.items():
                try:
                    re.compile(pattern)
                except re.error as error:
                    raise ValueError(f"dimension {name}: {pattern!r} is not a regular expression: {error}") from None
        return dimensions

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("name_prefix", "name_pattern", "dimensions") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a service rule needs exactly one of name_prefix, name_pattern or dimensions")
        return self


class AlarmSettings(_Strict):
    """The alarm relay (bot/alarms, handlers/alarms.py): CloudWatch alarms as cards in Slack."""

    # Where the cards go. Unset, the relay refuses to run (its records are retried, then reach the DLQ).
    channel: ChannelId | None = None
    # An alarm this soon after a deploy of its service offers "Roll back" to the revision that ran before.
    deploy_window_minutes: Annotated[int, Field(ge=1, le=1440)] = 30
    # More distinct alarms than this firing within digest_window_seconds: one digest card instead.
    digest_threshold: Annotated[int, Field(ge=1, le=1000)] = 10
    digest_window_seconds: Annotated[int, Field(ge=10, le=86400)] = 300
    # An alarm that fires again this soon after it resolved reopens its card (flapping).
    flap_window_minutes: Annotated[int, Field(ge=0, le=1440)] = 15
    mute_minutes: Annotated[int, Field(ge=1, le=10080)] = 60
    # Show logs: lines this many minutes either side of the alarm's state change.
    log_window_minutes: Annotated[int, Field(ge=1, le=120)] = 5
    # Slack's sustained limit for posting to one channel.
    writes_per_second: Annotated[float, Field(gt=0, le=10)] = 1.0
    # The alarm tag whose value names the service (read with ListTagsForResource when nothing else maps).
    service_tag_key: Annotated[str | None, Field(pattern=TAG_KEY_PATTERN, max_length=TAG_KEY_MAX)] = None
    service_rules: list[AlarmServiceRule] = Field(default_factory=list)
    # Alarms from an account (or through a topic) that is none of the environments': "drop" them with a
    # warning in the log, or "show" them as a card without buttons, service or escalation.
    foreign_alarms: Literal["drop", "show"] = "drop"


MESSAGE_KINDS = ("alarm", "deploy", "cost")  # what routing rules can match: alarm cards, deploy cards, cost posts
SEVERITIES = ("critical", "warning", "info")  # from the alarm's tag (routing.severity_tag_key) or its name's suffix
MENTION_PATTERN = re.compile(r"^(@here|@channel|S[A-Z0-9]{2,}|[UW][A-Z0-9]{2,})$")


class EscalationLevel(_Strict):
    """A mention in an unacknowledged ALARM card's thread, this long after the card opened."""

    after_minutes: Annotated[int, Field(ge=1, le=1440)] = 5
    # "@here", "@channel", a user group (S...) or a user (U..., W...).
    mention: str = "@here"

    @field_validator("mention")
    @classmethod
    def _mention(cls, mention: str) -> str:
        if not MENTION_PATTERN.match(mention):
            raise ValueError(f"{mention!r} is not @here, @channel, a user-group ID (S...) or a user ID (U..., W...)")
        return mention

    @property
    def slack_mention(self) -> str:
        if self.mention.startswith("@"):
            return f"<!{self.mention[1:]}>"
        if self.mention.startswith("S"):
            return f"<!subteam^{self.mention}>"
        return f"<@{self.mention}>"


def _default_levels() -> list[EscalationLevel]:
    return [EscalationLevel(after_minutes=5, mention="@here"), EscalationLevel(after_minutes=15, mention="@channel")]


class EscalationSettings(_Strict):
    """Unacknowledged ALARM cards: mentions in the card's thread, driven by handlers/escalation.py's schedule."""

    # Counted from when the card opened, each level once; [] turns escalation off.
    levels: Annotated[list[EscalationLevel], Field(max_length=5)] = Field(default_factory=_default_levels)

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        delays = [level.after_minutes for level in self.levels]
        if delays != sorted(set(delays)):
            raise ValueError(f"levels: after_minutes must increase from one level to the next (got {delays})")
        return self


class RouteRule(_Strict):
    """Where messages go. Every criterion given must match; one left out matches anything. A criterion the
    message has no value for (the service of a cost post, the alarm name of a deploy card) does not match.

    Checked across the config when it loads (Config._routing_rules): names of services and environments,
    regular expression, severities, kinds, channel IDs; each problem names the rule.
    """

    name: str = ""
    kinds: list[str] = Field(default_factory=list)  # alarm, deploy, cost
    environments: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    alarm_pattern: str | None = None  # a regular expression searched in the alarm's name
    severities: list[str] = Field(default_factory=list)  # critical, warning, info
    channels: list[str] = Field(default_factory=list)  # at least one; the message goes to each
    # Escalation of this rule's alarm cards: unset uses routing.escalation.levels, [] turns it off.
    escalation: list[EscalationLevel] | None = None


class RoutingSettings(_Strict):
    """Which channels alarm cards, deploy cards and cost posts go to (bot/routing.py); docs/routing.md."""

    # Evaluated in order; the first rule that matches decides.
    rules: Annotated[list[RouteRule], Field(max_length=100)] = Field(default_factory=list)
    # When no rule matches, after alarms.channel (alarm cards) and cost.weekly_channel (the weekly post).
    default_channel: ChannelId | None = None
    # The alarm tag that gives its severity; without it, a name ending in -critical, -warning or -info does.
    severity_tag_key: Annotated[str | None, Field(pattern=TAG_KEY_PATTERN, max_length=TAG_KEY_MAX)] = None
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)


@dataclass(frozen=True, slots=True)
class Target:
    """A service in an environment, with every physical name resolved."""

    service: ServiceConfig
    environment: EnvironmentConfig
    cluster: str
    ecs_service: str
    task_family: str
    container: str
    ecr_repository: str
    log_group: str
    alarm_prefix: str

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def env(self) -> str:
        return self.environment.name

    @property
    def region(self) -> str:
        return self.environment.region


class Config(_Strict):
    project: Annotated[str, Field(pattern=NAME_PATTERN)]
    naming: Naming = Field(default_factory=Naming)
    default_environment: str | None = None
    environments: Annotated[list[EnvironmentConfig], Field(min_length=1)]
    services: Annotated[list[ServiceConfig], Field(min_length=1, max_length=200)]
    state_table: str = DEFAULT_STATE_TABLE
    aws_endpoint_url: str | None = None
    slack: SlackSettings = Field(default_factory=SlackSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for kind, names in (
            ("environments", [e.name for e in self.environments]),
            ("services", [s.name for s in self.services]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{kind}: {duplicates[0]!r} is defined more than once")
        overlap = {e.name for e in self.environments} & {s.name for s in self.services}
        if overlap:
            raise ValueError(f"{sorted(overlap)[0]!r} is both a service and an environment name")
        if self.default_environment is not None and self.default_environment not in self.environment_names:
            raise ValueError(
                f"default_environment {self.default_environment!r} is not one of the environments "
                f"({', '.join(self.environment_names)})"
            )
        return self

    @model_validator(mode="after")
    def _alarm_rules_name_services(self) -> Self:
        for index, rule in enumerate(self.alarms.service_rules):
            if rule.service not in self.service_names:
                raise ValueError(
                    f"alarms.service_rules.{index}.service: {rule.service!r} is not one of the services "
                    f"({', '.join(self.service_names)})"
                )
        return self

    @model_validator(mode="after")
    def _routing_rules(self) -> Self:
        problems = []
        for index, rule in enumerate(self.routing.rules):
            problems += [f"routing.rules[{index}] {rule.name!r}: {p}" for p in self._rule_problems(rule)]
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def _rule_problems(self, rule: RouteRule) -> list[str]:
        problems = []
        for kind in rule.kinds:
            if kind not in MESSAGE_KINDS:
                problems.append(f"unknown kind {kind!r} (use {', '.join(MESSAGE_KINDS)})")
        for env in rule.environments:
            if env not in self.environment_names:
                problems.append(f"unknown environment {env!r} (known: {', '.join(self.environment_names)})")
        for service in rule.services:
            if service not in self.service_names:
                problems.append(f"unknown service {service!r} (known: {', '.join(self.service_names)})")
        for severity in rule.severities:
            if severity not in SEVERITIES:
                problems.append(f"unknown severity {severity!r} (use {', '.join(SEVERITIES)})")
        if rule.alarm_pattern is not None:
            try:
                re.compile(rule.alarm_pattern)
            except re.error as error:
                problems.append(f"alarm_pattern {rule.alarm_pattern!r} is not a regular expression: {error}")
        if not rule.channels:
            problems.append("no channel: name at least one channel ID in channels")
        for channel in rule.channels:
            try:
                channel_id(channel)
            except ValueError as error:
                problems.append(str(error))
        return problems

    @property
    def command_names(self) -> CommandNames:
        return self.slack.commands.names

    @property
    def environment_names(self) -> list[str]:
        return [e.name for e in self.environments]

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def environment(self, name: str | None = None) -> EnvironmentConfig:
        wanted = name or self.default_environment or self.environments[0].name
        for env in self.environments:
            if env.name == wanted:
                return env
        raise KeyError(wanted)

    def service(self, name: str) -> ServiceConfig:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def target(self, service: str, env: str | None = None) -> Target:
        svc = self.service(service)
        environment = self.environment(env)
        values = {"project": self.project, "env": environment.name, "name": svc.name}

        def name(override: str | None, template: str) -> str:
            return override or template.format(**values)

        return Target(
            service=svc,
            environment=environment,
            cluster=name(environment.cluster, self.naming.cluster),
            ecs_service=name(svc.ecs_service, self.naming.ecs_service),
            task_family=name(svc.task_family, self.naming.task_family),
            container=name(svc.container, self.naming.container),
            ecr_repository=name(svc.ecr_repository, self.naming.ecr_repository),
            log_group=name(svc.log_group, self.naming.log_group),
            alarm_prefix=self.naming.alarm_prefix.format(**values),
        )

    def targets(self, env: str | None = None) -> list[Target]:
        return [self.target(s.name, env) for s in self.services]

    def cluster(self, env: str | None = None) -> str:
        environment = self.environment(env)
        return environment.cluster or self.naming.cluster.format(project=self.project, env=environment.name, name="")


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        # Checks across fields have no location of their own; their message starts with the field's name.
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def parse_config(data: Mapping[str, Any]) -> Config:
    """Validate a mapping into a Config, or raise ConfigError naming each bad field."""
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def _variable(field: str) -> Any:
    return Field(default=None, validation_alias=VARIABLES[field])


class EnvironmentVariables(BaseModel):
    """The variables of the module docstring, declared once: each field reads the variable its alias names
    (an unset or empty one is None), and a bad value's error names the variable.

    A pydantic model over the environment rather than pydantic-settings' BaseSettings, which reads the
    same way but whose import (dotenv and its cloud sources) costs ~25 ms at a cold start: the first
    request's ack waits for the configuration.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    config_file: str | None = _variable("config_file")
    project: str | None = _variable("project")
    environment: str | None = _variable("environment")
    cluster: str | None = _variable("cluster")
    account_id: str | None = _variable("account_id")
    # Not in bot.config_source.VARIABLES: the ack never reads it.
    external_id: str | None = Field(default=None, validation_alias="OPSBOT_EXTERNAL_ID")
    services: Annotated[list[str] | None, BeforeValidator(comma_separated)] = _variable("services")
    state_table: str | None = _variable("state_table")
    region: str | None = _variable("region")
    aws_endpoint_url: str | None = _variable("aws_endpoint_url")
    slack_api_url: str | None = _variable("slack_api_url")
    signing_secret_name: str | None = _variable("signing_secret_name")
    bot_token_secret_name: str | None = _variable("bot_token_secret_name")
    cost_channel: ChannelId | None = _variable("cost_channel")
    alarm_channel: ChannelId | None = _variable("alarm_channel")

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> EnvironmentVariables:
        """The variables set (and not empty) in `environ`; ConfigError names each bad one."""
        names = [str(field.validation_alias) for field in cls.model_fields.values()]
        try:
            return cls.model_validate({name: environ[name] for name in names if environ.get(name)})
        except ValidationError as error:
            lines = [
                f"  {'.'.join(map(str, p['loc']))}: {p['msg'].removeprefix('Value error, ')}" for p in error.errors()
            ]
            raise ConfigError("invalid environment variables:\n" + "\n".join(lines)) from None

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, external_id: str | None) -> str | None:
        if external_id is not None and not re.match(EXTERNAL_ID_PATTERN, external_id):
            raise ValueError("not an external id: 2 to 1224 letters, digits and + = , . @ : / - _")
        return external_id

    def overlay(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` (what the file says) with these variables applied on top; OPSBOT_EXTERNAL_ID is the
        external_id of each environment with role_arn that gives none."""
        merged = overlay(data, self)
        if self.external_id and isinstance(merged.get("environments"), list):
            merged["environments"] = [
                {**e, "external_id": self.external_id}
                if isinstance(e, Mapping) and e.get("role_arn") and not e.get("external_id")
                else e
                for e in merged["environments"]
            ]
        return merged


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration the way the Lambda functions and the local sandbox do."""
    variables = EnvironmentVariables.read(os.environ if environ is None else environ)
    data = read_config_file(Path(variables.config_file)) if variables.config_file else {}
    return parse_config(variables.overlay(data))
