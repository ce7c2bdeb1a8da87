"""Talking to AWS for the ``aws-*`` sources: finding credentials without a slow probe, building a
client with short timeouts, and turning AWS's errors into ksef-auth's.

**The metadata probe.** botocore's default credential chain ends with the EC2 instance metadata
service (IMDS, ``169.254.169.254``). Off EC2, on a laptop or in a container, that address often
swallows packets, and botocore waits its full timeout (1 s, twice: the IMDSv2 token, then the
IMDSv1 fallback) before saying "no credentials". A credential chain that puts AWS before ``env``
would pay that at every login. So the probe goes in two steps:

1. every provider *except* IMDS (environment, shared files, SSO, web identity, ECS/EKS
   container credentials, ...): no network at all;
2. only when that finds nothing: a TCP connect to the IMDS endpoint with a ``metadata_timeout``
   (0.25 s by default; 0 skips it, as does ``AWS_EC2_METADATA_DISABLED=true``). Only when it
   connects (on EC2, it does in about a millisecond) is botocore's full chain, IMDS included, used.

Nothing is cached: each ``load`` builds a new session and client, so no AWS credential or secret
outlives the call; the session manager calls ``load`` only when it has to log in.

boto3 and botocore are imported here, inside functions: ``import ksef_auth_cloud`` stays cheap.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import attrs

from ksef_auth import CredentialError, NotAvailable

log = logging.getLogger("ksef_auth.cloud")

DEFAULT_METADATA_TIMEOUT = 0.25
METADATA_ENDPOINT_IPV4 = "http://169.254.169.254/"
METADATA_ENDPOINT_IPV6 = "http://[fd00:ec2::254]/"
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
TOTAL_ATTEMPTS = 2
"""One retry: a dropped connection is retried once, an unreachable endpoint fails in seconds."""

_HINTS = {
    "AccessDeniedException": "grant {permission} on it to the AWS identity in use"
    " (and kms:Decrypt when it is encrypted with a customer-managed KMS key)",
    "AccessDenied": "grant {permission} on it to the AWS identity in use",
    "403": "grant {permission} on it to the AWS identity in use, or check what answers at the"
    " endpoint",
    "UnrecognizedClientException": "the AWS credentials here are not valid: renew or fix them",
    "InvalidClientTokenId": "the AWS credentials here are not valid: renew or fix them",
    "InvalidSignatureException": "the AWS secret access key here is wrong: fix it",
    "SignatureDoesNotMatch": "the AWS secret access key here is wrong: fix it",
    "ExpiredTokenException": "the AWS session credentials have expired: renew them",
    "ExpiredToken": "the AWS session credentials have expired: renew them",
    "DecryptionFailure": "AWS could not decrypt it: check the KMS key and its key policy",
    "KMSAccessDeniedException": "grant kms:Decrypt on its KMS key to the AWS identity in use",
    "InvalidKeyId": "its KMS key is disabled or missing: check the key",
    "DisabledException": "the KMS key is disabled: enable it (aws kms enable-key)",
    "KMSInvalidStateException": "the KMS key is not usable in its state (pending deletion or"
    " import): cancel the deletion or use another key",
    "KeyUnavailableException": "the KMS key is unavailable right now: try again later",
    "InvalidKeyUsageException": "the KMS key is not a SIGN_VERIFY key: create an asymmetric"
    " signing key (ECC_NIST_P256 or RSA_2048)",
    "UnsupportedOperationException": "the KMS key cannot do this (a symmetric or HMAC key?)",
}
_DEFAULT_HINT = "see the AWS error code in the AWS documentation of {operation}"


# --- options shared by the aws-* sources ----------------------------------------------------------


def _region(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (
        not value or not value.replace("-", "").isalnum() or value != value.lower()
    ):
        raise ValueError(f"region must be an AWS region such as eu-central-1, got {value!r}")


def _endpoint(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint_url must be an http(s) URL with a host, got {value!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"endpoint_url {value} is plain http to another host: the secret would cross the"
            " network unencrypted; use https (plain http is allowed for loopback only)"
        )


def _timeout(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value <= 10:
        raise ValueError(f"metadata_timeout must be between 0 and 10 seconds, got {value!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def region_field() -> Any:
    return attrs.field(
        default=None,
        validator=_region,
        metadata={
            "help": "AWS region; default: the ARN's region, then AWS_REGION, AWS_DEFAULT_REGION,"
            " then the AWS profile's region."
        },
    )


def endpoint_field() -> Any:
    return attrs.field(
        default=None,
        validator=_endpoint,
        metadata={
            "help": "Another endpoint URL (VPC endpoint, LocalStack, moto); https, or http on"
            " loopback only."
        },
    )


def metadata_timeout_field() -> Any:
    return attrs.field(
        default=DEFAULT_METADATA_TIMEOUT,
        converter=float,
        validator=_timeout,
        metadata={
            "help": "Seconds to wait for the EC2 instance metadata service when no other AWS"
            " credentials are found; 0 skips it."
        },
    )


def check_boto3() -> None:
    """Local only: boto3 must be importable (it is a dependency, but an image may be trimmed)."""
    from importlib.util import find_spec

    if find_spec("boto3") is None:
        raise CredentialError("boto3 is not installed; pip install ksef-auth-cloud (or boto3)")


# --- credentials and clients ----------------------------------------------------------------------


def resolve_region(option: str | None, arn: str | None = None) -> str | None:
    """The region: the option, the ARN's own region, AWS_REGION, AWS_DEFAULT_REGION, or None
    (botocore then reads the profile's region)."""
    if option:
        return option
    if arn and arn.startswith("arn:"):
        parts = arn.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def metadata_service_problem(botocore_session: Any, timeout: float) -> str | None:
    """Why the EC2 instance metadata service is not worth asking (None: it accepts connections).

    A TCP connect bounded by ``timeout``: no request is sent, nothing is read."""
    if timeout <= 0:
        return "the EC2 instance metadata service was skipped (metadata_timeout = 0)"
    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true":
        return "the EC2 instance metadata service is off (AWS_EC2_METADATA_DISABLED)"
    from botocore.utils import resolve_imds_endpoint_mode

    endpoint = botocore_session.get_config_variable("ec2_metadata_service_endpoint")
    if not endpoint:
        ipv6 = resolve_imds_endpoint_mode(botocore_session) == "ipv6"
        endpoint = METADATA_ENDPOINT_IPV6 if ipv6 else METADATA_ENDPOINT_IPV4
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError:
        return (
            f"the EC2 instance metadata service at {host} did not accept a connection"
            f" within {timeout:g} s"
        )


_NO_CREDENTIALS = (
    "no AWS credentials here (none in the environment, the AWS config and credentials files,"
    " SSO, web identity or container settings"
)


def aws_session(region: str | None, metadata_timeout: float) -> Any:
    """A ``boto3.Session`` that has credentials, or :class:`NotAvailable` (fast) when this host
    has none. See the module docstring for how the metadata service is probed."""
    import boto3
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        core = botocore.session.Session()
        core.get_component("credential_provider").remove("iam-role")
        credentials = core.get_credentials()
        if credentials is None:
            problem = metadata_service_problem(core, metadata_timeout)
            if problem is not None:
                raise NotAvailable(f"{_NO_CREDENTIALS}; {problem})")
            core = botocore.session.Session()  # the full chain, metadata service included
            credentials = core.get_credentials()
            if credentials is None:
                raise NotAvailable(
                    f"{_NO_CREDENTIALS}; the EC2 instance metadata address answers but gives no"
                    " role credentials)"
                )
    except BotoCoreError as exc:
        raise CredentialError(
            f"the AWS credential configuration here is unusable: {type(exc).__name__}: {exc}"
        ) from None
    log.debug("AWS credentials from %s", getattr(credentials, "method", "?"))
    return boto3.Session(botocore_session=core, region_name=region)


def client_config() -> Any:
    """Short timeouts and one retry, so an unreachable endpoint fails within seconds."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
        user_agent_extra="ksef-auth-cloud",
    )


# --- errors and logging ---------------------------------------------------------------------------

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ksef_auth_cloud_quiet", default=False
)


class _HideResponseBodies(logging.Filter):
    """Drops botocore's DEBUG "Response body" records while one of our calls runs: that body
    holds the secret. Other botocore logging, and other callers' bodies, are left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


_FILTER = _HideResponseBodies()


def _install_filter() -> None:
    logger = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _HideResponseBodies) for f in logger.filters):
        logger.addFilter(_FILTER)


