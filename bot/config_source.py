"""Where the configuration comes from, as plain data: the YAML file (OPSBOT_CONFIG_FILE) with the
environment variables applied on top, and the few settings the Slack function's ack reads.

No pydantic here: the Slack function's cold ack reads `ack_settings` from this plain data (service and
environment names, the task bounds /scale checks, the state table, the home region, the endpoints) and
validates the whole configuration (bot.config.load_config, the one pydantic model) only when something
else needs it: the lazy work, the other functions, SnapStart's priming. Importing pydantic and building the
models cost more than half the floor `import boto3, slack_bolt` (docs/BENCHMARKS.md, "Cold start").

`ack_settings` takes only data shaped as a valid configuration is (names and regions as text, bounds as
whole numbers); anything else returns None, and the caller takes the settings from the validated model
instead, so that an unusual value gets exactly the pydantic model's reading or its error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.command_names import DEFAULT_NAMES, CommandNames, command_names_problem

# The environment variables bot.config documents, by the field of EnvironmentVariables that reads each.
VARIABLES: dict[str, str] = {
    "config_file": "OPSBOT_CONFIG_FILE",
    "project": "OPSBOT_PROJECT",
    "environment": "OPSBOT_ENVIRONMENT",
    "cluster": "OPSBOT_CLUSTER",
    "account_id": "OPSBOT_ACCOUNT_ID",
    "services": "OPSBOT_SERVICES",
    "state_table": "OPSBOT_STATE_TABLE",
    "region": "AWS_REGION",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "slack_api_url": "SLACK_API_URL",
    "signing_secret_name": "SLACK_SIGNING_SECRET_NAME",
    "bot_token_secret_name": "SLACK_BOT_TOKEN_SECRET_NAME",
    "cost_channel": "OPSBOT_COST_CHANNEL",
    "alarm_channel": "OPSBOT_ALARM_CHANNEL",
}

# Defaults of the settings the ack reads; bot.config's model declares them with these same constants.
DEFAULT_STATE_TABLE = "fargate-chatops-state"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_MIN_TASKS = 0
DEFAULT_MAX_TASKS = 10


class ConfigError(Exception):
    """The configuration cannot be used; the message names every offending field."""


class Variables(Protocol):
    """The environment variables' values (bot.config.EnvironmentVariables, or plain ones for the ack)."""

    @property
    def project(self) -> str | None: ...
    @property
    def environment(self) -> str | None: ...
    @property
    def cluster(self) -> str | None: ...
    @property
    def account_id(self) -> str | None: ...
    @property
    def services(self) -> list[str] | None: ...
    @property
    def state_table(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def aws_endpoint_url(self) -> str | None: ...
    @property
    def slack_api_url(self) -> str | None: ...
    @property
    def signing_secret_name(self) -> str | None: ...
    @property
    def bot_token_secret_name(self) -> str | None: ...
    @property
    def cost_channel(self) -> str | None: ...
    @property
    def alarm_channel(self) -> str | None: ...


def comma_separated(value: Any) -> Any:
    return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class PlainVariables:
    """The variables as set (an unset or empty one is None), unchecked: what the ack's settings are read
    from. bot.config.EnvironmentVariables reads the same ones and checks them."""

    config_file: str | None = None
    project: str | None = None
    environment: str | None = None
    cluster: str | None = None
    account_id: str | None = None
    services: list[str] | None = None
    state_table: str | None = None
    region: str | None = None
    aws_endpoint_url: str | None = None
    slack_api_url: str | None = None
    signing_secret_name: str | None = None
    bot_token_secret_name: str | None = None
    cost_channel: str | None = None
    alarm_channel: str | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> PlainVariables:
        values: dict[str, Any] = {field: environ[name] for field, name in VARIABLES.items() if environ.get(name)}
        if "services" in values:
            values["services"] = comma_separated(values["services"])
        return cls(**values)


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML file's settings (a mapping), or ConfigError saying why not."""
    return _parse_yaml(_read_bytes(path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read OPSBOT_CONFIG_FILE {str(path)!r}: {error.strerror}") from None


def _parse_yaml(source: bytes, path: Path) -> dict[str, Any]:
    import yaml  # only at start-up, and not at all where the build shipped the file as JSON (read_config_file)

    # libyaml's loader when PyYAML has it (the wheels do): the same safe subset, ~15x faster than pure Python.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        loaded = yaml.load(source.decode("utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return loaded


# The Lambda bundle's build (lambda/Makefile, lambda/compile_config.py) writes next to each config/*.yaml the
# same settings as JSON: the Slack function's cold ack then reads them with the json module and never imports
# PyYAML (20-28 ms, docs/BENCHMARKS.md "Cold start"). The YAML stays the file people edit and the authority:
# the JSON names the SHA-256 of the YAML bytes it was made from, and a JSON that does not match the YAML
# beside it (stale, hand-edited, truncated) is ignored.
COMPILED_SUFFIX = ".json"


def compiled_path(path: Path) -> Path:
    """Where the build writes the JSON form of the YAML file at `path` (config/example.yaml.json)."""
    return path.with_name(path.name + COMPILED_SUFFIX)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (True is not 1, 1 is not 1.0, a key "1" is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        keys_alike = a.keys() == b.keys() and all(_same(key, other) for key, other in zip(a, b, strict=True))
        return keys_alike and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def compile_config(path: Path) -> str | None:
    """The JSON form of the YAML file at `path`: its settings and the SHA-256 of its bytes; None when JSON
    cannot carry the settings exactly (a date, a key that is not text, NaN), and the function reads the YAML."""
    import hashlib
    import json

    source = _read_bytes(path)
    data = _parse_yaml(source, path)
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return None
    if not _same(json.loads(text), data):
        return None
    document = {"source_sha256": hashlib.sha256(source).hexdigest(), "settings": data}
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _compiled_settings(path: Path, source: bytes) -> dict[str, Any] | None:
    """The settings of the JSON form of `path`, if there is one made from exactly these YAML bytes."""
    import hashlib
    import json

    try:
        document = json.loads(compiled_path(path).read_bytes())
    except (OSError, ValueError):  # none (where nothing was built), unreadable or not JSON: the YAML decides
        return None
    if not isinstance(document, dict) or not isinstance(document.get("settings"), dict):
        return None
    if document.get("source_sha256") != hashlib.sha256(source).hexdigest():
        return None
    settings: dict[str, Any] = document["settings"]
    return settings


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of the YAML file at `path`: from its JSON form when the build wrote one from these very
    bytes (compile_config), else from the YAML. Both readings are the same data."""
    source = _read_bytes(path)
    compiled = _compiled_settings(path, source)
    return compiled if compiled is not None else _parse_yaml(source, path)


def overlay(data: dict[str, Any], variables: Variables) -> dict[str, Any]:
    """`data` (what the file says) with the variables applied on top."""
    if variables.project:
        data["project"] = variables.project
    if variables.state_table:
        data["state_table"] = variables.state_table
    if variables.aws_endpoint_url:
        data["aws_endpoint_url"] = variables.aws_endpoint_url
    slack = dict(data.get("slack") or {})
    for field, value in (
        ("api_url", variables.slack_api_url),
        ("signing_secret_name", variables.signing_secret_name),
        ("bot_token_secret_name", variables.bot_token_secret_name),
    ):
        if value:
            slack[field] = value
    if slack:
        data["slack"] = slack
    if variables.cost_channel:
        data["cost"] = {**dict(data.get("cost") or {}), "weekly_channel": variables.cost_channel}
    if variables.alarm_channel:
        data["alarms"] = {**dict(data.get("alarms") or {}), "channel": variables.alarm_channel}

    environments = [dict(e) for e in data.get("environments") or [] if isinstance(e, Mapping)]
    if variables.environment:
        data["default_environment"] = variables.environment
        existing = next((e for e in environments if e.get("name") == variables.environment), None)
        if existing is None:
            existing = {"name": variables.environment, "region": variables.region or ""}
            environments.append(existing)
        if variables.cluster:
            existing["cluster"] = variables.cluster
        data["environments"] = environments
    if variables.account_id:
        # Without role_arn the bot operates an environment with its own credentials: it is the bot's account.
        for environment in environments:
            if not environment.get("role_arn"):
                environment["account_id"] = variables.account_id
        data["environments"] = environments

    if variables.services is not None:
        known = {s.get("name"): s for s in data.get("services") or [] if isinstance(s, Mapping)}
        data["services"] = [dict(known.get(n) or {"name": n}) for n in variables.services]
    return data


def plain_data(environ: Mapping[str, str]) -> dict[str, Any]:
    """The file and the variables, merged as bot.config.load_config merges them, unvalidated."""
    variables = PlainVariables.read(environ)
    data = read_config_file(Path(variables.config_file)) if variables.config_file else {}
    return overlay(data, variables)


@dataclass(frozen=True, slots=True)
class TaskBounds:
    """A service's task bounds, which /scale checks in the ack."""

    min_tasks: int
    max_tasks: int


@dataclass(frozen=True)
class AckSettings:
    """What the Slack function's ack reads of the configuration: bot.commands.Parser's names and bounds,
    the slash commands' names (`slack.commands`), the replay record's table and region, the endpoints of AWS
    and of Slack. The same as the validated
    Config says (AckSettings.of)."""

    environment_names: list[str]
    service_names: list[str]
    bounds: dict[str, TaskBounds]
    home_region: str
    state_table: str
    aws_endpoint_url: str | None
    slack_api_url: str
    command_names: CommandNames = DEFAULT_NAMES

    def service(self, name: str) -> TaskBounds:
        return self.bounds[name]  # KeyError for an unknown one, as Config.service

    @classmethod
    def of(cls, config: Any) -> AckSettings:
        """From a validated bot.config.Config."""
        return cls(
            environment_names=config.environment_names,
            service_names=config.service_names,
            bounds={s.name: TaskBounds(s.min_tasks, s.max_tasks) for s in config.services},
            home_region=config.environment().region,
            state_table=config.state_table,
            aws_endpoint_url=config.aws_endpoint_url,
            slack_api_url=config.slack.api_url,
            command_names=config.command_names,
        )


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ack_settings(data: Mapping[str, Any]) -> AckSettings | None:
    """The ack's settings read from plain data, or None when the data is not shaped as a valid
    configuration's is (then only the validated model may say what it means)."""
    environments, services = data.get("environments"), data.get("services")
    if not (isinstance(environments, list) and environments and isinstance(services, list) and services):
        return None
    if not all(isinstance(e, Mapping) and _text(e.get("name")) and _text(e.get("region")) for e in environments):
        return None
    if not all(isinstance(s, Mapping) and _text(s.get("name")) for s in services):
        return None
    if not all(_whole(s.get(k, 0)) for s in services for k in ("min_tasks", "max_tasks")):
        return None
    default, slack = data.get("default_environment"), data.get("slack", {})
    if not (default is None or _text(default)) or not isinstance(slack, Mapping):
        return None
    state_table = data.get("state_table", DEFAULT_STATE_TABLE)
    endpoint = data.get("aws_endpoint_url")
    api_url = slack.get("api_url", DEFAULT_SLACK_API_URL)
    if not (_text(state_table) and _text(api_url) and (endpoint is None or _text(endpoint))):
        return None
    commands = slack.get("commands", {})
    if not isinstance(commands, Mapping) or not set(commands) <= {"style", "prefix"}:
        return None
    style, prefix = commands.get("style", "separate"), commands.get("prefix", "")
    if command_names_problem(style, prefix) is not None:
        return None
    home = default or environments[0]["name"]
    home_region = next((e["region"] for e in environments if e["name"] == home), None)
    if home_region is None:
        return None
    bounds: dict[str, TaskBounds] = {}
    for s in services:  # the first of a name, as Config.service finds it
        bounds.setdefault(
            s["name"], TaskBounds(s.get("min_tasks", DEFAULT_MIN_TASKS), s.get("max_tasks", DEFAULT_MAX_TASKS))
        )
    return AckSettings(
        environment_names=[e["name"] for e in environments],
        service_names=[s["name"] for s in services],
        bounds=bounds,
        home_region=home_region,
        state_table=state_table,
        aws_endpoint_url=endpoint,
        slack_api_url=api_url,
        command_names=CommandNames(prefix, style == "single"),
    )
