"""The AWS KMS recipe of docs/guide/hardware-keys.md against moto's server: the page's `aws`
lines done through boto3 with the names they use, then its strategy file logging in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from kms_support import LocalCa, pem

import ksef_auth
from ksef_auth_cloud.testing import MotoServer

PAGE = Path(__file__).resolve().parents[3] / "docs" / "guide" / "hardware-keys.md"


def recipe(name: str) -> str:
    if not PAGE.is_file():
        pytest.skip(f"{PAGE} is not here (tests run from a checkout)")
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- recipe: {name} -->\n```\w+\n(.*?)^```", text, re.DOTALL | re.M)
    assert match, f"no recipe {name!r} in {PAGE}"
    return match.group(1)


def test_the_kms_recipe(
    aws: MotoServer, ca: LocalCa, make_ksef_simulator: Any, tmp_path: Path
) -> None:
    setup = recipe("kms-setup")
    alias = re.search(r"--alias-name (\S+)", setup).group(1)  # type: ignore[union-attr]
    parameter = re.search(r"ssm put-parameter --name (\S+)", setup).group(1)  # type: ignore[union-attr]
    assert "--key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY" in setup
    kms = aws.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="KSeF seal")
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=alias)["PublicKey"])
    aws.client("ssm").put_parameter(
        Name=parameter, Type="String", Value=pem(ca.issue(public)).decode(), Overwrite=True
    )

    simulator = make_ksef_simulator(require_xades=True, trusted_ca_pems=[ca.pem])
    strategy_file = recipe("kms-strategy")
    assert f'key_id = "{alias}"' in strategy_file and f'"{parameter}"' in strategy_file
    strategy_file = strategy_file.replace(
        'environment = "test"', f'environment = "{simulator.base_url}"'
    )
    strategy_file = strategy_file.replace(" }\n", f', endpoint_url = "{aws.url}" }}\n', 1)
    (tmp_path / "ksef-auth.toml").write_text(strategy_file)
    assert ksef_auth.load(tmp_path / "ksef-auth.toml").strategy("seal").token()
