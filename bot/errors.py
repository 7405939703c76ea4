"""Errors that reach a person: each says what failed, why, and what to do next."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from bot.slack_text import clip, escape


class BotError(Exception):
    """An error whose message is fit for Slack as it is."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(BotError):
    """The command was typed wrong; the hint is its usage line.

    `misspelt` (the parser's): the word as typed and the one known word closest to it. `suggestion`: the
    command as typed with that word (and at most two more) corrected, in plain text, set only when it parses:
    the error's message offers to run it (bot.render.error)."""

    def __init__(self, message: str, hint: str | None = None, misspelt: tuple[str, str] | None = None) -> None:
        super().__init__(message, hint)
        self.misspelt = misspelt
        self.suggestion: str | None = None


class NotAllowedError(BotError):
    """The person, the channel or the moment does not allow this action."""


class OperationError(BotError):
    """An AWS operation failed."""

    def __init__(self, operation: str, cause: str, hint: str, code: str = "") -> None:
        super().__init__(f"{operation} failed: {cause}.", hint)
        self.operation = operation
        self.code = code


AWS_MESSAGE_SHOWN = 250  # characters of an AWS message shown in a refusal (before escaping lengthens it)
_THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}
_MISSING = {
    "ServiceNotFoundException": "the ECS service does not exist",
    "ServiceNotActiveException": "the ECS service is not active (it is being deleted or was deleted)",
    "ClusterNotFoundException": "the ECS cluster does not exist",
    "RepositoryNotFoundException": "the ECR repository does not exist",
    "ImageNotFoundException": "the image tag does not exist",
    "ResourceNotFoundException": "the resource does not exist",
    "ObjectNotFoundException": "the scalable target does not exist",
}


def describe_client_error(operation: str, error: Exception) -> OperationError:
    """Turn a botocore error into an OperationError a person can act on."""
    response = getattr(error, "response", None) or {}
    details = response.get("Error", {})
    code = str(details.get("Code", "")) or type(error).__name__
    raw = str(details.get("Message", "")).strip().rstrip(".")
    if code in _THROTTLING:
        return OperationError(operation, "AWS is throttling requests", "Wait a minute and try again.", code)
    if code in _DENIED:
        return OperationError(
            operation,
            "the bot's IAM role is not allowed to do this",
            "Ask an admin to check the bot's permissions (template.yaml) and the environment's role.",
            code,
        )
    if code in _MISSING:
        return OperationError(operation, _MISSING[code], "Check the name with /status and the bot's config.", code)
    if code in {"InvalidParameterException", "ClientException", "ValidationException"}:
        # AWS's message can echo the request's values: outside text for Slack.
        cause = (
            f"AWS rejected the request ({escape(clip(raw, AWS_MESSAGE_SHOWN))})" if raw else "AWS rejected the request"
        )
        return OperationError(operation, cause, "Check the values and try again.", code)
    if code in {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    }:
        return OperationError(operation, "AWS could not be reached", "Try again in a moment.", code)
    return OperationError(
        operation,
        f"AWS answered {code}",
        "Try again; if it keeps failing, an admin can find details in the bot's logs.",
        code,
    )


@contextmanager
def aws_errors(explain: Callable[[Exception], BotError]) -> Iterator[None]:
    """Run AWS calls, turning botocore failures (ClientError, BotoCoreError) into what `explain` makes of them."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise explain(error) from error


def aws_operation(operation: str) -> AbstractContextManager[None]:
    """Run AWS calls, turning botocore failures into an OperationError naming `operation`."""
    return aws_errors(lambda error: describe_client_error(operation, error))
