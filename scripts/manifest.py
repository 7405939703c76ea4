"""`make manifest`: manifest.yaml's slash commands (features.slash_commands) written from the bot's config, and
its event subscription (settings.event_subscriptions) from the events the app handles (bot.app.EVENTS).

The config's `slack.commands` names the commands (bot.command_names.CommandNames, as the bot itself names
them): /deploy, ... by default; a prefix (`ops-`) gives /ops-deploy, ...; `style: single` only /ops. The rest of
manifest.yaml (its comments, scopes, interactivity, the App Home's settings) is kept as it is.
tests/deploy/test_manifest.py checks the manifest against the commands and events the app registers.

    python scripts/manifest.py [--config config/example.yaml] [--manifest manifest.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the bot's package is at the repository's root
    sys.path.insert(0, str(REPO))

from bot.command_names import CommandNames  # noqa: E402

URL = "https://EXAMPLE.execute-api.REGION.amazonaws.com/slack/events"  # docs/deploy.md replaces it
SECTION = "  slash_commands:\n"

# Each command's description and usage hint in Slack's command list, by the bot's name of the command.
ENTRIES: dict[str, tuple[str, str]] = {
    "deploy": ("Deploy an image tag of a service (shows a plan to confirm)", "<service> [tag] [env]"),
    "scale": ("Set a service's task count, or hand it back to autoscaling", "<service> <count|auto> [env]"),
    "rollback": ("Roll a service back to an earlier task-definition revision", "<service> [revision] [env]"),
    "status": ("Tasks, deployments and alarms of one service or all of them", "[service] [env]"),
    "logs": ("Recent log lines of a service, optionally filtered", "<service> [since] [filter]"),
    "alarms": ("The platform's alarms that are not OK", "[env]"),
    "cost": ("What the platform cost, by service", "[week|month|<N>d] [env]"),
    "ops": ("Help, deploy locks, audit trail and alarm routes", "<command> ... (help, lock, unlock, audit, routes)"),
}
# `style: single`: /ops is every command.
SINGLE_OPS = (
    "Deploy, scale, roll back and watch the platform (/ops <command> ...)",
    "<command> ... (help, deploy, scale, rollback, status, logs, alarms, cost, lock, unlock, audit, timeline, routes)",
)


def slash_commands(names: CommandNames) -> str:
    """The `slash_commands:` section of the manifest for these names."""
    lines = [SECTION]
    for command in names.registered:
        name = names.command(command)
        assert name is not None
        description, hint = SINGLE_OPS if names.single else ENTRIES[name]
        lines += [
            f"    - command: {command}\n",
            f"      url: {URL}\n",
            f"      description: {description}\n",
            f'      usage_hint: "{hint}"\n',
            "      should_escape: true\n",
        ]
    return "".join(lines)


EVENTS_SECTION = "  event_subscriptions:\n"
# What each event the app handles is for, as the manifest's comment says it.
EVENT_NOTES = {"app_home_opened": "the App Home tab: published when a person opens it"}


def event_subscriptions(events: tuple[str, ...]) -> str:
    """The `event_subscriptions:` section under settings: the bot events the app handles, at the one URL."""
    lines = [EVENTS_SECTION, f"    request_url: {URL}\n", "    bot_events:\n"]
    for event in events:
        note = f" # {EVENT_NOTES[event]}" if event in EVENT_NOTES else ""
        lines.append(f"      - {event}{note}\n")
    return "".join(lines)


def _replaced(lines: list[str], section: str, text: str) -> list[str]:
    """`lines` with the section starting at `section` (its deeper-indented lines) replaced by `text`."""
    start = lines.index(section)
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    return [*lines[:start], text, *lines[end:]]


def manifest_with(text: str, names: CommandNames, events: tuple[str, ...] | None = None) -> str:
    """The manifest `text` with its slash commands replaced by those of `names` and its event subscription by
    `events` (default: bot.app.EVENTS, what the app handles); the rest as it is."""
    if events is None:
        from bot.app import EVENTS

        events = EVENTS
    lines = text.splitlines(keepends=True)
    if SECTION not in lines:
        raise ValueError("manifest.yaml has no `  slash_commands:` under features")
    lines = _replaced(lines, SECTION, slash_commands(names))
    if EVENTS_SECTION in lines:
        lines = _replaced(lines, EVENTS_SECTION, event_subscriptions(events))
    elif "settings:\n" in lines:
        at = lines.index("settings:\n") + 1
        lines = [*lines[:at], event_subscriptions(events), *lines[at:]]
    else:
        raise ValueError("manifest.yaml has no `settings:`")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", default=str(REPO / "config" / "example.yaml"), help="the bot's YAML config")
    parser.add_argument("--manifest", default=str(REPO / "manifest.yaml"), help="the manifest to rewrite")
    args = parser.parse_args(argv)

    from bot.config import ConfigError, parse_config
    from bot.config_source import read_yaml

    try:
        names = parse_config(read_yaml(Path(args.config))).command_names
    except ConfigError as error:
        print(f"manifest: {args.config}: {error}", file=sys.stderr)
        return 1
    path = Path(args.manifest)
    try:
        before = path.read_text(encoding="utf-8")
        after = manifest_with(before, names)
    except (OSError, ValueError) as error:
        print(f"manifest: {path}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 1
    if after != before:
        path.write_text(after, encoding="utf-8")
    print(f"{path}: slash commands {' '.join(names.registered)}" + ("" if after != before else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
