"""The embedded AWS: moto in server mode on a loopback port, seeded as if infra/ had been applied.

Every environment of the config is seeded, each in its own account: one with role_arn in the role's account
(moto files what is done with an assumed role's credentials under the role's account), the others in moto's
default account, the bot's. The alarm queue is the bot's, subscribed to every environment's alarm topic.
The default environment is seeded before anything else starts; the others (`OtherAccounts`, started last,
once the page answers) in a thread, which `wait_seeded` waits for: `make run` is ready as soon as with one
account, and the other environments a few seconds later (their rollout simulators say when).

Everything else in the sandbox (the bot's handlers, the rollout simulator, the log shippers, the page's
alarm control) reaches it over HTTP through `AWS_ENDPOINT_URL`, exactly as it would reach AWS.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import boto3

from bot.config import Config, Target
from sandbox.seed import (
    SANDBOX_PLAN,
    Seeded,
    SeedPlan,
    account_clients,
    alarm_queue,
    seed,
    seed_cost_explorer,
    subscribe_alarm_queue,
)

# Credentials moto accepts and AWS would refuse: nothing can reach a real account by accident.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_SESSION_TOKEN": "sandbox",
}


def aws_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """The variables that point boto3 (the bot's client factory and Powertools included) at moto."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # moto reports a service as COMPLETED only if this many tasks "run" when it is created.
        "MOTO_ECS_SERVICE_RUNNING": str(SANDBOX_PLAN.desired),
    }


