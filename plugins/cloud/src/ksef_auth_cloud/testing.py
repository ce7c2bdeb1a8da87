"""Test helpers for plugins that talk to AWS: moto's server mode as a real HTTP server on
loopback, and an AWS environment that holds only what a test gives it.

::

    from ksef_auth_cloud.testing import MotoServer, isolate_aws, use_test_credentials

    @pytest.fixture(scope="session")
    def moto():
        with MotoServer.running() as server:
            yield server

    def test_something(moto, monkeypatch, tmp_path):
        isolate_aws(monkeypatch, tmp_path)
        use_test_credentials(monkeypatch)
        moto.client("secretsmanager").create_secret(Name="x", SecretString="...")

moto (``pip install "moto[server]"``) is imported only when a server starts; nothing here is
imported by the plugin itself.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "AWS_VARIABLES",
    "REGION",
    "MotoServer",
    "closed_port",
    "isolate_aws",
    "use_test_credentials",
]

REGION = "eu-central-1"

#: every variable through which the environment could give boto3 credentials, a region or an
#: endpoint; :func:`isolate_aws` removes them all
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_KMS",
)


class _MonkeyPatch(Protocol):
    def setenv(self, name: str, value: str) -> None: ...

    def delenv(self, name: str, raising: bool = ...) -> None: ...


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolate_aws(monkeypatch: _MonkeyPatch, folder: Path) -> None:
    """No AWS settings at all: no variables, empty config and credentials files in ``folder``,
    and a metadata service endpoint on a closed loopback port (so no test reaches a real one)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{closed_port()}/")


def use_test_credentials(monkeypatch: _MonkeyPatch, region: str = REGION) -> None:
    """Dummy credentials and a region in the environment, as in any moto test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


class MotoServer:
    """A running moto server: ``url``, ``client(service)`` for setting things up, and
    ``enforce_iam(after)``. Start one with :meth:`running`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        host, port = server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[MotoServer]:
        """moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free port, stopped on exit."""
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            yield cls(server)
        finally:
            server.stop()

    def client(self, service: str, *, region: str = REGION, **credentials: str) -> Any:
        """A boto3 client of this server (``key=``/``secret=`` for another identity)."""
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=credentials.get("key", "testing"),
            aws_secret_access_key=credentials.get("secret", "testing"),
        )

    def enforce_iam(self, after: float) -> None:
        """moto's server-mode switch: check IAM policies after ``after`` more requests
        (``float("inf")``: never)."""
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=str(after).encode(),
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"moto refused reset-auth: HTTP {response.status}")
