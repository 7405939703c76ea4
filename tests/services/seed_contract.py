"""The seed's API contract, written down as JSON Schemas: every key its clients read, with its type.

Sources: the seed README's endpoint list and example responses (its "Services" section), plus the keys its
services returned beyond those examples, which its clients read just the same (`endpoints` of /api/info,
`data` of /process, `uptime` of /internal/status, `detail` of an error reply). Each schema requires the
seed's keys and allows any other: our services may add keys, never remove or retype one. Values a client
can compare against (service names, status words) are fixed with `const`; values that vary are typed.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
TIMESTAMP: Schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"}
"""ISO-8601 as the seed wrote it ("2024-01-01T00:00:00"); what follows the seconds (fraction, offset) is free."""


def seed_object(**properties: Schema) -> Schema:
    """An object that must have every one of `properties` (the seed's keys) and may have more."""
    return {"type": "object", "required": list(properties), "properties": properties}


def health(service: str) -> Schema:
    # {"status":"healthy","service":"service-a"}
    return seed_object(status={"const": "healthy"}, service={"const": service})


SEED_API_ENDPOINTS = ("/api/hello", "/api/info", "/api/backend")
"""What the seed's /api/info listed under `endpoints`."""

HELLO = seed_object(
    # {"message":"Hello from Service A","timestamp":"2024-01-01T00:00:00","service":"service-a"}
    message={"const": "Hello from Service A"},
    timestamp=TIMESTAMP,
    service={"const": "service-a"},
)

INFO = seed_object(
    # {"service":"service-a","version":"1.0.0","description":"API Gateway Service","endpoints":[...]}
    service={"const": "service-a"},
    version=STRING,
    description={"const": "API Gateway Service"},
    endpoints={
        "type": "array",
        "items": STRING,
        "allOf": [{"contains": {"const": path}} for path in SEED_API_ENDPOINTS],
    },
)

PROCESS = seed_object(
    # {"service":"service-b","status":"processed","processing_time":"0.25s","timestamp":"...",
    #  "data":{"result":"success","items_processed":42}}
    service={"const": "service-b"},
    status={"const": "processed"},
    processing_time={"type": "string", "pattern": r"^\d+(\.\d+)?s$"},
    timestamp=TIMESTAMP,
    data=seed_object(result=STRING, items_processed={"type": "integer", "minimum": 0}),
)

BACKEND = seed_object(
    # {"service_a":"success","service_b_response":{...},"timestamp":"2024-01-01T00:00:00"}
    service_a={"const": "success"},
    service_b_response=PROCESS,
    timestamp=TIMESTAMP,
)

INTERNAL_STATUS = seed_object(
    # {"service":"service-b","version":"1.0.0","status":"running","uptime":"healthy"}
    service={"const": "service-b"},
    version=STRING,
    status={"const": "running"},
    uptime={"const": "healthy"},
)

ERROR = seed_object(
    # FastAPI's error reply, {"detail":"..."}: the seed's /api/backend when service-b failed, and any 404.
    detail=STRING,
)

SEED_ANSWERS: dict[tuple[str, str], Schema] = {
    ("service-a", "/health"): health("service-a"),
    ("service-a", "/api/hello"): HELLO,
    ("service-a", "/api/info"): INFO,
    ("service-a", "/api/backend"): BACKEND,
    ("service-b", "/health"): health("service-b"),
    ("service-b", "/process"): PROCESS,
    ("service-b", "/internal/status"): INTERNAL_STATUS,
}
"""Every endpoint of the seed README's list, by (service, path): the shape of its 200 answer."""


def required_paths(schema: Schema, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every seed key `schema` requires, nested ones included, as a path of keys (("data", "result"))."""
    paths = []
    for key in schema.get("required", []):
        path = (*prefix, key)
        paths.append(path)
        paths.extend(required_paths(schema["properties"][key], path))
    return paths
