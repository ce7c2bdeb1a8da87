"""``ksef-auth vault ...`` in real subprocesses (``python -m ksef_auth.cli``), on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from vault_support import TOKEN

from ksef_auth import SecretRef
from ksef_auth.sealing import generate_key
from ksef_auth_vault import KEY_FILE, Vault

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the vault locks with fcntl")


class Cli:
    """Runs the CLI with a private HOME, the vault path and key in the environment, and checks
    that no secret ever appears in what it prints."""

    def __init__(self, tmp_path: Path, vault_path: Path, key: str) -> None:
        self.path = vault_path
        self.secrets = [TOKEN, key]
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("KSEF_AUTH_", "KSEF2_"))
        }
        home = tmp_path / "home"
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_STATE_HOME=str(home / ".local/state"),
            KSEF_AUTH_VAULT_PATH=str(vault_path),
            KSEF_AUTH_VAULT_KEY=key,
            SHOP_TOKEN=TOKEN,
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ksef_auth.cli", "vault", *args]

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(
        self, *args: str, input: str | None = None, code: int = 0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,  # no controlling terminal: a prompt reads stdin
        )
        self.no_secret(result.stdout + result.stderr)
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
        return result

    def no_secret(self, output: str) -> None:
        for secret in self.secrets:
            assert secret not in output
        assert TOKEN.split("|")[-1] not in output


@pytest.fixture
def cli(tmp_path: Path, vault_path: Path, key: str) -> Cli:
    return Cli(tmp_path, vault_path, key)


def load(path: Path, key: str, name: str = "shop") -> str:
    return Vault(path, SecretRef.value(key)).load(name).token.reveal()  # type: ignore[union-attr]


def test_set_from_env_then_list(cli: Cli, vault_path: Path, key: str) -> None:
    result = cli("set", "shop", "--from-env", "SHOP_TOKEN")
    assert "stored ksef-token 'shop'" in result.stdout
    assert "environment variable KSEF_AUTH_VAULT_KEY" in result.stdout
    assert load(vault_path, key) == TOKEN
    assert not (vault_path.parent / KEY_FILE).exists()

    listing = cli("list").stdout
    assert "shop" in listing and "ksef-token" in listing and "ok" in listing
    entries = json.loads(cli("list", "--json").stdout)
    assert [(e["name"], e["kind"], e["status"]) for e in entries] == [("shop", "ksef-token", "ok")]
    assert set(entries[0]) == {"name", "kind", "created", "status"}


def test_set_again_replaces(cli: Cli, vault_path: Path, key: str) -> None:
    cli("set", "shop", "--from-env", "SHOP_TOKEN")
    result = cli("set", "shop", "--from-env", "OTHER", OTHER="other-token")
    assert "replaced" in result.stdout
    assert load(vault_path, key) == "other-token"


def test_set_from_stdin_and_kind(cli: Cli, vault_path: Path, key: str) -> None:
    cli("set", "hmac", "--stdin", "--kind", "shared-secret", input=TOKEN + "\n")
    credential = Vault(vault_path, SecretRef.value(key)).load("hmac")
    assert credential.fingerprint.startswith("sec:")
    assert json.loads(cli("list", "--json").stdout)[0]["kind"] == "shared-secret"


def test_set_from_the_prompt_hidden_and_confirmed(cli: Cli, vault_path: Path, key: str) -> None:
    result = cli("set", "shop", input=f"{TOKEN}\n{TOKEN}\n")
    assert "stored" in result.stdout
    assert load(vault_path, key) == TOKEN


def test_the_prompt_asks_again_on_a_mismatch(cli: Cli, vault_path: Path, key: str) -> None:
    result = cli("set", "shop", input=f"{TOKEN}\nsomething-else\n{TOKEN}\n{TOKEN}\n")
    assert "do not match" in result.stdout + result.stderr
    assert load(vault_path, key) == TOKEN


def test_the_secret_is_never_an_argument(cli: Cli, vault_path: Path) -> None:
    # the CLI refuses it and does not echo it back
    result = cli("set", "shop", TOKEN, code=2)
    assert "never given on the command line" in result.stderr
    cli("set", "shop", "--" + TOKEN, code=2)
    assert not vault_path.exists()


def test_set_usage_errors(cli: Cli) -> None:
    assert "is not set" in cli("set", "shop", "--from-env", "UNSET_VARIABLE", code=2).stderr
    assert "exclude each other" in cli("set", "shop", "--from-env", "X", "--stdin", code=2).stderr
    assert "vault entry name" in cli("set", "a b", "--stdin", input="x", code=2).stderr
    assert "empty" in cli("set", "shop", "--stdin", input="\n", code=2).stderr


def test_list_an_empty_vault(cli: Cli, vault_path: Path) -> None:
    assert "no entries" in cli("list").stdout
    assert json.loads(cli("list", "--json").stdout) == []
    assert not vault_path.exists()  # listing creates nothing


def test_delete(cli: Cli, vault_path: Path, key: str) -> None:
    cli("set", "shop", "--from-env", "SHOP_TOKEN")
    cli("set", "other", "--from-env", "SHOP_TOKEN")
    assert "deleted 'shop'" in cli("delete", "shop").stdout
    assert [e["name"] for e in json.loads(cli("list", "--json").stdout)] == ["other"]
    result = cli("delete", "shop", code=4)
    assert "no entry 'shop'" in result.stderr


def test_list_shows_entries_stored_with_another_key(cli: Cli, key: str) -> None:
    cli("set", "shop", "--from-env", "SHOP_TOKEN")
    entries = json.loads(cli("list", "--json", KSEF_AUTH_VAULT_KEY=generate_key()).stdout)
    assert entries[0]["status"] == "wrong-key"


def test_rekey(cli: Cli, vault_path: Path, key: str) -> None:
    new = generate_key()
    cli.secrets.append(new)
    cli("set", "shop", "--from-env", "SHOP_TOKEN")
    cli("set", "other", "--from-env", "SHOP_TOKEN")
    # the new key alone cannot rekey: the entries were stored with the old one
    result = cli("rekey", code=4, KSEF_AUTH_VAULT_KEY=new)
    assert "cannot be decrypted" in result.stderr and "Nothing was changed" in result.stderr
    result = cli("rekey", KSEF_AUTH_VAULT_KEY=f"{new},{key}")
    assert "re-encrypted 2 entries" in result.stdout
    assert load(vault_path, new) == TOKEN
    assert load(vault_path, new, "other") == TOKEN
    statuses = json.loads(cli("list", "--json", KSEF_AUTH_VAULT_KEY=new).stdout)
    assert {e["status"] for e in statuses} == {"ok"}


def test_rekey_with_a_new_key_file(cli: Cli, vault_path: Path) -> None:
    env = {k: v for k, v in cli.env.items() if k != "KSEF_AUTH_VAULT_KEY"}
    cli.env = env
    cli("set", "shop", "--from-env", "SHOP_TOKEN")
    key_file = vault_path.parent / KEY_FILE
    old = key_file.read_text().strip()
    cli.secrets.append(old)
    result = cli("rekey", "--new-key")
    assert "now holds the new key alone" in result.stdout
    new = key_file.read_text().strip()
    cli.secrets.append(new)
    assert new != old
    assert load(vault_path, new) == TOKEN


def test_key_from_another_variable_or_a_file(cli: Cli, tmp_path: Path, vault_path: Path) -> None:
    other = generate_key()
    cli.secrets.append(other)
    cli("set", "shop", "--from-env", "SHOP_TOKEN", "--key-env", "MY_KEY", MY_KEY=other)
    assert load(vault_path, other) == TOKEN
    key_file = tmp_path / "key.txt"
    key_file.write_text(other + "\n")
    listing = json.loads(cli("list", "--json", "--key-file", str(key_file)).stdout)
    assert listing[0]["status"] == "ok"


def test_a_malformed_key_exits_3(cli: Cli) -> None:
    result = cli("set", "shop", "--from-env", "SHOP_TOKEN", code=3, KSEF_AUTH_VAULT_KEY="nope")
    assert "KSEF_AUTH_VAULT_KEY" in result.stderr and "nope" not in result.stderr


def test_a_damaged_vault_exits_4(cli: Cli, vault_path: Path) -> None:
    vault_path.parent.mkdir(parents=True)
    vault_path.write_text("garbage")
    assert "is damaged" in cli("list", code=4).stderr
    assert "is damaged" in cli("set", "shop", "--from-env", "SHOP_TOKEN", code=4).stderr
    assert vault_path.read_text() == "garbage"


def test_path_option_overrides_the_environment(cli: Cli, tmp_path: Path, key: str) -> None:
    elsewhere = tmp_path / "elsewhere" / "v.json"
    cli("set", "shop", "--from-env", "SHOP_TOKEN", "--path", str(elsewhere))
    assert load(elsewhere, key) == TOKEN
    assert not cli.path.exists()


def test_concurrent_sets_from_several_processes_keep_every_entry(
    cli: Cli, vault_path: Path, key: str
) -> None:
    cli("set", "first", "--from-env", "SHOP_TOKEN")
    names = [f"shop-{i}" for i in range(6)]
    processes = [cli.popen("set", name, "--from-env", "SHOP_TOKEN") for name in names]
    for process in processes:
        out, err = process.communicate(timeout=60)
        cli.no_secret(out + err)
        assert process.returncode == 0, err
    listed = [e["name"] for e in json.loads(cli("list", "--json").stdout)]
    assert listed == sorted(["first", *names])
    for name in names:
        assert load(vault_path, key, name) == TOKEN


def test_help_lists_the_commands(cli: Cli) -> None:
    out = cli("--help").stdout
    for command in ("set", "list", "delete", "rekey"):
        assert command in out


# --- certificates --------------------------------------------------------------------------------

P12_PASSWORD = "p12-password-never-printed"


@pytest.fixture
def seal_files(tmp_path: Path, cli: Cli) -> dict[str, Path]:
    """seal.p12 (encrypted), seal.pem (certificate) and key.pem for one self-signed seal."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Seal"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "VATPL-5261040828"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cli.secrets += [P12_PASSWORD, key_pem.decode().splitlines()[1]]
    files = {
        "p12": tmp_path / "seal.p12",
        "pem": tmp_path / "seal.pem",
        "key": tmp_path / "key.pem",
    }
    files["p12"].write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal",
            key,
            certificate,
            None,
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        )
    )
    files["pem"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key_pem)
    return files


