"""moto in server mode, with the few AWS operations Terraform needs and moto 5.2 lacks (run as a script).

`python tests/infra/motoserver.py --owner PID --port-file FILE` starts moto.server.ThreadedMotoServer on
127.0.0.1 (a free port, written to FILE once it answers) and exits as soon as process PID is gone, or after
--max-seconds. tfreal.py starts it for the whole pytest run: under pytest-xdist the owner is the run's
controller, so the workers that did not apply infra/ still reach what it created, and nothing outlives the run.

Each extension below exists only because moto lacks the operation; production Terraform is never changed
for moto. They are registered in this process before the server starts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- moto extensions


def _extend_application_autoscaling() -> None:
    """Application Auto Scaling TagResource / UntagResource / ListTagsForResource (by scalable-target ARN).

    Why: moto 5.2 implements none of them and ignores RegisterScalableTarget's Tags. The aws provider reads a
    scalable target's tags after creating it (ListTagsForResource) and retries the unknown-operation error
    until its timeout, so `terraform apply` hangs on aws_appautoscaling_target. Tags are kept per ARN,
    as AWS does, so Terraform reads back what it wrote (default_tags included) and plans no change.
    """
    from moto.applicationautoscaling import responses

    tags_by_arn: dict[str, dict[str, str]] = {}
    original_register = responses.ApplicationAutoScalingResponse.register_scalable_target

    def register_with_tags(self: Any) -> str:
        body = original_register(self)
        tags = self._get_param("Tags") or {}
        tags_by_arn.setdefault(json.loads(body)["ScalableTargetARN"], {}).update(tags)
        return body

    def tag_resource(self: Any) -> str:
        tags_by_arn.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self: Any) -> str:
        tags = tags_by_arn.setdefault(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return "{}"

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": tags_by_arn.get(self._get_param("ResourceARN"), {})})

    cls = responses.ApplicationAutoScalingResponse
    cls.register_scalable_target = register_with_tags  # type: ignore[method-assign]
    cls.tag_resource = tag_resource  # type: ignore[attr-defined]
    cls.untag_resource = untag_resource  # type: ignore[attr-defined]
    cls.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]


EXTENSIONS = (_extend_application_autoscaling,)


# --------------------------------------------------------------------------- server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", type=int, required=True, help="exit when this process is gone")
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the port once serving")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="exit after this long in any case")
    args = parser.parse_args()

    for extend in EXTENSIONS:
        extend()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    partial = args.port_file.with_suffix(".partial")
    partial.write_text(str(port))
    partial.replace(args.port_file)
    deadline = time.monotonic() + args.max_seconds
    while _alive(args.owner) and time.monotonic() < deadline:
        time.sleep(0.5)
    # Nothing to flush: leave without shutting the server's threads down one by one.
    os._exit(0)


if __name__ == "__main__":
    main()
