"""aws-ssm against moto's server over real HTTP on loopback."""

from __future__ import annotations

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
from ksef_auth_cloud import AwsSsmToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

Unique = Callable[[str], str]


@pytest.fixture
def parameter(moto: Moto, unique: Unique) -> str:
    name = "/" + unique("shop/ksef/token")
    moto.client("ssm").put_parameter(Name=name, Value=SECRET, Type="SecureString")
    return name


class TestSsmContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, aws_env: None, moto: Moto, parameter: str) -> AwsSsmToken:
        return AwsSsmToken(name=parameter, endpoint_url=moto.url)

    @pytest.fixture
    def unavailable_source(self, aws_env: None, moto: Moto, unique: Unique) -> AwsSsmToken:
        return AwsSsmToken(name="/" + unique("absent"), endpoint_url=moto.url)

    @pytest.fixture
    def rotate(self, moto: Moto, parameter: str) -> Callable[[], None]:
        client = moto.client("ssm")
        return lambda: client.put_parameter(
            Name=parameter, Value=SECRET[::-1], Type="SecureString", Overwrite=True
        )

    @pytest.fixture
    def keyed_source(self, aws_env: None, moto: Moto, unique: Unique) -> AwsSsmToken:
        prefix = "/" + unique("firm")
        for n, nip in enumerate(NIPS[:2]):
            moto.client("ssm").put_parameter(
                Name=f"{prefix}/{nip}", Value=f"{SECRET}-{n}", Type="SecureString"
            )
        return AwsSsmToken(name=prefix + "/{nip}", endpoint_url=moto.url)

    @pytest.fixture
    def failing_sources(
        self, aws_env: None, moto: Moto, unique: Unique, parameter: str
    ) -> dict[str, AwsSsmToken]:
        listed = "/" + unique("list")
        moto.client("ssm").put_parameter(Name=listed, Value=f"{SECRET},x", Type="StringList")
        url = f"http://127.0.0.1:{closed_port()}"
        return {
            "a StringList": AwsSsmToken(name=listed, endpoint_url=moto.url),
            "unreachable": AwsSsmToken(name=parameter, endpoint_url=url),
        }


def test_secure_string_is_decrypted(aws_env: None, moto: Moto, parameter: str) -> None:
    credential = AwsSsmToken(name=parameter, endpoint_url=moto.url).load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == SECRET
    assert credential.source == f"aws-ssm:{parameter}"


def test_shared_secret_kind(aws_env: None, moto: Moto, parameter: str) -> None:
    source = AwsSsmToken(name=parameter, endpoint_url=moto.url, kind="shared-secret")
    assert isinstance(source.load(REQUEST), SharedSecret)


def test_not_found_is_not_available(aws_env: None, moto: Moto, unique: Unique) -> None:
    name = "/" + unique("absent")
    with pytest.raises(NotAvailable, match=f"parameter {name} does not exist in {REGION}"):
        AwsSsmToken(name=name, endpoint_url=moto.url).load(REQUEST)


def test_plain_string_works_with_a_warning(
    aws_env: None, moto: Moto, unique: Unique, caplog: pytest.LogCaptureFixture
) -> None:
    name = "/" + unique("plain")
    moto.client("ssm").put_parameter(Name=name, Value=SECRET, Type="String")
    with caplog.at_level(logging.WARNING, logger="ksef_auth.cloud"):
        credential = AwsSsmToken(name=name, endpoint_url=moto.url).load(REQUEST)
    assert credential.token.reveal() == SECRET  # type: ignore[union-attr]
    assert "plain String parameter" in caplog.text and SECRET not in caplog.text


def test_string_list_is_refused(aws_env: None, moto: Moto, unique: Unique) -> None:
    name = "/" + unique("list")
    moto.client("ssm").put_parameter(Name=name, Value=f"{SECRET},other", Type="StringList")
    with pytest.raises(CredentialError, match="is a StringList") as info:
        AwsSsmToken(name=name, endpoint_url=moto.url).load(REQUEST)
    assert SECRET not in str(info.value)


def test_access_denied_names_the_code_and_the_parameter(
    aws_home: None, moto: Moto, parameter: str, denied: Callable[[], Any]
) -> None:
    source = AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url)
    with denied(), pytest.raises(CredentialError) as info:
        source.load(REQUEST)
    message = str(info.value)
    assert not isinstance(info.value, NotAvailable)
    assert "AccessDenied" in message and parameter in message and "ssm:GetParameter" in message
    assert SECRET not in message


def test_unreachable_endpoint_is_an_error(aws_env: None) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(CredentialError, match="could not reach AWS SSM Parameter Store") as info:
        AwsSsmToken(name="/shop/ksef/token", endpoint_url=url).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_no_credentials_is_not_available(aws_home: None, moto: Moto, parameter: str) -> None:
    with pytest.raises(NotAvailable, match="no AWS credentials here"):
        AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url).load(REQUEST)


def test_metadata_disabled_by_the_aws_variable(
    aws_home: None, moto: Moto, parameter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(NotAvailable, match="AWS_EC2_METADATA_DISABLED"):
        AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url).load(REQUEST)


def test_credentials_from_a_profile_file(
    aws_home: None, moto: Moto, parameter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual boto3 chain is kept: a profile in the shared credentials file works."""
    (aws_home / "aws-credentials").write_text(
        "[shop]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "shop")
    credential = AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url).load(REQUEST)
    assert credential.token.reveal() == SECRET  # type: ignore[union-attr]


def test_check_does_no_network() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    AwsSsmToken(name="/x", endpoint_url=url).check(
        Environment.of("test"), ContextIdentifier.nip("5261040828")
    )
    with pytest.raises(ValueError, match="non-empty"):
        AwsSsmToken(name="")


def test_secret_never_in_repr_or_logs(
    aws_env: None, moto: Moto, parameter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = AwsSsmToken(name=parameter, endpoint_url=moto.url)
    credential = source.load(REQUEST)
    logging.getLogger("test").info("loaded %s %r from %r", credential, credential, source)
    assert "Sending http request" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(credential) and SECRET not in repr(source)


def test_credentials_from_the_instance_metadata_service(
    aws_home: None, moto: Moto, parameter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 2 of the probe: nothing else configured, the metadata endpoint (moto's emulation of
    it) accepts connections, so botocore's full chain gets the instance role's credentials."""
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", moto.url + "/")
    source = AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url)
    assert source.load(REQUEST).token.reveal() == SECRET  # type: ignore[union-attr]
    skipped = AwsSsmToken(name=parameter, region=REGION, endpoint_url=moto.url, metadata_timeout=0)
    with pytest.raises(NotAvailable, match="metadata_timeout = 0"):
        skipped.load(REQUEST)
