"""Cold start: a fresh Python process imports handlers.slack and acks its first slash command.

Each run is one subprocess, timed from spawn to its end in this process, running the function's bundle as
lambda/Makefile builds it (build-SlackFunction into a temporary directory: bot/, handlers/, config/ with the
config's JSON form) from that directory, configured as template.yaml configures the function
(OPSBOT_CONFIG_FILE=config/example.yaml, AWS_LAMBDA_FUNCTION_NAME, so the Lambda client for lazy
invokes is created as in Lambda) except that the secrets come from the environment and the lazy
invoke itself is dropped (it is a network call to Lambda, not part of the ack). The signed event is
made here and read from stdin. Every child, the floors too, leaves with os._exit once its work is done (LEAVE):
a Lambda container does not exit after its first request, and the interpreter's teardown (a last collection
over every object, ~100 ms for the floor and more for the bot's bigger heap) is no part of a cold start.
Floor, measured in the same run the same way:
`python -c "import boto3, slack_bolt"`. A second floor does what any Slack app on Lambda with Bolt's lazy
listeners must do before its first ack, and nothing else: that import, plus the one boto3 Lambda client a
lazy invoke is sent with (its session, botocore's endpoint data and the Lambda service model). Median of
RUNS runs each, after one untimed run of each (so byte-code caches exist).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.support import AWS_TEST_ENVIRONMENT, COLD_CHILD, ROOT, median, ms, table

RUNS = 15
# Without SnapStart: spawn to first ack over the floor (issue 18: 1.6; it was 1.3, 2.19 measured then).
TARGET_RATIO = 1.6
# With SnapStart: after init (handlers.slack.prime, what the snapshot holds), the first ack over a warm one.
PRIMED_TARGET_RATIO = 2.0
WARM_ACKS = 20

# Appended to each child: stop the clock at the end of its work, not after the interpreter's teardown.
LEAVE = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"
FLOOR = "import boto3, slack_bolt"
LAMBDA_FLOOR = 'import boto3, slack_bolt; boto3.session.Session().client("lambda", region_name="us-east-1")'
# The child: everything from `import handlers.slack` to the ack is what a cold Lambda container does.
CHILD = COLD_CHILD
# SnapStart's case, as far as it can be run here: init primes (handlers.slack.prime, which the before-snapshot
# hook runs), then the process times its first ack and WARM_ACKS more, each a fresh signed /status. Then the
# after-restore hook, timed twice: as it runs, then with its new clients parsing their service models again
# (botocore's default, a loader for each session: the baseline of bot.aws.new_session).
PRIMED_CHILD = """
import json, sys, time
from types import SimpleNamespace
import handlers.slack
handlers.slack.prime()
class DropLazy:
    def start(self, function, request):
        pass
handlers.slack.get_handler().app.listener_runner.lazy_listener_runner = DropLazy()
context = SimpleNamespace(function_name="SlackFunction", function_version="1", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:SlackFunction:live",
    aws_request_id="primed", log_group_name="/aws/lambda/SlackFunction", log_stream_name="primed")
seconds = []
for event in json.load(sys.stdin):
    started = time.perf_counter()
    response = handlers.slack.handler(event, context)
    seconds.append(time.perf_counter() - started)
    if response["statusCode"] != 200:
        sys.exit(f"not acked: {response}")
print("ACKS " + json.dumps(seconds))
restores = []
for one_loader_a_session in (False, True):
    if one_loader_a_session:
        import bot.aws
        bot.aws._models.cache_clear()
    started = time.perf_counter()
    handlers.slack.after_restore()
    restores.append(time.perf_counter() - started)
print("RESTORES " + json.dumps(restores))
"""


CONFIG_FILE = "config/example.yaml"  # template.yaml's ConfigFile default, relative to the bundle
YAML_ONLY_CONFIG_FILE = "yaml-only/example.yaml"  # the same file without its JSON form beside it


MAKE_BUILD = ["make", "--silent", "-f", str(ROOT / "lambda" / "Makefile"), "build-SlackFunction"]


def build_bundle(directory: Path) -> Path:
    """The Slack function's bundle as `sam build` makes it (lambda/Makefile), plus a copy of the config without
    its JSON form (YAML_ONLY_CONFIG_FILE, the reading before the build made one)."""
    result = subprocess.run(
        [*MAKE_BUILD, f"ARTIFACTS_DIR={directory}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"lambda/Makefile build-SlackFunction failed: {result.stderr.strip()[-2000:]}")
    yaml_only = directory / YAML_ONLY_CONFIG_FILE
    yaml_only.parent.mkdir()
    shutil.copyfile(directory / CONFIG_FILE, yaml_only)
    return directory


def child_environment(bundle: Path, with_lambda_client: bool, config_file: str = CONFIG_FILE) -> dict[str, str]:
    from harness import BOT_TOKEN, SIGNING_SECRET

    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPSBOT_", "SLACK_", "AWS_", "POWERTOOLS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    environ.update(AWS_TEST_ENVIRONMENT)
    environ.update(
        {
            "OPSBOT_CONFIG_FILE": config_file,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "POWERTOOLS_SERVICE_NAME": "fargate-chatops",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(bundle),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",  # as Lambda sets it
        }
    )
    if with_lambda_client:
        environ["AWS_LAMBDA_FUNCTION_NAME"] = "SlackFunction"
    return environ


def signed_event(trigger_id: str = "cold-start") -> str:
    from harness import api_gateway_event, signed_headers

    body = urllib.parse.urlencode(
        {
            "command": "/status",
            "text": "",
            "user_id": "U0ADMIN",
            "channel_id": "C0OPS",
            "team_id": "T0TEST",
            "trigger_id": trigger_id,
            "response_url": "http://127.0.0.1:9/respond/cold",
        }
    )
    return json.dumps(api_gateway_event(body, signed_headers(body)))


def primed_environment(bundle: Path) -> dict[str, str]:
    """As deployed, with AWS at a closed port: each ack's replay record fails at once (the handler lets the
    request through, as when DynamoDB is unreachable), so the acks compare the bot's own work, not a network."""
    return child_environment(bundle, True) | {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}


