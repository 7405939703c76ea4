"""The Slack function's ack reads its settings from the configuration as plain data (bot.config_source),
without pydantic: they must say what the validated model says, and a cold ack must not load pydantic."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import (
    Bot,
    cold_ack,
    config_data,
)

from bot.config import ConfigError, load_config
from bot.config_source import AckSettings, ack_settings, plain_data
from handlers.runtime import Configuration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.yaml"


def written(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def without_bounds(data: dict[str, Any]) -> dict[str, Any]:
    data["services"] = [{"name": s["name"]} for s in data["services"]]
    return data


ENVIRONS = {
    "the example file": {"OPSBOT_CONFIG_FILE": str(EXAMPLE)},
    "the example with variables on top": {
        "OPSBOT_CONFIG_FILE": str(EXAMPLE),
        "OPSBOT_SERVICES": "service-b, web",
        "OPSBOT_ENVIRONMENT": "staging",
        "AWS_REGION": "eu-west-1",
        "OPSBOT_STATE_TABLE": "bot-state",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "OPSBOT_ACCOUNT_ID": "111122223333",
    },
    "variables alone": {
        "OPSBOT_PROJECT": "shop",
        "OPSBOT_ENVIRONMENT": "staging",
        "AWS_REGION": "eu-west-1",
        "OPSBOT_SERVICES": "web,worker",
        "OPSBOT_ACCOUNT_ID": "111122223333",
    },
}


@pytest.mark.parametrize("name", ENVIRONS)
def test_the_plain_settings_are_the_validated_configs(name: str) -> None:
    environ = ENVIRONS[name]
    plain = ack_settings(plain_data(environ))
    assert plain is not None
    assert plain == AckSettings.of(load_config(environ))


@pytest.mark.parametrize("shape", ["the tests' config", "bounds left to their defaults", "a second default"])
def test_defaults_and_the_home_environment_are_the_models(tmp_path: Path, shape: str) -> None:
    data = config_data()
    if shape == "bounds left to their defaults":
        data = without_bounds(data)
    elif shape == "a second default":
        data["default_environment"] = "staging"
        data["environments"][1]["region"] = "eu-west-1"
    environ = {"OPSBOT_CONFIG_FILE": written(tmp_path, data)}
    plain = ack_settings(plain_data(environ))
    assert plain is not None
    assert plain == AckSettings.of(load_config(environ))


UNUSUAL = {
    "a bound given as text": ("services", [{"name": "service-a", "min_tasks": "3"}]),
    "a bound given as true": ("services", [{"name": "service-a", "max_tasks": True}]),
    "no environments": ("environments", []),
    "slack: null": ("slack", None),
    "a numeric state table": ("state_table", 7),
    "an unknown default environment": ("default_environment", "qa"),
}


@pytest.mark.parametrize("case", UNUSUAL)
def test_data_not_shaped_as_a_valid_configs_is_left_to_the_model(tmp_path: Path, case: str) -> None:
    """The ack then takes the model's reading, or fails with the model's error, as before."""
    key, value = UNUSUAL[case]
    data = config_data() | {key: value}
    environ = {"OPSBOT_CONFIG_FILE": written(tmp_path, data)}
    assert ack_settings(plain_data(environ)) is None
    assert read_ack(Configuration(environ)) == model_reading(environ)


def model_reading(environ: dict[str, str]) -> AckSettings | str:
    """The settings as the validated model reads them, or its error."""
    try:
        return AckSettings.of(load_config(environ))
    except ConfigError as error:
        return str(error)


def read_ack(configuration: Configuration) -> AckSettings | str:
    try:
        return configuration.ack
    except ConfigError as error:
        return str(error)


def test_an_unreadable_file_fails_at_once_as_before(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read OPSBOT_CONFIG_FILE"):
        Configuration({"OPSBOT_CONFIG_FILE": str(tmp_path / "missing.yaml")})


def test_an_invalid_config_fails_at_the_first_use_of_the_model(tmp_path: Path) -> None:
    data = config_data()
    data["environments"][0]["roles"]["admin"] = ["alice"]
    configuration = Configuration({"OPSBOT_CONFIG_FILE": written(tmp_path, data)})
    assert configuration.ack.service_names == ["service-a", "service-b"]
    with pytest.raises(ConfigError, match="'alice' is not a Slack user ID"):
        _ = configuration.model


@pytest.mark.parametrize("text", ["", "productoin"])  # productoin: the usage error and its Did you mean
def test_a_cold_ack_does_not_load_pydantic(text: str) -> None:
    """The cold path (docs/architecture.md): a fresh process configured as template.yaml configures the Slack
    function (as bench.cold_start runs it) acks one /status without importing pydantic, the config model, or
    the dispatcher's module (which the buttons' listeners need: bot.app registers them at the first other
    request)."""
    body = urllib.parse.urlencode(
        {"command": "/status", "text": text, "user_id": "U0ADMIN", "channel_id": "C0OPS", "team_id": "T0TEST"}
        | {"trigger_id": "cold", "response_url": "http://127.0.0.1:9/respond/cold"}
    )
    assert cold_ack(body, ("pydantic", "bot.config", "bot.dispatch")).loaded == []


def test_the_first_request_of_a_fresh_app_may_be_a_button(bot: Bot) -> None:
    """The buttons' listeners are registered before Bolt matches the first request that is not a command."""
    from bot.render import CANCEL_ACTION

    bot.handler.reset()
    reply = bot.click(CANCEL_ACTION, "no-such-plan", "1700000000.000100")
    assert reply.status == 200
    assert reply.responses, "the click was answered"
    assert bot.command("/status").status == 200


def test_lazy_work_in_threads_validates_the_config_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    import bot.config

    calls: list[int] = []
    real = bot.config.load_config

    def slow(environ: Any) -> Any:
        calls.append(1)
        time.sleep(0.05)  # long enough for the other threads to ask meanwhile
        return real(environ)

    monkeypatch.setattr(bot.config, "load_config", slow)
    configuration = Configuration({"OPSBOT_CONFIG_FILE": str(EXAMPLE)})
    models: list[Any] = []
    threads = [threading.Thread(target=lambda: models.append(configuration.model)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(model) for model in models}) == 1