class EmbeddedAWS:
    """moto's ThreadedMotoServer on 127.0.0.1:`port`, seeded from the bot's config when it starts."""

    name = "aws"
    port_variable = "SANDBOX_AWS_PORT"

    def __init__(
        self,
        config: Config,
        port: int,
        environ: MutableMapping[str, str] = os.environ,
        plan: SeedPlan = SANDBOX_PLAN,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.port = port
        self.environ = environ
        self.plan = plan
        self.secrets = dict(secrets or {})
        """Secrets Manager secrets to create (name -> value): the bot's Slack secrets."""
        self.seeded: Seeded | None = None
        self.others: dict[str, Seeded] = {}  # the other environments', by name
        self.queue_url = ""
        self._account_clients: dict[str, Callable[[str], Any]] = {}
        self._others_seeded = threading.Event()
        self._others_failed: Exception | None = None
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def region(self) -> str:
        return self.config.environment().region

    def client(self, service: str, env: str | None = None) -> Any:
        """A client in the account and region of environment `env` (the default one): through its role when
        it has one, as the bot reaches it."""
        environment = self.config.environment(env)
        if environment.role_arn is None:
            return boto3.client(service, region_name=environment.region, endpoint_url=self.endpoint_url)
        if environment.name not in self._account_clients:
            self._account_clients[environment.name] = account_clients(
                environment.role_arn, environment.region, self.endpoint_url
            )
        return self._account_clients[environment.name](service)

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        from sandbox import alarm_history, dynamodb_atomic, sns_cross_account
        from sandbox.metric_widget import install

        install()  # GetMetricWidgetImage, which moto lacks: the server runs moto in this process
        alarm_history.install()  # DescribeAlarmHistory (/ops timeline), which moto lacks too
        dynamodb_atomic.install()  # a conditional write checks and stores in one step, as in DynamoDB
        sns_cross_account.install()  # a workload account's alarm topic delivers to the bot's queue
        # One line per AWS call would bury everything else the terminal shows.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.environ.update(aws_environment(self.endpoint_url, self.region))
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        started = time.monotonic()
        self.seeded = seed(self.config, self.endpoint_url, self.plan)
        seed_cost_explorer(self.config, self.endpoint_url, self.plan)
        self.queue_url = alarm_queue(self.config, self.endpoint_url, self.seeded.topic_arn)
        if self.secrets:
            secretsmanager = self.client("secretsmanager")
            for name, value in self.secrets.items():
                secretsmanager.create_secret(Name=name, SecretString=value)
        took = time.monotonic() - started
        others = ", ".join(e.name for e in self.config.environments if e.name != self.config.environment().name)
        meanwhile = f"; {others} once the page answers" if others else ""
        accounts = len({e.account_id for e in self.config.environments})
        plural = "s" if accounts > 1 else ""
        home = self.config.environment().name
        return f"{self.endpoint_url}  (moto; {accounts} account{plural}; {home} seeded in {took:.1f} s{meanwhile})"

    def seed_others(self) -> None:
        """Seed the other environments in a thread (wait_seeded waits for it)."""
        threading.Thread(target=self._seed_others, name="seed-others", daemon=True).start()

    def _seed_others(self) -> None:
        """The environments besides the default one, each in its account, their alarm topics to the queue."""
        home = self.config.environment().name
        try:
            attributes = self.client("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            queue_arn = attributes["Attributes"]["QueueArn"]
            for environment in self.config.environments:
                if environment.name == home:
                    continue
                seeded = seed(self.config, self.endpoint_url, self.plan, env=environment.name)
                subscribe_alarm_queue(self.config, self.endpoint_url, queue_arn, environment.name, seeded.topic_arn)
                self.others[environment.name] = seeded
        except Exception as error:  # moto stopped under it (Ctrl-C while starting), or a bad seed
            self._others_failed = error
        finally:
            self._others_seeded.set()

    def wait_seeded(self, timeout: float) -> bool:
        """True once every environment is seeded, False if not within `timeout`; raises if seeding failed."""
        if not self._others_seeded.wait(timeout):
            return False
        if self._others_failed is not None:
            raise RuntimeError(f"could not seed the other environments: {self._others_failed}")
        return True

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() ends the serving loop but leaves the socket listening.
        inner = getattr(self._server, "_server", None)
        if inner is not None:
            inner.server_close()
        self._server = None


class LogShipper:
    """Ships a service's stdout (its JSON request logs) into the service's log group, as awslogs does.

    Lines are batched and sent every `interval` seconds with put_log_events, to a stream named like
    ECS names them (`ecs/<container>/<task id>`).
    """

    port = 0
    port_variable = ""

    def __init__(self, target: Target, client: Callable[[], Any], interval: float = 1.0) -> None:
        self.name = f"logs {target.name}"
        self.target = target
        self.stream = f"ecs/{target.container}/{uuid.uuid4().hex}"
        self.interval = interval
        self._client_factory = client
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shipped = 0

    def __call__(self, line: str) -> None:
        if not line.strip():
            return
        timestamp = int(time.time() * 1000)
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("timestamp"), str):
            timestamp = _epoch_ms(parsed["timestamp"]) or timestamp
        with self._lock:
            self._pending.append({"timestamp": timestamp, "message": line})

    def start(self) -> str:
        self._logs = self._client_factory()
        self._logs.create_log_stream(logGroupName=self.target.log_group, logStreamName=self.stream)
        self._thread = threading.Thread(target=self._run, name=f"logs-{self.target.name}", daemon=True)
        self._thread.start()
        return f"stdout -> {self.target.log_group} ({self.stream})"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            self.flush(self._logs)  # what the service said last, before moto stops

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush(self._logs)

    def flush(self, logs: Any) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        batch.sort(key=lambda event: event["timestamp"])
        try:
            logs.put_log_events(logGroupName=self.target.log_group, logStreamName=self.stream, logEvents=batch)
        except Exception as error:  # moto stopping under us at shutdown; the lines are only a copy
            print(f"sandbox: could not ship {len(batch)} log lines of {self.target.name}: {error}", flush=True)
            return
        self.shipped += len(batch)


def _epoch_ms(stamp: str) -> int | None:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class OtherAccounts:
    """The environments besides the default one, seeded in their accounts once everything else runs."""

    name = "accounts"
    port = 0
    port_variable = ""

    def __init__(self, aws: EmbeddedAWS) -> None:
        self.aws = aws

    def start(self) -> str:
        self.aws.seed_others()
        others = [e for e in self.aws.config.environments if e.name != self.aws.config.environment().name]
        return "seeding " + ", ".join(f"{e.name} (account {e.account_id})" for e in others)

    def stop(self) -> None:
        pass
