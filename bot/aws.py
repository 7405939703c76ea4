"""Every boto3 client the bot uses comes from this factory.

It honours one endpoint URL (moto locally), assumes an environment's role when the config names one,
uses botocore's adaptive retry mode against throttling, and checks each call against the IAM table in
bot.permissions: in strict mode (OPSBOT_STRICT_ACTIONS=1, set by the tests) an undeclared call raises
before it is sent, so the template's policies cannot drift from what the code does.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import BotoCoreError, ClientError

from bot.clock import Clock, system_clock
from bot.errors import OperationError, describe_client_error
from bot.permissions import ALL_ACTIONS, Function, actions_for

if TYPE_CHECKING:
    from botocore.loaders import Loader

    from bot.config import EnvironmentConfig

CallObserver = Callable[[str, dict[str, Any]], None]
_observers: list[CallObserver] = []
_observers_lock = threading.Lock()


class UndeclaredActionError(RuntimeError):
    """The code called an AWS action that bot/permissions.py (and so template.yaml) does not grant."""


def _strict() -> bool:
    return os.environ.get("OPSBOT_STRICT_ACTIONS") == "1"


# Operations whose IAM action has another name than the API operation (Lambda Developer Guide: "a special case
# where the action identifier differs from the API operation").
IAM_ACTION_OF_OPERATION = {"lambda:Invoke": "lambda:InvokeFunction"}


def _before_call(service: str, function: Function | None = None) -> Callable[..., None]:
    """The check and the observers of every call of a client; with `function`, strict mode allows only what
    bot/permissions.py grants that function (as its role in template.yaml does), not any function's grants."""
    granted = ALL_ACTIONS if function is None else actions_for(function)

    def check(model: Any, params: dict[str, Any], **_: Any) -> None:
        operation = f"{service}:{model.name}"
        action = IAM_ACTION_OF_OPERATION.get(operation, operation)
        if _strict() and action not in granted:
            if function is None or action not in ALL_ACTIONS:
                raise UndeclaredActionError(f"{action} is not declared in bot/permissions.py")
            raise UndeclaredActionError(f"{action} is not granted to {function.value} in bot/permissions.py")
        with _observers_lock:
            observers = list(_observers)
        for observe in observers:
            observe(action, params)

    return check


@contextmanager
def recorded_calls() -> Iterator[list[str]]:
    """Collect every AWS action ("ecs:UpdateService", ...) made by factory clients in the block."""
    calls: list[str] = []

    def record(action: str, _params: dict[str, Any]) -> None:
        calls.append(action)

    with _observers_lock:
        _observers.append(record)
    try:
        yield calls
    finally:
        with _observers_lock:
            _observers.remove(record)


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class RoleNotAssumedError(OperationError):
    """An environment's role could not be assumed: the bot cannot act in that environment's account (the
    others are not concerned). The message names the environment and the role, the hint what to check."""

    def __init__(self, environment: str, role_arn: str, external_id: str | None, error: Exception) -> None:
        operation = f"Assuming the role of {environment} ({role_arn})"
        described = describe_client_error(operation, error)
        if described.code in _DENIED:
            condition = (
                "its sts:ExternalId condition must equal the environment's external_id (or OPSBOT_EXTERNAL_ID)"
                if external_id
                else "if it has an sts:ExternalId condition, set the environment's external_id (or OPSBOT_EXTERNAL_ID)"
            )
            cause = f"AWS denied sts:AssumeRole ({described.code})"
            account = role_arn.split(":")[4]
            role_name = role_arn.rpartition("/")[2]
            hint = (
                f"Check the role's trust policy in account {account}: it must trust the bot's role, and {condition}. "
                f"The bot's own policy (template.yaml) allows sts:AssumeRole only on the stack's workload roles: "
                f"account {account} must be in the bot stack's WorkloadAccountIds, and the role name ({role_name}) "
                "must be the stack's WorkloadRoleName. If the bot's function roles were replaced (the stack deleted "
                "and deployed again), the trust policy still names the old ones (IAM keeps a deleted role's unique "
                f"id, not its name): re-apply bot_access in account {account}'s infra/."
            )
        else:
            cause = described.message.removeprefix(f"{operation} failed: ").rstrip(".")
            hint = described.hint or ""
        super().__init__(operation, cause, hint, described.code)
        self.environment = environment
        self.role_arn = role_arn


MUTATING_PREFIXES = ("Register", "Deregister", "Update", "Create", "Delete", "Put", "Set", "Start", "Stop")


def is_platform_mutation(action: str) -> bool:
    """A call that changes the platform (not the bot's own state table)."""
    service, _, operation = action.partition(":")
    return service not in {"dynamodb", "sts", "secretsmanager", "lambda"} and operation.startswith(MUTATING_PREFIXES)


@functools.cache
def _models(data_path: str | None) -> Loader:
    from botocore.loaders import create_loader

    return create_loader(data_path)


