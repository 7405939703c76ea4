"""manifest.yaml declares exactly the slash commands the app handles, with the scopes it needs; `make manifest`
writes its slash commands from the config (slack.commands)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.commands import SLASH_COMMANDS, Parser
from bot.config import parse_config
from bot.config_source import read_yaml

from .checks import REPO, event_problems, manifest_problems


def test_manifest_matches_the_commands_the_app_handles(manifest_text: str) -> None:
    problems = manifest_problems(manifest_text, SLASH_COMMANDS)
    assert not problems, "manifest.yaml:\n" + "\n".join(problems)


def _without_command(manifest_text: str, command: str) -> str:
    """The manifest with one slash command's entry (five lines) removed."""
    lines = manifest_text.splitlines(keepends=True)
    start = lines.index(f"    - command: {command}\n")
    return "".join(lines[:start] + lines[start + 5 :])


@pytest.mark.parametrize("command", ["/deploy", "/ops"])
def test_a_command_missing_from_the_manifest_is_reported(manifest_text: str, command: str) -> None:
    broken = _without_command(manifest_text, command)
    assert f"{command}: handled by the app but missing from manifest.yaml" in manifest_problems(broken, SLASH_COMMANDS)


def test_a_command_the_app_does_not_handle_is_reported(manifest_text: str) -> None:
    handled = [c for c in SLASH_COMMANDS if c != "/cost"]
    assert "/cost: in manifest.yaml but the app does not handle it" in manifest_problems(manifest_text, handled)


def test_an_extra_scope_is_reported(manifest_text: str) -> None:
    broken = manifest_text.replace("      - commands #", "      - channels:history\n      - commands #")
    assert "bot scope channels:history is not needed" in manifest_problems(broken, SLASH_COMMANDS)


def test_a_real_host_instead_of_the_placeholder_is_reported(manifest_text: str) -> None:
    broken = manifest_text.replace(
        "url: https://EXAMPLE.execute-api.REGION", "url: https://abc123.execute-api.us-east-1", 1
    )
    assert any("url must be the placeholder" in p for p in manifest_problems(broken, SLASH_COMMANDS))


# --- `make manifest`: the slash commands written from the config (slack.commands) ---------------------------


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("manifest_script", REPO / "scripts" / "manifest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_manifest_with_the_example_config_writes_manifest_yaml_as_it_is(manifest_text: str) -> None:
    """The default names: `make manifest` leaves manifest.yaml byte for byte as it is."""
    config = parse_config(read_yaml(REPO / "config" / "example.yaml"))
    assert _generator().manifest_with(manifest_text, config.command_names) == manifest_text


@pytest.mark.parametrize("commands", [{"prefix": "ops-"}, {"style": "single"}])
def test_a_generated_manifest_declares_the_commands_the_app_registers(
    manifest_text: str, commands: dict[str, str]
) -> None:
    data = read_yaml(REPO / "config" / "example.yaml")
    data["slack"] = {**dict(data.get("slack") or {}), "commands": commands}
    registered = Parser(parse_config(data)).names.registered  # what bot.app registers with Bolt
    generated = _generator().manifest_with(manifest_text, parse_config(data).command_names)
    assert not manifest_problems(generated, registered), manifest_problems(generated, registered)
    assert manifest_problems(generated, SLASH_COMMANDS)  # the default names are no longer declared
    # The rest of the manifest (scopes, interactivity, comments) is kept as it is.
    assert generated.split("oauth_config:")[1] == manifest_text.split("oauth_config:")[1]
    assert generated.split("  slash_commands:")[0] == manifest_text.split("  slash_commands:")[0]


def test_make_manifest_writes_the_file(tmp_path: Path, manifest_text: str) -> None:
    config = tmp_path / "config.yaml"
    data = read_yaml(REPO / "config" / "example.yaml")
    data["slack"] = {**dict(data.get("slack") or {}), "commands": {"prefix": "ops-"}}
    config.write_text(yaml.safe_dump(data))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(manifest_text)
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "manifest.py"), "--config", str(config), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    declared = [c["command"] for c in yaml.safe_load(manifest.read_text())["features"]["slash_commands"]]
    assert declared[0] == "/ops-deploy"
    assert "/deploy" not in declared


# --- events: the App Home (issue 20.2) ---------------------------------------------------------------------


def test_manifest_subscribes_to_the_events_the_app_handles_and_enables_the_home_tab(manifest_text: str) -> None:
    from bot.app import EVENTS

    manifest = yaml.safe_load(manifest_text)
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == list(EVENTS)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert not event_problems(manifest)


def test_an_event_missing_or_extra_and_a_disabled_home_tab_are_reported(manifest_text: str) -> None:
    manifest = yaml.safe_load(manifest_text)
    assert event_problems(manifest, ["app_home_opened", "app_mention"]) == [
        "event app_mention: handled by the app but not subscribed in manifest.yaml"
    ]
    assert event_problems(manifest, []) == [
        "event app_home_opened: subscribed in manifest.yaml but the app does not handle it"
    ]
    manifest["features"]["app_home"]["home_tab_enabled"] = False
    assert "features.app_home.home_tab_enabled must be true" in event_problems(manifest)[0]


def test_make_manifest_writes_the_event_subscription_the_app_handles(manifest_text: str) -> None:
    names = parse_config(read_yaml(REPO / "config" / "example.yaml")).command_names
    without = manifest_text.replace(
        "      - app_home_opened # the App Home tab: published when a person opens it\n", ""
    )
    assert event_problems(yaml.safe_load(without))
    assert _generator().manifest_with(without, names) == manifest_text
    assert "      - app_mention\n" in _generator().manifest_with(
        manifest_text, names, ("app_home_opened", "app_mention")
    )