@attrs.frozen
class Call:
    """One AWS call, described for error messages: ``label`` (AWS Secrets Manager), the
    ``operation`` (GetSecretValue), ``what`` (secret my/ksef), the IAM ``permission`` it needs,
    the error ``not_found`` codes that mean *not here* (NotAvailable), and the ``verb`` of
    "could not reach ... to read ..." (``sign with`` for a KMS key)."""

    label: str
    operation: str
    what: str
    permission: str
    not_found: tuple[str, ...]
    verb: str = "read"


def error_code_and_message(response: object) -> tuple[str, str]:
    """AWS's error code and message from a ``ClientError`` response.

    When the body was not AWS's JSON (an XML error from an emulator, an HTML page from a proxy),
    botocore reports the HTTP status as the code and the raw body as the message: the code is
    then taken from an ``<Code>`` element if there is one, and the body itself is never repeated.
    """
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    if message.lstrip().startswith("<"):
        inner_code = re.search(r"<Code>([\w.:-]{1,100})</Code>", message)
        inner_message = re.search(r"<Message>([^<]{0,300})</Message>", message)
        code = inner_code.group(1) if inner_code else code
        message = inner_message.group(1) if inner_message else ""
    return code, " ".join(message.split())[:300]


@contextmanager
def translated(call: Call, region: str | None, endpoint: str | None) -> Iterator[None]:
    """Run an AWS read with botocore's response bodies kept out of the logs, and turn its errors
    into :class:`NotAvailable` (not found, no credentials) or :class:`CredentialError`."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    _install_filter()
    where = f"in {region}" if region else "in the default region"
    token = _QUIET.set(True)
    try:
        yield
    except ClientError as exc:
        code, message = error_code_and_message(exc.response)
        if code in call.not_found:
            raise NotAvailable(f"{call.label}: {call.what} does not exist {where}") from None
        hint = _HINTS.get(code, _DEFAULT_HINT).format(
            permission=call.permission, operation=call.operation
        )
        raise CredentialError(
            f"{call.label} refused {call.operation} for {call.what} {where}: {code}"
            + (f" ({message})" if message else "")
            + f"; {hint}"
        ) from None
    except NoCredentialsError:
        raise NotAvailable("no AWS credentials here") from None
    except NoRegionError:
        raise CredentialError(
            f"no AWS region for {call.what}: set the region option, AWS_REGION or"
            " AWS_DEFAULT_REGION"
        ) from None
    except (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
    ) as exc:
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint or "its endpoint"
        raise CredentialError(
            f"could not reach {call.label} at {url} to {call.verb} {call.what}"
            f" ({type(exc).__name__}); check the network (proxy, VPC endpoint, firewall), the"
            " region and endpoint_url"
        ) from None
    except BotoCoreError as exc:
        raise CredentialError(
            f"{call.label}: {call.operation} for {call.what} failed: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        _QUIET.reset(token)
