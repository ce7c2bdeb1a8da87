"""Registration, option schemas and the AWS error reading, without a server."""

from __future__ import annotations

import pytest

import ksef_auth_cloud
from ksef_auth.components import options_of
from ksef_auth.manager import PluginManager
from ksef_auth_cloud import AwsSecretsManagerToken, AwsSsmToken, PaasToken
from ksef_auth_cloud.aws import error_code_and_message, resolve_region


def test_the_plugin_registers_three_sources() -> None:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_cloud, name="cloud")
    assert manager.get("credential_source", "paas").factory is PaasToken
    assert manager.get("credential_source", "aws-secrets-manager").factory is AwsSecretsManagerToken
    assert manager.get("credential_source", "aws-ssm").factory is AwsSsmToken


def test_the_entry_point_is_installed() -> None:
    manager = PluginManager(only="cloud")
    assert manager.get("credential_source", "aws-ssm").plugin == "cloud"


@pytest.mark.parametrize("factory", [PaasToken, AwsSecretsManagerToken, AwsSsmToken])
def test_every_option_has_help_and_only_the_password_is_secret(factory: type) -> None:
    options = options_of(factory)
    assert options and all(o.help for o in options)
    # ids and names only; the certificate password is a reference, never a value
    assert [o.name for o in options if o.secret] == ["password"]


def test_required_options() -> None:
    assert [o.name for o in options_of(AwsSecretsManagerToken) if o.required] == ["secret_id"]
    assert [o.name for o in options_of(AwsSsmToken) if o.required] == ["name"]
    assert not [o.name for o in options_of(PaasToken) if o.required]


def test_importing_the_plugin_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = "import ksef_auth_cloud, sys; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_region_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop/ksef-AbCdEf"
    assert resolve_region("eu-north-1", arn) == "eu-north-1"
    assert resolve_region(None, arn) == "eu-central-1"
    assert resolve_region(None, "shop/ksef") == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    assert resolve_region(None, "shop/ksef") == "us-east-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert resolve_region(None, "shop/ksef") is None


def test_error_code_and_message_from_json_and_from_raw_bodies() -> None:
    aws = {"Error": {"Code": "AccessDeniedException", "Message": "User: x is not authorized"}}
    assert error_code_and_message(aws) == ("AccessDeniedException", "User: x is not authorized")
    xml = {
        "Error": {
            "Code": "403",
            "Message": "<ErrorResponse><Error><Code>AccessDenied</Code>"
            "<Message>User: y is not authorized</Message></Error></ErrorResponse>",
        }
    }
    assert error_code_and_message(xml) == ("AccessDenied", "User: y is not authorized")
    html = {"Error": {"Code": "502", "Message": "<html><body>proxy says no</body></html>"}}
    assert error_code_and_message(html) == ("502", "")
    assert error_code_and_message({}) == ("Unknown", "")
