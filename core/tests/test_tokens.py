"""``ksef_auth.tokens.TokenClient`` against the simulator's ``/tokens``."""

from __future__ import annotations

import pytest

from ksef_auth import ConfigError, KsefError
from ksef_auth.tokens import TOKEN_PERMISSIONS, TokenClient, check_permissions, check_reference
from ksef_auth_simulator import RunningSimulator

from .test_flow_support import make_strategy, new_nip


def test_create_list_show_revoke(ksef_simulator: RunningSimulator) -> None:
    nip = new_nip()
    admin = ksef_simulator.sim.issue_ksef_token(
        nip, permissions=["CredentialsManage", "InvoiceRead"]
    )
    client = TokenClient(make_strategy(ksef_simulator, nip, token=admin))
    new = client.create(["invoiceread"], "ERP connector")
    assert new.token.reveal() not in repr(new) and new.token.reveal() not in str(new)
    assert new.token.reveal().startswith(new.reference_number + "|nip-" + nip)
    info = client.wait_active(new.reference_number, timeout=10, interval=0.05)
    assert info.status == "Active" and info.permissions == ("InvoiceRead",)
    assert str(info.context) == f"Nip:{nip}"
    listed = client.list(statuses=["Active"], description="ERP")
    assert [t.reference_number for t in listed] == [new.reference_number]
    assert client.get(new.reference_number).description == "ERP connector"
    client.revoke(new.reference_number)
    assert client.get(new.reference_number).status == "Revoked"


def test_a_generated_token_logs_in(ksef_simulator: RunningSimulator) -> None:
    nip = new_nip()
    admin = ksef_simulator.sim.issue_ksef_token(nip, permissions=["CredentialsManage"])
    client = TokenClient(make_strategy(ksef_simulator, nip, token=admin))
    new = client.create(["CredentialsManage"], "ERP connector")
    client.wait_active(new.reference_number, timeout=10, interval=0.05)
    fresh = make_strategy(ksef_simulator, nip, token=new.token.reveal())
    assert fresh.token().startswith("eyJ")


def test_permissions_are_the_2_9_0_set() -> None:
    assert TOKEN_PERMISSIONS[-1] == "CollectiveIdentifierManage"
    assert check_permissions(["InvoiceRead", "invoiceread", "COLLECTIVEIDENTIFIERMANAGE"]) == [
        "InvoiceRead",
        "CollectiveIdentifierManage",
    ]
    with pytest.raises(ConfigError, match="unknown token permission 'Everything'"):
        check_permissions(["Everything"])


def test_refusals_are_ksef_errors(ksef_simulator: RunningSimulator) -> None:
    nip = new_nip()
    reader = ksef_simulator.sim.issue_ksef_token(nip, permissions=["InvoiceRead"])
    client = TokenClient(make_strategy(ksef_simulator, nip, token=reader))
    with pytest.raises(KsefError) as info:
        client.create(["InvoiceWrite"], "needs CredentialsManage")
    assert info.value.http_status == 403
    with pytest.raises(ConfigError, match="5 to 256"):
        client.create(["InvoiceRead"], "ERP")


def test_a_reference_is_checked_before_anything_is_sent(ksef_simulator: RunningSimulator) -> None:
    nip = new_nip()
    token = ksef_simulator.sim.issue_ksef_token(nip)
    client = TokenClient(make_strategy(ksef_simulator, nip, token=token))
    for call in (client.get, client.revoke):
        with pytest.raises(ConfigError, match="a whole KSeF token") as info:
            call(token)
        assert token.split("|")[-1] not in str(info.value)
        with pytest.raises(ConfigError, match="not a KSeF token reference number"):
            call("../auth/sessions/current")
    assert ksef_simulator.sim.counters()["events"].get("logins_completed", 0) == 0
    assert check_reference(token.split("|")[0]) == token.split("|")[0]
