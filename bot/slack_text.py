"""What the bot writes in Slack's mrkdwn: outside text escaped, its own placeholders shown, links only
from validated parts.

Slack reads `<...>` as a control sequence anywhere in mrkdwn, inside `code` too: `<!channel>` pings
the channel, `<https://x|label>` is a link, `<service>` disappears. So
- text that did not come from the bot (AWS, log lines, what a person typed) goes through `escape()`;
- the bot's own text keeps the sequences it means (mentions, channel links, user groups, special
  mentions, URLs) and `own_text()` escapes every other bracket, so `/scale <service> <count|auto>` shows
  its placeholders instead of a link labelled "auto";
- a link to the AWS console is built only from a region that is a region and a URL-encoded name.
Light on purpose: the ack path imports it.
"""

from __future__ import annotations

import re
import urllib.parse

# What the bot means by <...>: a user, channel or user group, a special mention, or a URL.
_CONTROL = re.compile(
    r"<(?:[@#][A-Z0-9]+(?:\|[^<>]*)?|!(?:here|channel|everyone|subteam\^[A-Z0-9]+)(?:\|[^<>]*)?|https://[^\s<>|]+(?:\|[^<>]*)?)>"
)
_BRACKET = re.compile(r"[<>]")
# The bot's mentions of a person or a channel, nothing else (no special mention, user group or link).
_MENTION = re.compile(r"<[@#][A-Z0-9]+(?:\|[^<>]*)?>")
SLACK_ID = re.compile(r"^[A-Z0-9]+$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def escape(text: str) -> str:
    """Outside text, shown as it is: no mention, link or entity of its own survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, note: str = "…") -> str:
    """At most `limit` characters, `note` ending a cut (for text before it is escaped, or plain text)."""
    return text if len(text) <= limit else text[: limit - len(note)] + note


def clip_mrkdwn(text: str, limit: int) -> str:
    """At most `limit` characters, "…" ending a cut; never inside a `<...>` sequence or an `&...;` entity (it
    cuts before one it would split)."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1]
    for opener, closer in (("<", ">"), ("&", ";")):
        start = kept.rfind(opener)
        if start != -1 and closer not in kept[start:]:
            kept = kept[:start]
    return kept + "…"


def own_text(text: str) -> str:
    """The bot's own mrkdwn with every `<` and `>` escaped except in the control sequences it means.
    Outside text in it was escaped already, so this changes nothing there."""
    return _keeping(_CONTROL, text)


def mentions_only(text: str) -> str:
    """Like `own_text`, for the bot's mrkdwn read back from storage (the audit trail): only its mentions of
    people and channels are kept; a special mention, a user group or a link in it is escaped."""
    return _keeping(_MENTION, text)


def _keeping(sequences: re.Pattern[str], text: str) -> str:
    """`text` with every `<` and `>` escaped except in the sequences `sequences` matches."""
    kept: list[str] = []
    last = 0
    for match in sequences.finditer(text):
        kept.append(_BRACKET.sub(_entity, text[last : match.start()]))
        kept.append(match.group(0))
        last = match.end()
    kept.append(_BRACKET.sub(_entity, text[last:]))
    return "".join(kept)


def _entity(match: re.Match[str]) -> str:
    return "&lt;" if match.group(0) == "<" else "&gt;"


def link(url: str, label: str) -> str:
    """A mrkdwn link; the label is the bot's own words."""
    return f"<{url}|{label}>"


def _console(region: str, path: str) -> str | None:
    if not REGION.match(region):
        return None  # never put an unchecked region into a URL (it comes from the alarm's ARN)
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#{path}"


def alarm_console_url(name: str, region: str) -> str | None:
    """The CloudWatch console page of an alarm, or None if `region` is not a region code."""
    return _console(region, f"alarmsV2:alarm/{urllib.parse.quote(name, safe='')}")


def log_group_console_url(group: str, region: str) -> str | None:
    """The CloudWatch console page of a log group (its odd double encoding with '$'), or None."""
    encoded = urllib.parse.quote(urllib.parse.quote(group, safe=""), safe="").replace("%", "$")
    return _console(region, f"logsV2:log-groups/log-group/{encoded}")
