"""Every configuration field, given an invalid value, makes an error message that names that field."""

from __future__ import annotations

import copy
import itertools
import typing
from collections.abc import Iterator
from typing import Any

import annotated_types
import pytest
from harness import config_data
from pydantic import BaseModel

from bot.config import Config, ConfigError, parse_config

from .counts import count


def base() -> dict[str, Any]:
    data = config_data()
    data["alarms"] = {"channel": "C0ALARMS", "service_rules": [{"service": "service-a", "name_prefix": "x-"}]}
    return data


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in typing.get_args(annotation))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (directly, in a list, or optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        inner = _model_of(argument)
        if inner is not None:
            return inner
    return None


def _invalid_values(field: Any) -> Iterator[Any]:
    """A value of the wrong type, and one that breaks each constraint the field declares."""
    annotation = field.annotation
    origin = typing.get_origin(annotation)
    is_dict = origin is dict or any(typing.get_origin(a) is dict for a in typing.get_args(annotation))
    yield ["a", "list"] if is_dict else {"a": "mapping"}
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            yield constraint.ge - 1
        elif isinstance(constraint, annotated_types.Gt):
            yield constraint.gt - 1
        elif isinstance(constraint, annotated_types.Le):
            yield constraint.le + 1
        elif isinstance(constraint, annotated_types.MaxLen):
            yield "x" * (constraint.max_length + 1)
        elif isinstance(constraint, annotated_types.MinLen) and origin is not list:
            yield ""
        elif getattr(constraint, "pattern", None):
            yield "!! not valid !!"


def cases(model: type[BaseModel] = Config, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        where = (*path, name)
        nested = _model_of(field.annotation)
        if nested is not None:
            yield ".".join(map(str, where)), "not a mapping"
            inner = (*where, 0) if _is_list(field.annotation) else where  # a list: through its first item
            yield from cases(nested, inner)
            continue
        for value in _invalid_values(field):
            yield ".".join(map(str, where)), value


def with_value(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of `data` with `value` at `dotted` (a list's missing first item is created empty)."""
    changed = copy.deepcopy(data)
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    node: Any = changed
    for key, following in itertools.pairwise(keys):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            while len(node) <= key:
                node.append(empty)
            node = node[key]
        else:
            if not isinstance(node.get(key), list | dict):
                node[key] = empty
            node = node[key]
    if isinstance(keys[-1], int):
        while len(node) <= keys[-1]:
            node.append(None)
    node[keys[-1]] = value
    return changed


ALL_CASES = list(cases())


def test_every_field_is_reached() -> None:
    fields = {dotted for dotted, _ in ALL_CASES}
    assert len(fields) >= 60, sorted(fields)
    assert "environments.0.roles.admin" in fields
    assert "alarms.service_rules.0.dimensions" in fields


def test_an_invalid_value_in_any_field_is_reported_naming_that_field() -> None:
    parse_config(base())  # the base itself is valid
    unnamed = []
    for dotted, value in ALL_CASES:
        with pytest.raises(ConfigError) as raised:
            parse_config(with_value(base(), dotted, value))
        count("config fields")
        if f"  {dotted}:" not in str(raised.value) and f"  {dotted}." not in str(raised.value):
            unnamed.append((dotted, value, str(raised.value)))
    assert unnamed == []


CROSS_FIELD = [
    ("services.0", {"name": "service-a", "min_tasks": 5, "max_tasks": 2}, "min_tasks (5) is greater than max_tasks"),
    ("services.1.name", "service-a", "services: 'service-a' is defined more than once"),
    ("environments.1.name", "production", "environments: 'production' is defined more than once"),
    ("default_environment", "qa", "default_environment 'qa' is not one of the environments"),
    ("services.1.name", "staging", "'staging' is both a service and an environment name"),
    ("naming.cluster", "{project}-{stage}", "naming.cluster: unknown placeholder {stage}"),
    ("environments.0.roles.admin", ["alice"], "environments.0.roles.admin: 'alice' is not a Slack user ID"),
    ("environments.0.channels", ["#ops"], "environments.0.channels: '#ops' is not a Slack channel ID"),
    ("cost.tag_key", "aws:createdBy", "cost.tag_key: 'aws:createdBy' is an AWS-generated tag"),
    ("cost.weekly_channel", "ops", "cost.weekly_channel: 'ops' is not a Slack channel ID"),
    (
        "alarms.service_rules.0",
        {"service": "service-a", "name_prefix": "x-", "name_pattern": "y"},
        "alarms.service_rules.0: a service rule needs exactly one of",
    ),
    ("alarms.service_rules.0.name_pattern", "(unclosed", "alarms.service_rules.0.name_pattern: '(unclosed'"),
]


@pytest.mark.parametrize(("dotted", "value", "message"), CROSS_FIELD)
def test_checks_across_fields_name_the_field_too(dotted: str, value: Any, message: str) -> None:
    data = with_value(base(), dotted, value)
    if dotted == "alarms.service_rules.0.name_pattern":
        data["alarms"]["service_rules"][0].pop("name_prefix")
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    count("config fields")
    assert message in str(raised.value)
