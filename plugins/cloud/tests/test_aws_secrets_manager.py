"""aws-secrets-manager against moto's server over real HTTP on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from cloud_support import REGION, SECRET, Moto, closed_port

from ksef_auth import (
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    SharedSecret,
)
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_cloud import AwsSecretsManagerToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

Unique = Callable[[str], str]


@pytest.fixture
def secret_id(moto: Moto, unique: Unique) -> str:
    name = unique("shop/ksef-token")
    moto.client("secretsmanager").create_secret(Name=name, SecretString=SECRET)
    return name


@pytest.fixture
def json_secret_id(moto: Moto, unique: Unique) -> str:
    name = unique("shop/ksef")
    value = json.dumps({"ksef_token": SECRET, "nip": "5261040828"})
    moto.client("secretsmanager").create_secret(Name=name, SecretString=value)
    return name


class TestSecretsManagerContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, aws_env: None, moto: Moto, secret_id: str) -> AwsSecretsManagerToken:
        return AwsSecretsManagerToken(secret_id=secret_id, endpoint_url=moto.url)

    @pytest.fixture
    def unavailable_source(
        self, aws_env: None, moto: Moto, unique: Unique
    ) -> AwsSecretsManagerToken:
        return AwsSecretsManagerToken(secret_id=unique("absent"), endpoint_url=moto.url)

    @pytest.fixture
    def rotate(self, moto: Moto, secret_id: str) -> Callable[[], None]:
        client = moto.client("secretsmanager")
        return lambda: client.put_secret_value(SecretId=secret_id, SecretString=SECRET[::-1])

    @pytest.fixture
    def keyed_source(self, aws_env: None, moto: Moto, unique: Unique) -> AwsSecretsManagerToken:
        prefix = unique("firm")
        for n, nip in enumerate(NIPS[:2]):
            moto.client("secretsmanager").create_secret(
                Name=f"{prefix}/{nip}", SecretString=f"{SECRET}-{n}"
            )
        return AwsSecretsManagerToken(secret_id=prefix + "/{nip}", endpoint_url=moto.url)

    @pytest.fixture
    def failing_sources(
        self, aws_env: None, moto: Moto, unique: Unique, secret_id: str, json_secret_id: str
    ) -> dict[str, AwsSecretsManagerToken]:
        empty = unique("empty")
        moto.client("secretsmanager").create_secret(Name=empty, SecretString="  ")
        url = f"http://127.0.0.1:{closed_port()}"
        return {
            "missing json key": AwsSecretsManagerToken(
                secret_id=json_secret_id, json_key="token", endpoint_url=moto.url
            ),
            "json key of a plain secret": AwsSecretsManagerToken(
                secret_id=secret_id, json_key="token", endpoint_url=moto.url
            ),
            "empty secret": AwsSecretsManagerToken(secret_id=empty, endpoint_url=moto.url),
            "unreachable": AwsSecretsManagerToken(secret_id=secret_id, endpoint_url=url),
        }


def test_plain_string_secret(aws_env: None, moto: Moto, secret_id: str) -> None:
    credential = AwsSecretsManagerToken(secret_id=secret_id, endpoint_url=moto.url).load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == SECRET
    assert credential.source == f"aws-secrets-manager:{secret_id}"


def test_secret_by_arn_takes_the_arn_region(
    aws_env: None, moto: Moto, unique: Unique, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = moto.client("secretsmanager").create_secret(
        Name=unique("by-arn"), SecretString=SECRET
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    source = AwsSecretsManagerToken(secret_id=created["ARN"], endpoint_url=moto.url)
    assert source.load(REQUEST).token.reveal() == SECRET  # type: ignore[union-attr]


def test_json_secret_with_json_key(aws_env: None, moto: Moto, json_secret_id: str) -> None:
    source = AwsSecretsManagerToken(
        secret_id=json_secret_id, json_key="ksef_token", endpoint_url=moto.url
    )
    credential = source.load(REQUEST)
    assert isinstance(credential, KsefToken) and credential.token.reveal() == SECRET
    assert credential.source == f"aws-secrets-manager:{json_secret_id}#ksef_token"


def test_shared_secret_kind(aws_env: None, moto: Moto, secret_id: str) -> None:
    source = AwsSecretsManagerToken(
        secret_id=secret_id, endpoint_url=moto.url, kind="shared-secret"
    )
    assert isinstance(source.load(REQUEST), SharedSecret)


def test_binary_secret(aws_env: None, moto: Moto, unique: Unique) -> None:
    name = unique("binary")
    moto.client("secretsmanager").create_secret(Name=name, SecretBinary=SECRET.encode())
    credential = AwsSecretsManagerToken(secret_id=name, endpoint_url=moto.url).load(REQUEST)
    assert credential.token.reveal() == SECRET  # type: ignore[union-attr]


def test_missing_json_key_is_an_error_naming_the_keys(
    aws_env: None, moto: Moto, json_secret_id: str
) -> None:
    source = AwsSecretsManagerToken(
        secret_id=json_secret_id, json_key="token", endpoint_url=moto.url
    )
    with pytest.raises(CredentialError, match="has no key 'token'") as info:
        source.load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert "ksef_token, nip" in str(info.value)
    assert SECRET not in str(info.value)


def test_json_key_on_a_plain_secret_is_an_error(aws_env: None, moto: Moto, secret_id: str) -> None:
    source = AwsSecretsManagerToken(secret_id=secret_id, json_key="token", endpoint_url=moto.url)
    with pytest.raises(CredentialError, match="is not JSON") as info:
        source.load(REQUEST)
    assert SECRET not in str(info.value)


def test_not_found_is_not_available(aws_env: None, moto: Moto, unique: Unique) -> None:
    name = unique("absent")
    with pytest.raises(NotAvailable, match=f"secret {name} does not exist in {REGION}"):
        AwsSecretsManagerToken(secret_id=name, endpoint_url=moto.url).load(REQUEST)


def test_empty_secret_is_an_error(aws_env: None, moto: Moto, unique: Unique) -> None:
    name = unique("empty")
    moto.client("secretsmanager").create_secret(Name=name, SecretString="  ")
    with pytest.raises(CredentialError, match="is empty") as info:
        AwsSecretsManagerToken(secret_id=name, endpoint_url=moto.url).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_access_denied_names_the_code_and_the_secret(
    aws_home: None, moto: Moto, secret_id: str, denied: Callable[[], Any]
) -> None:
    source = AwsSecretsManagerToken(secret_id=secret_id, region=REGION, endpoint_url=moto.url)
    with denied() as access_secret, pytest.raises(CredentialError) as info:
        source.load(REQUEST)
    message = str(info.value)
    assert not isinstance(info.value, NotAvailable)
    assert ": AccessDenied (User: arn:aws:iam::" in message and secret_id in message
    assert "<" not in message
    assert "secretsmanager:GetSecretValue" in message
    assert SECRET not in message and access_secret not in message


def test_unreachable_endpoint_is_an_error_saying_what_to_check(aws_env: None) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    source = AwsSecretsManagerToken(secret_id="shop/ksef-token", endpoint_url=url)
    with pytest.raises(CredentialError, match="could not reach AWS Secrets Manager") as info:
        source.load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert url in str(info.value) and "endpoint_url" in str(info.value)


def test_no_credentials_is_not_available(aws_home: None, moto: Moto, secret_id: str) -> None:
    source = AwsSecretsManagerToken(secret_id=secret_id, region=REGION, endpoint_url=moto.url)
    with pytest.raises(NotAvailable, match="no AWS credentials here") as info:
        source.load(REQUEST)
    assert "instance metadata service" in str(info.value)


def test_no_credentials_with_the_metadata_probe_off(
    aws_home: None, moto: Moto, secret_id: str
) -> None:
    source = AwsSecretsManagerToken(
        secret_id=secret_id, region=REGION, endpoint_url=moto.url, metadata_timeout=0
    )
    with pytest.raises(NotAvailable, match=r"skipped \(metadata_timeout = 0\)"):
        source.load(REQUEST)


def test_no_region_is_an_error(aws_home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(CredentialError, match="no AWS region"):
        AwsSecretsManagerToken(secret_id="shop/ksef-token").load(REQUEST)


def test_a_missing_profile_is_an_error(aws_home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    with pytest.raises(CredentialError, match="ProfileNotFound") as info:
        AwsSecretsManagerToken(secret_id="shop/ksef-token", region=REGION).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_check_does_no_network_and_validates_options() -> None:
    # An endpoint nobody listens on: check must not care.
    url = f"http://127.0.0.1:{closed_port()}"
    AwsSecretsManagerToken(secret_id="x", endpoint_url=url).check(
        Environment.of("test"), ContextIdentifier.nip("5261040828")
    )
    with pytest.raises(ValueError, match="non-empty"):
        AwsSecretsManagerToken(secret_id=" ")
    with pytest.raises(ValueError, match="plain http to another host"):
        AwsSecretsManagerToken(secret_id="x", endpoint_url="http://secrets.example.com")
    with pytest.raises(ValueError, match="AWS region"):
        AwsSecretsManagerToken(secret_id="x", region="Frankfurt")
    with pytest.raises(ValueError, match="between 0 and 10"):
        AwsSecretsManagerToken(secret_id="x", metadata_timeout=-1)


def test_secret_never_in_repr_or_logs(
    aws_env: None, moto: Moto, json_secret_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore logs every response body at DEBUG; the source keeps its own out of the logs."""
    caplog.set_level(logging.DEBUG)
    source = AwsSecretsManagerToken(
        secret_id=json_secret_id, json_key="ksef_token", endpoint_url=moto.url
    )
    credential = source.load(REQUEST)
    logging.getLogger("test").info("loaded %s %r from %r", credential, credential, source)
    assert "Sending http request" in caplog.text  # botocore did log at DEBUG
    assert SECRET not in caplog.text
    assert SECRET not in repr(credential) and SECRET not in str(credential)
    assert SECRET not in repr(source)


def test_other_callers_response_bodies_are_still_logged(
    aws_env: None, moto: Moto, secret_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The log filter applies only during the source's own calls."""
    AwsSecretsManagerToken(secret_id=secret_id, endpoint_url=moto.url).load(REQUEST)
    caplog.set_level(logging.DEBUG)
    moto.client("secretsmanager").list_secrets()
    assert "Response body" in caplog.text
