"""Secrets by reference: a secret setting read from AWS Secrets Manager at start-up.

Environment variables of an AgentCore Runtime are plain text in its configuration, so a secret's
value never goes there. Instead every secret setting (a ``SecretStr`` field, e.g.
``TICKET_CLIENT_SECRET``) may be given as a reference, the same name with ``_ARN`` appended
(``TICKET_CLIENT_SECRET_ARN``), naming a Secrets Manager secret whose ``SecretString`` is the
value. The value itself, when set, wins: locally nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import SecretStr
from pydantic_settings import BaseSettings

REFERENCE_SUFFIX = "_ARN"


class SecretsClient(Protocol):
    """The one Secrets Manager call this needs (a boto3 ``secretsmanager`` client)."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


ClientFactory = Callable[[str], SecretsClient]
"""A Secrets Manager client for a region."""


class SecretReferenceError(ValueError):
    """A reference that cannot be resolved; the message names the variable, never a value."""


def boto3_client(region: str) -> SecretsClient:
    # boto3 is imported only when a reference is read: the CDK app (infra/, its own venv
    # without boto3) imports the settings classes to name the runtimes' environments.
    import boto3

    client: SecretsClient = boto3.client("secretsmanager", region_name=region)
    return client


def secret_fields(settings: type[BaseSettings]) -> list[str]:
    """The fields of ``settings`` that hold a secret (annotated ``SecretStr``)."""
    return [
        name
        for name, info in settings.model_fields.items()
        if SecretStr in getattr(info.annotation, "__args__", (info.annotation,))
    ]


def _env_name(settings: type[BaseSettings], field: str) -> str:
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def reference_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Each secret field's reference variable (``TICKET_CLIENT_SECRET_ARN``) → field."""
    return {_env_name(settings, f) + REFERENCE_SUFFIX: f for f in secret_fields(settings)}


def _region(arn: str) -> str:
    # arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager" or not parts[3]:
        raise ValueError("not a Secrets Manager secret ARN")
    return parts[3]


def resolve_references(
    settings: type[BaseSettings],
    environ: Mapping[str, str],
    client_for: ClientFactory = boto3_client,
) -> dict[str, SecretStr]:
    """The secret fields given by reference in ``environ``, read from Secrets Manager: field →
    value, to pass to the settings class. A variable holding the value itself takes precedence
    (its reference is then not read)."""
    resolved: dict[str, SecretStr] = {}
    refs = {v: f for v, f in reference_names(settings).items() if environ.get(v, "").strip()}
    if not refs:
        return resolved
    from botocore.exceptions import BotoCoreError, ClientError  # lazily, as above

    for variable, field in refs.items():
        arn = environ[variable].strip()
        if environ.get(variable.removesuffix(REFERENCE_SUFFIX)):
            continue
        try:
            answer = client_for(_region(arn)).get_secret_value(SecretId=arn)
        except ValueError as exc:
            raise SecretReferenceError(f"{variable}: {exc}") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SecretReferenceError(f"{variable}: the secret cannot be read ({code})") from None
        except BotoCoreError as exc:
            raise SecretReferenceError(
                f"{variable}: Secrets Manager cannot be reached ({type(exc).__name__})"
            ) from None
        value = answer.get("SecretString")
        if not isinstance(value, str) or not value:
            raise SecretReferenceError(f"{variable}: the secret has no text value")
        resolved[field] = SecretStr(value)
    return resolved