def primed_acks(environ: dict[str, str]) -> tuple[list[float], list[float]]:
    """One process: prime, then the first ack and WARM_ACKS warm ones; the after-restore hook with the process's
    one loader and with a loader a session. In seconds."""
    events = "[" + ",".join(signed_event(f"primed-{n}") for n in range(WARM_ACKS + 1)) + "]"
    result = subprocess.run(
        [sys.executable, "-c", PRIMED_CHILD],
        input=events,
        env=environ,
        cwd=environ["PYTHONPATH"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "RESTORES " not in result.stdout:
        raise RuntimeError(f"primed child failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("ACKS ", "RESTORES ")))
    return json.loads(lines["ACKS"]), json.loads(lines["RESTORES"])


def run_once(code: str, environ: dict[str, str], stdin: str = "") -> tuple[float, float]:
    """The child's wall-clock seconds and its CPU seconds (user + system, which the load of other processes
    on a shared machine disturbs far less)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code + LEAVE],
        input=stdin,
        env=environ,
        cwd=environ["PYTHONPATH"],  # the bundle, as Lambda runs from /var/task
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# The handler with Python's collector left running through its start-up (handlers.slack pauses it in Lambda).
COLLECTING_CHILD = CHILD.replace(
    "import handlers.slack\n", "import handlers.slack\nhandlers.slack._started_up = True\n", 1
)


def measure(runs: int, bundle: Path) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU seconds of each variant; interleaved, so that a burst of load from elsewhere hits
    every variant alike."""
    deployed = child_environment(bundle, True)
    collecting = {k: v for k, v in deployed.items() if k != "AWS_EXECUTION_ENV"}  # no pause at import either
    variants = {
        "floor": (FLOOR, child_environment(bundle, False), ""),
        "floor with Lambda client": (LAMBDA_FLOOR, child_environment(bundle, False), ""),
        "handler": (CHILD, deployed, signed_event()),
        "handler without Lambda client": (CHILD, child_environment(bundle, False), signed_event()),
        "handler reading YAML": (CHILD, child_environment(bundle, True, YAML_ONLY_CONFIG_FILE), signed_event()),
        "handler collecting": (COLLECTING_CHILD, collecting, signed_event()),
        "handler before": (
            COLLECTING_CHILD,
            collecting | {"OPSBOT_CONFIG_FILE": YAML_ONLY_CONFIG_FILE},
            signed_event(),
        ),
    }
    primed_keys = ("primed first", "primed warm", "restore", "restore, a loader a session")
    times: dict[str, list[float]] = {name: [] for name in variants} | {name: [] for name in primed_keys}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for code, environ, stdin in variants.values():
        run_once(code, environ, stdin)  # untimed: byte-code caches, file system caches
    primed = primed_environment(bundle)
    for _ in range(runs):
        for name, (code, environ, stdin) in variants.items():
            if not name.startswith("floor"):
                stdin = signed_event()  # a fresh timestamp for each run
            elapsed, busy = run_once(code, environ, stdin)
            times[name].append(elapsed)
            cpu[name].append(busy)
        (first, *warm), (restore, restore_before) = primed_acks(primed)
        times["primed first"].append(first)
        times["primed warm"].append(median(warm))
        times["restore"].append(restore)
        times["restore, a loader a session"].append(restore_before)
    return times, cpu


ROWS = {
    "floor": 'floor: `python -c "import boto3, slack_bolt"`',
    "floor with Lambda client": "second floor: the same + the boto3 Lambda client a lazy invoke needs",
    "handler": "import handlers.slack + first /status ack (as deployed)",
    "handler without Lambda client": "the same without creating the Lambda client for lazy invokes",
    "handler reading YAML": "as deployed, but the config read from its YAML (no JSON form beside it)",
    "handler collecting": "as deployed, but the garbage collector left running through start-up",
    "handler before": "both: the YAML read and the collector running (as before issue 18's goal 1b)",
}


def main(runs: int = RUNS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cold-start-bundle-") as directory:
        times, cpu = measure(runs, build_bundle(Path(directory)))
    wall = {name: median(times[name]) for name in ROWS}
    busy = {name: median(cpu[name]) for name in ROWS}
    floor, lambda_floor, handler = wall["floor"], wall["floor with Lambda client"], wall["handler"]
    ratio = handler / floor
    cpu_ratio = busy["handler"] / busy["floor"]
    primed_first, primed_warm = median(times["primed first"]), median(times["primed warm"])
    primed_ratio = primed_first / primed_warm
    restore, restore_before = median(times["restore"]), median(times["restore, a loader a session"])
    rows = [
        [
            label,
            ms(wall[name]),
            f"{wall[name] / floor:.2f}",
            f"{wall[name] / lambda_floor:.2f}",
            ms(busy[name]),
            f"{busy[name] / busy['floor']:.2f}",
        ]
        for name, label in ROWS.items()
    ]
    primed_rows = [
        [f"warm ack (median of {WARM_ACKS} after the first)", ms(primed_warm), "1.00"],
        ["first ack after init (handlers.slack.prime done)", ms(primed_first), f"{primed_ratio:.2f}"],
    ]
    met = ratio <= TARGET_RATIO
    primed_met = primed_ratio <= PRIMED_TARGET_RATIO
    loadavg = os.getloadavg()
    markdown = "\n\n".join(
        [
            f"Median of {runs} fresh processes each, from spawn to the end of the child's work (it then leaves "
            "with os._exit: a container does not exit after its first request, and the interpreter's teardown "
            "is no part of a cold start), interleaved. The handler runs from the "
            "bundle lambda/Makefile builds (config/example.yaml with its JSON form), configured as "
            "template.yaml configures it (Lambda client created at start-up), secrets "
            "from the environment; the lazy invoke itself is dropped (a network call, not part of the ack). "
            f"Load average at the end: {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f} ({os.cpu_count()} CPUs).",
            "Without SnapStart:",
            table(
                ["process", "median ms", "ratio to floor", "ratio to second floor", "median CPU ms", "CPU ratio"],
                rows,
            ),
            f"Target: ratio <= {TARGET_RATIO}. Measured {ratio:.2f} -> "
            + ("**met**." if met else "**missed**.")
            + f" Over the second floor: {handler / lambda_floor:.2f}. In CPU time (user + system): {cpu_ratio:.2f}.",
            "With SnapStart, as far as it runs here (nothing restores a snapshot locally): a process runs the "
            "init phase's priming (`handlers.slack.prime`, the before-snapshot hook), then acks "
            f"{WARM_ACKS + 1} fresh signed /status requests in a row; AWS at a closed port, so each replay "
            f"record fails at once and is let through. Medians over the {runs} processes, interleaved with the "
            "runs above.",
            table(["ack in a primed process", "median ms", "ratio to warm"], primed_rows),
            f"Target: first ack after init <= {PRIMED_TARGET_RATIO} x a warm ack. Measured {primed_ratio:.2f} -> "
            + ("**met**." if primed_met else "**missed**."),
            "The after-restore hook (`handlers.slack.after_restore`, which Lambda runs in a restored copy before its "
            "first request: randomness re-seeded, the AWS clients made afresh), then timed in the same processes: "
            f"{ms(restore)} ms with the process's one botocore loader (bot.aws.new_session), against "
            f"{ms(restore_before)} ms when its new clients parse their service models again (a loader a session, "
            f"botocore's default): {restore / restore_before:.2f}.",
        ]
    )
    print(markdown)
    return {
        "title": "Cold start",
        "markdown": markdown,
        "floor_ms": floor * 1000,
        "lambda_floor_ms": lambda_floor * 1000,
        "ratio_to_lambda_floor": handler / lambda_floor,
        "handler_ms": handler * 1000,
        "handler_without_lambda_client_ms": wall["handler without Lambda client"] * 1000,
        "handler_reading_yaml_ms": wall["handler reading YAML"] * 1000,
        "handler_collecting_ms": wall["handler collecting"] * 1000,
        "cpu_ratio": cpu_ratio,
        "ratio": ratio,
        "target_met": met,
        "primed_first_ack_ms": primed_first * 1000,
        "primed_warm_ack_ms": primed_warm * 1000,
        "primed_ratio": primed_ratio,
        "restore_hook_ms": restore * 1000,
        "restore_hook_a_loader_a_session_ms": restore_before * 1000,
        "primed_target_met": primed_met,
    }


if __name__ == "__main__":
    main()