def new_session(
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    region_name: str | None = None,
) -> boto3.session.Session:
    """A boto3 session whose service models and endpoints come from the process's one botocore loader.

    botocore gives each session a loader of its own, which parses a service's model (JSON, up to megabytes)
    again for the first client of that service in each session (botocore#3078): an assumed role's session,
    renewed every hour, and the sessions made afresh after a SnapStart restore would re-read what init
    parsed. The loader holds only botocore's static data (no credentials, region or account), read once;
    AWS_DATA_PATH is honoured. The default profile's sessions only, as the bot's are (no profile_name).
    """
    core = botocore.session.get_session()
    loader = _models(core.get_config_variable("data_path"))
    core.register_component("data_loader", loader)
    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        region_name=region_name,
        botocore_session=core,
    )
    paths = loader.search_paths  # boto3 adds its own data path to each new session's loader: keep it once
    paths[:] = list(dict.fromkeys(paths))
    return session


class ClientFactory:
    """Creates and caches boto3 clients per (service, region, role)."""

    ROLE_SESSION_NAME = "fargate-chatops"
    REFRESH_MARGIN_SECONDS = 300

    # For calls on Slack's 3-second ack path: one attempt with short timeouts, so that a slow or unreachable
    # AWS costs the ack at most about a second (the default below could spend 3 s connecting, five times).
    # total_max_attempts counts the first try; botocore reads "max_attempts" as retries after it (2 tries).
    QUICK = BotocoreConfig(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=0.5, read_timeout=0.5)

    def __init__(
        self,
        endpoint_url: str | None = None,
        max_attempts: int = 5,
        clock: Clock = system_clock,
        function: Function | None = None,
    ) -> None:
        """`clock` tells when an assumed role's credentials are due for renewal; `function` is the Lambda
        function whose role the clients call with (strict mode checks each call against its grants)."""
        self.endpoint_url = endpoint_url
        self.function = function
        self.clock = clock
        self._botocore_config = BotocoreConfig(
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            connect_timeout=3,
            read_timeout=10,
        )
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str, str | None, str | None, bool], Any] = {}
        self._role_sessions: dict[tuple[str, str, str | None], tuple[boto3.session.Session, float]] = {}

    def for_environment(
        self, service: str, environment: EnvironmentConfig, *, region: str | None = None, quick: bool = False
    ) -> Any:
        """A client acting in `environment`'s account (in its region unless `region` says another): its role
        assumed with its external id when it names one. A role that cannot be assumed raises
        RoleNotAssumedError, naming the environment and the role; no other environment is concerned."""
        role = environment.role_arn
        try:
            return self.client(
                service, region or environment.region, role, external_id=environment.external_id, quick=quick
            )
        except (ClientError, BotoCoreError) as error:
            if role is None:
                raise
            raise RoleNotAssumedError(environment.name, role, environment.external_id, error) from error

    def client(
        self,
        service: str,
        region: str,
        role_arn: str | None = None,
        *,
        external_id: str | None = None,
        quick: bool = False,
    ) -> Any:
        """A cached client; quick=True: one with the QUICK configuration (for the ack path). With `role_arn`,
        the role is assumed (with `external_id` as sts:ExternalId when given) and renewed before it expires."""
        key = (service, region, role_arn, external_id, quick)
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None and (role_arn is None or self._role_fresh(role_arn, region, external_id)):
                return cached
        session = self._session_for(region, role_arn, external_id)
        client = session.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
            config=self.QUICK if quick else self._botocore_config,
        )
        client.meta.events.register(
            f"before-call.{client.meta.service_model.service_id.hyphenize()}.*", _before_call(service, self.function)
        )
        with self._lock:
            self._clients[key] = client
        return client

    def forget(self) -> None:
        """Drop every cached client, session and assumed role: the next call makes them afresh. After a
        SnapStart restore, their connection pools and credentials belong to the moment of the snapshot."""
        with self._lock:
            self._clients.clear()
            self._role_sessions.clear()
            self._session = None

    def _base_session(self) -> boto3.session.Session:
        with self._lock:
            if self._session is None:
                self._session = new_session()
            return self._session

    def _role_fresh(self, role_arn: str, region: str, external_id: str | None) -> bool:
        entry = self._role_sessions.get((role_arn, region, external_id))
        return entry is not None and entry[1] - self.clock() > self.REFRESH_MARGIN_SECONDS

    def _session_for(self, region: str, role_arn: str | None, external_id: str | None) -> boto3.session.Session:
        if role_arn is None:
            return self._base_session()
        with self._lock:
            if self._role_fresh(role_arn, region, external_id):
                return self._role_sessions[(role_arn, region, external_id)][0]
        sts = self.client("sts", region)
        extra = {"ExternalId": external_id} if external_id else {}
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=self.ROLE_SESSION_NAME, **extra)["Credentials"]
        session = new_session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        expires = credentials["Expiration"].timestamp()
        with self._lock:
            self._role_sessions[(role_arn, region, external_id)] = (session, expires)
        return session
