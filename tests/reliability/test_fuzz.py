"""Property-based fuzzing (hypothesis) of the two parsers that read outside input: slash-command text and
alarm notifications. Neither may raise anything but its own refusal, and neither makes any AWS call."""

from __future__ import annotations

import json
from typing import Any

from harness import ADMIN, Bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commands as c
from bot.alarms.model import AlarmNotification, NotAnAlarm, parse_body
from bot.aws import is_platform_mutation, recorded_calls
from bot.config import parse_config
from bot.errors import UsageError

from .counts import count

EXAMPLES = 2000
CONFIG = parse_config(
    {
        "project": "ecs-microservices",
        "environments": [
            {"name": "production", "region": "us-east-1", "account_id": "123456789012"},
            {"name": "staging", "region": "us-east-1", "account_id": "123456789012"},
        ],
        "services": [{"name": "service-a", "min_tasks": 1, "max_tasks": 10}, {"name": "service-b"}],
    }
)
PARSER = c.Parser(CONFIG)

# Tokens that mean something to some command, and tokens that try to break things.
MEANINGFUL = [
    "service-a", "service-b", "production", "staging", "auto", "latest", "v1.3.0", "help", "-h", "?",
    "#41", "rev3", "r2", "0", "3", "10", "11", "99999", "30m", "2h", "7d", "8d", "0s", "week", "month",
    "365d", "366d", "lock", "unlock", "audit", "deploy", "scale", "status", "logs", "alarms", "cost",
]  # fmt: skip
NASTY = [
    '"', "'", '"unclosed', "&lt;", "&amp;", "&#96;", "<@U123>", "<!channel>", "`", "\\", "\u200b", "\u202e",
    "\x00", "\t", "\n", "٣", "１０", "ⅷ", "ﬁ", "𝟗", "${HOME}", "$(id)", "; rm -rf /", "%s", "{0}",
]  # fmt: skip
token = st.one_of(st.sampled_from(MEANINGFUL + NASTY), st.text(max_size=12))
texts = st.one_of(
    st.lists(token, max_size=8).map(" ".join),
    st.text(max_size=600),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=480, max_size=520),
)
command_names = st.one_of(st.sampled_from([*c.SLASH_COMMANDS, "/unknown", "/DEPLOY", "/ops "]), st.text(max_size=10))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=command_names, text=texts)
def test_the_command_parser_returns_a_command_or_a_usage_error_and_calls_nothing(command: str, text: str) -> None:
    count("command fuzz examples")
    refusal: UsageError | None = None
    with recorded_calls() as calls:
        try:
            parsed = PARSER.parse(command, text)
        except UsageError as error:
            refusal = error
    assert calls == []
    if refusal is not None:
        assert refusal.message  # what was wrong ...
        assert refusal.hint  # ... and the usage line or what to do
        return
    assert isinstance(parsed, c.Command)
    if isinstance(parsed, c.Scale) and parsed.count is not None:
        service = CONFIG.service(parsed.service)
        assert service.min_tasks <= parsed.count <= service.max_tasks
    if isinstance(parsed, c.Deploy) and parsed.tag is not None:
        assert c.TAG_PATTERN.match(parsed.tag)
        assert parsed.tag.lower() != "latest"
    assert calls == []


# --- alarm notifications ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _shapes() -> list[dict[str, Any]]:
    from alarms import support

    return [support.metric_alarm(), support.math_alarm(), support.anomaly_alarm(), support.composite_alarm()]


@st.composite
def mutated_alarm(draw: st.DrawFn) -> str:
    """A real notification shape with fields dropped, replaced or retyped, bare or in its SNS envelope."""
    from alarms import support

    message = json.loads(json.dumps(draw(st.sampled_from(_shapes()))))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(sorted(message)))
        action = draw(st.sampled_from(["drop", "replace", "nest"]))
        if action == "drop":
            message.pop(key)
        elif action == "replace":
            message[key] = draw(json_values)
        elif isinstance(message[key], dict) and message[key]:
            inner = draw(st.sampled_from(sorted(message[key])))
            message[key][inner] = draw(json_values)
        if not message:
            break
    wrapped = draw(st.booleans())
    body = json.dumps(support.sns_envelope(message) if wrapped else message)
    if draw(st.integers(0, 9)) == 0:  # now and then, cut it short
        body = body[: draw(st.integers(0, len(body)))]
    return body


bodies = st.one_of(
    mutated_alarm(),
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=bodies)
def test_the_alarm_parser_returns_an_alarm_or_refuses_it_and_calls_nothing(body: str) -> None:
    count("alarm fuzz examples")
    refusal: NotAnAlarm | None = None
    with recorded_calls() as calls:
        try:
            alarm = parse_body(body, "record-1")
        except NotAnAlarm as error:
            refusal = error
    assert calls == []
    if refusal is not None:
        assert str(refusal)  # the reason, for the logs
    else:
        assert isinstance(alarm, AlarmNotification)


# --- mutating commands, end to end ---------------------------------------------------------------------

END_TO_END_EXAMPLES = 100  # each runs the ack and the lazy work against moto (about 50 ms)


@settings(
    max_examples=END_TO_END_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    command=st.sampled_from(["/deploy", "/scale", "/rollback", "/ops deploy", "/ops scale"]),
    text=st.one_of(
        st.lists(token, max_size=5).map(" ".join),
        # Mostly a real service first, so that most examples get past the parser into planning.
        st.tuples(st.sampled_from(["service-a", "service-b"]), st.lists(token, max_size=4)).map(
            lambda parts: " ".join([parts[0], *parts[1]])
        ),
        st.tuples(st.sampled_from(["service-a", "service-b"]), st.sampled_from(MEANINGFUL)).map(" ".join),
    ),
)
def test_a_fuzzed_mutating_command_never_changes_the_platform_without_a_confirm(
    bot: Bot, command: str, text: str
) -> None:
    count("command fuzz end-to-end")
    name, _, rest = command.partition(" ")
    with recorded_calls() as calls:
        reply = bot.command(f"{rest} {text}".strip(), user=ADMIN, command=name)
    assert reply.status == 200
    assert [call for call in calls if is_platform_mutation(call)] == []
    assert "Something went wrong" not in reply.text, reply.text
    if not reply.ack:  # past the parser: the work ran and answered
        count("command fuzz planned")
