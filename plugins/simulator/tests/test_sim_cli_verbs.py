"""The simulator's CLI verbs against a served simulator: token issue/new/revoke, grant,
counters, reset, nips; their errors (exit 2 usage, 6 unreachable) never echo a token."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import NIP, OTHER_NIP
from ksef_auth.nip import example_nips
from sim_client import token_login, wait_status, xades_login
from sim_signing import Signer, auth_request_xml, hand_sign

from ksef_auth_simulator.cli import simulator
from ksef_auth_simulator.refs import KSEF_TOKEN
from ksef_auth_simulator.server import RunningSimulator


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, standard output, everything printed): stderr alone is not portable across
    click 8.1 (mixed by default) and 8.2+ (separate)."""
    result = CliRunner().invoke(simulator, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.output


@pytest.fixture
def url(ksef_simulator: RunningSimulator) -> str:
    return ksef_simulator.base_url


def test_token_issue_prints_a_token_of_the_real_format(
    url: str, ksef_simulator: RunningSimulator
) -> None:
    code, out, _ = run("token", "issue", NIP, "--url", url)
    assert code == 0
    token = out.strip()
    match = KSEF_TOKEN.match(token)
    assert match and match.group("context") == NIP and out == token + "\n"
    with httpx.Client(base_url=url) as http:
        access = token_login(http, token, NIP)["accessToken"]["token"]
    assert ksef_simulator.sim.whoami(access)["context"]["value"] == NIP
    # the URL from the environment, the root URL works too
    code, out, _ = run("token", "issue", OTHER_NIP, env={"KSEF_SIMULATOR_URL": url[:-3]})
    assert code == 0 and f"|nip-{OTHER_NIP}|" in out


def test_token_issue_many_to_an_env_file(
    url: str, tmp_path: Path, ksef_simulator: RunningSimulator
) -> None:
    nips = example_nips(500)
    clients = tmp_path / "clients.txt"
    clients.write_text("# our clients\n" + "\n".join(nips) + "\n\n")
    out_file = tmp_path / "tokens.env"
    code, out, err = run(
        "token", "issue", "--contexts", str(clients), "--format", "env", "--out", str(out_file),
        "--permission", "InvoiceRead", "--url", url,
    )  # fmt: skip
    assert code == 0 and "KSEF_TOKEN_" not in out and "500 token(s)" in err
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    lines = out_file.read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [f"KSEF_TOKEN_{n}" for n in nips]
    token = lines[42].split("=", 1)[1].strip("'")
    sourced = subprocess.run(
        ["sh", "-c", f'set -a; . "{out_file}"; printf %s "$KSEF_TOKEN_{nips[42]}"'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sourced.stdout == token  # a shell can source the file
    with httpx.Client(base_url=url) as http:
        access = token_login(http, token, nips[42])["accessToken"]["token"]
    assert ksef_simulator.sim.whoami(access)["permissions"] == ["InvoiceRead"]


def test_token_issue_from_csv_as_json(url: str, tmp_path: Path) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(f"name;nip\nFirst;{NIP}\nSecond;{OTHER_NIP}\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"name,nip\nFirst,{NIP}\nTypo,123\nSecond,{OTHER_NIP}\nAgain,{NIP}\n")
    code, _, out = run("token", "issue", "--contexts", str(bad), "--url", url)
    assert code == 2 and "2 problem(s)" in out and "bad.csv:3" in out and "bad.csv:5" in out
    code, out, _ = run(
        "token", "issue", "--contexts", str(clients), "--format", "json", "--url", url
    )
    assert code == 0
    listing = json.loads(out)
    assert [item["nip"] for item in listing] == [NIP, OTHER_NIP]
    assert all(item["token"].startswith(item["referenceNumber"] + "|") for item in listing)
    code, out, _ = run(
        "token", "issue", OTHER_NIP, "--format", "env", "--var", "TOKEN_{nip}", "--url", url
    )
    assert code == 0 and out.startswith(f"TOKEN_{OTHER_NIP}=")


def test_token_revoke_and_counters(url: str, ksef_simulator: RunningSimulator) -> None:
    code, out, _ = run("token", "issue", NIP, "--url", url)
    token = out.strip()
    with httpx.Client(base_url=url) as http:
        token_login(http, token, NIP)
        code, _, err = run("token", "revoke", token.split("|")[0], "--url", url)
        assert code == 0 and "revoked" in err
        from sim_client import start_token_auth

        status = wait_status(http, start_token_auth(http, token, NIP).json())["status"]
    assert status["details"] == ["Token unieważniony"]
    code, out, _ = run("counters", "--url", url)
    assert code == 0
    assert (
        "logins_completed" in out and "POST /auth/ksef-token" in out and "contexts seen: 1" in out
    )
    code, out, _ = run("counters", "--context", NIP, "--json", "--url", url)
    data = json.loads(out)
    assert data["context"] == NIP and data["events"]["logins_completed"] == 1
    assert data["endpoints"]["POST /auth/ksef-token"]["calls"] == 2
    code, out, _ = run("counters", "--context", OTHER_NIP, "--url", url)
    assert code == 0 and "(none)" in out
    code, _, _ = run("reset", "--url", url)
    assert code == 0 and ksef_simulator.sim.counters()["events"] == {}


def test_grant_lets_a_firm_seal_log_in_for_clients(
    url: str, seal: Signer, tmp_path: Path, ksef_simulator: RunningSimulator
) -> None:
    """The seal is NIP's; after the grant it logs in to OTHER_NIP's context through XAdES."""

    def login(context: str) -> dict:
        with httpx.Client(base_url=url) as http:
            challenge = http.post("/auth/challenge").json()["challenge"]
            init = xades_login(http, hand_sign(auth_request_xml(challenge, context), seal))
            return wait_status(http, init.json())["status"]

    assert login(OTHER_NIP)["code"] == 415
    code, out, _ = run("grant", OTHER_NIP, "--to-nip", NIP, "--url", url)
    assert code == 0
    assert out == f"granted InvoiceRead, InvoiceWrite to Nip {NIP} in {OTHER_NIP}\n"
    assert login(OTHER_NIP)["code"] == 200
    # by certificate: its SHA-256 fingerprint, in many contexts at once
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = tmp_path / "seal.pem"
    pem.write_bytes(seal.cert.public_bytes(Encoding.PEM))
    clients = tmp_path / "clients.txt"
    clients.write_text("\n".join(example_nips(3)))
    code, out, _ = run(
        "grant", "--contexts", str(clients), "--to-certificate", str(pem),
        "--permission", "InvoiceRead", "--url", url,
    )  # fmt: skip
    assert code == 0 and "in 3 contexts" in out
    fingerprint = out.split(" to Fingerprint ")[1].split()[0]
    assert ksef_simulator.sim.permissions_for(example_nips(3)[2], "Fingerprint", fingerprint) == [
        "InvoiceRead"
    ]


def test_seeded_token_from_token_new_logs_in(tmp_path: Path) -> None:
    code, out, _ = run("token", "new", NIP)
    token = out.strip()
    assert code == 0 and KSEF_TOKEN.match(token)
    from ksef_auth_simulator.cli import _seed

    assert _seed((f"{NIP}={token}",)) == [(NIP, token)]


def test_nips() -> None:
    code, out, _ = run("nips", "5", "--start", "3")
    assert code == 0 and out.splitlines() == example_nips(5, start=3)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["token", "issue", NIP], 2, "KSEF_SIMULATOR_URL"),
        (["token", "issue", "--url", "http://127.0.0.1:9/v2"], 2, "at least one NIP"),
        (["token", "issue", "123", "--url", "http://127.0.0.1:9/v2"], 2, "1 problem(s)"),
        (["token", "issue", NIP, "--url", "ftp://x"], 2, "simulator's URL"),
        (["token", "issue", NIP, "--url", "http://u:p@127.0.0.1:9/v2"], 2, "user name"),
        (["token", "issue", NIP, "--url", "http://127.0.0.1:9/v2"], 6, "no simulator answers"),
        (["--port", "8800", "counters"], 2, "--port: options of serving"),
        (["grant", OTHER_NIP, "--url", "http://127.0.0.1:9/v2"], 2, "exactly one of"),
        (["grant", OTHER_NIP, "--to-pesel", "1", "--url", "http://127.0.0.1:9"], 2, "PESEL"),
        (["token", "new", "1234567890"], 2, "not a valid NIP"),
        (["nips", "0"], 2, "COUNT"),
    ],
)
def test_errors(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(simulator, args, env={"KSEF_SIMULATOR_URL": ""})
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_seed_token_is_refused_without_echoing_it() -> None:
    secret = "my-very-secret-token"
    result = CliRunner().invoke(simulator, ["--seed-token", f"{NIP}={secret}"])
    assert result.exit_code == 2 and "not a KSeF 2.0 token" in result.output
    assert secret not in result.output and "token new" in result.output
    other = f"20250101-EC-0000000000-0000000000-00|nip-{OTHER_NIP}|" + "ab" * 32
    result = CliRunner().invoke(simulator, ["--seed-token", f"{NIP}={other}"])
    assert result.exit_code == 2 and "another context" in result.output
    assert other not in result.output


def test_admin_refusal_is_a_clean_error(url: str) -> None:
    result = CliRunner().invoke(simulator, ["token", "revoke", "no-such", "--url", url])
    assert result.exit_code == 1 and "refused" in result.output
    assert "Traceback" not in result.output


def test_a_seeded_token_keeps_its_own_reference(tmp_path: Path) -> None:
    from ksef_auth_simulator import Simulator

    _, out, _ = run("token", "new", NIP)
    token = out.strip()
    sim = Simulator()
    assert sim.register_ksef_token(NIP, token) == token.split("|")[0]
    sim.revoke_ksef_token(token.split("|")[0])
    assert sim.token_status(token) == "Revoked"
    with pytest.raises(ValueError, match="already registered"):
        sim.register_ksef_token(NIP, token)
    assert sim.register_ksef_token(NIP, "any string").split("-")[1] == "EC"
