"""manifest.yaml declares exactly the slash commands the app handles, with the scopes it needs."""

from __future__ import annotations

import pytest

from bot.commands import SLASH_COMMANDS

from .checks import manifest_problems


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