def test_set_a_pkcs12_with_the_password_from_stdin(
    cli: Cli, vault_path: Path, key: str, seal_files: dict[str, Path]
) -> None:
    result = cli(
        "set",
        "seal",
        "--p12",
        str(seal_files["p12"]),
        "--password-stdin",
        input=P12_PASSWORD + "\n",
    )
    assert "stored certificate 'seal'" in result.stdout and "VATPL-5261040828" in result.stdout
    credential = Vault(vault_path, SecretRef.value(key)).load("seal")
    assert credential.source == "vault:seal"
    listing = json.loads(cli("list", "--json").stdout)
    assert listing[0]["kind"] == "certificate" and "CN=Seal" in listing[0]["certificate"]
    assert "CN=Seal" in cli("list").stdout


def test_set_a_pkcs12_with_the_password_from_a_variable_or_the_prompt(
    cli: Cli, vault_path: Path, key: str, seal_files: dict[str, Path]
) -> None:
    p12 = str(seal_files["p12"])
    cli("set", "a", "--p12", p12, "--password-env", "SEAL_PASSWORD", SEAL_PASSWORD=P12_PASSWORD)
    cli("set", "b", "--p12", p12, input=P12_PASSWORD + "\n")  # the hidden prompt reads stdin
    names = [e["name"] for e in json.loads(cli("list", "--json").stdout)]
    assert names == ["a", "b"]


