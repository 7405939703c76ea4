"""/ops routes test <alarm-name>: where an alarm's card would go, and the service, environment and
severity the relay would find for it from its name. Nothing is sent; the alarm's tags, read only when it
fires, may still change the answer (the note says so)."""

from __future__ import annotations

from bot.alarms.model import AlarmKind, AlarmNotification, AlarmState, ServiceMap
from bot.config import Config
from bot.routing import Kind, Router, RouteTest, severity_of


def explain_alarm(config: Config, name: str, env_name: str | None = None) -> RouteTest:
    alarm = AlarmNotification(name, AlarmState.ALARM, None, "", 0.0, AlarmKind.METRIC)
    services = ServiceMap(config)
    environment = config.environment(env_name) if env_name else services.environment(alarm)
    service = services.service(alarm, environment)
    severity = severity_of(name)
    route = Router(config).resolve(Kind.ALARM, environment.name, service, name, severity)
    notes = [
        f"service: {service or 'none known from the name'} · environment: {environment.name} · "
        f"severity: {severity or 'none in the name'}"
    ]
    if config.routing.severity_tag_key or config.alarms.service_tag_key:
        notes.append("The alarm's tags are read only when it fires: a tag may still change its service or severity.")
    return RouteTest(f"alarm {name}", (("alarm card", route),), tuple(notes))