def test_a_wrong_pkcs12_password_exits_4_and_is_never_shown(
    cli: Cli, vault_path: Path, seal_files: dict[str, Path]
) -> None:
    result = cli(
        "set",
        "seal",
        "--p12",
        str(seal_files["p12"]),
        "--password-stdin",
        input="wrong-password-here\n",
        code=4,
    )
    assert "wrong password for PKCS#12 file" in result.stderr
    assert "(password from standard input)" in result.stderr  # where to fix it
    assert "wrong-password-here" not in result.stdout + result.stderr
    assert not vault_path.exists()
    result = cli(
        "set", "seal", "--p12", str(seal_files["p12"]), "--password-env", "SEAL_PASSWORD",
        SEAL_PASSWORD="wrong-password-here", code=4,
    )  # fmt: skip
    assert "(password from environment variable SEAL_PASSWORD)" in result.stderr
    assert "wrong-password-here" not in result.stdout + result.stderr


def test_set_a_pem_certificate_and_key(
    cli: Cli, vault_path: Path, key: str, seal_files: dict[str, Path]
) -> None:
    cli("set", "seal", "--certificate", str(seal_files["pem"]), "--key", str(seal_files["key"]))
    assert Vault(vault_path, SecretRef.value(key)).load("seal").source == "vault:seal"


def test_certificate_usage_errors(cli: Cli, seal_files: dict[str, Path]) -> None:
    p12, pem = str(seal_files["p12"]), str(seal_files["pem"])
    assert "excludes" in cli("set", "s", "--p12", p12, "--certificate", pem, code=2).stderr
    assert "go with --p12" in cli("set", "s", "--key", pem, "--stdin", input="x", code=2).stderr
    assert "are for tokens" in cli("set", "s", "--p12", p12, "--stdin", code=2).stderr
    result = cli("set", "s", "--certificate", pem, code=4)  # no key anywhere
    assert "holds no private key" in result.stderr
