"""Strict values reach the real plugins: a boolean given as a string or through a variable is
read as written, so ``allow_other_context = "false"`` keeps the xades NIP check on (issue 12.4)."""

from __future__ import annotations

import pytest

import ksef_auth

pytest.importorskip("ksef_auth_xades")
pytest.importorskip("ksef_auth_testcert")


def xades(**options: object) -> object:
    config = ksef_auth.load(
        {
            "strategy": {
                "seal": {
                    "environment": "test",
                    "context": "5261040828",
                    "credential": "test-certificate",
                    "signer": {"use": "xades", **options},
                }
            }
        },
        check=False,
    )
    return config.strategy().signer


@pytest.mark.parametrize("word", ["false", "False", "0", "no"])
def test_false_words_switch_nothing_off(word: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert xades(allow_other_context=word).allow_other_context is False  # type: ignore[attr-defined]
    monkeypatch.setenv("KSEF_XADES_CHAIN", word)
    signer = xades(verify_certificate_chain={"env": "KSEF_XADES_CHAIN"})
    assert signer.verify_certificate_chain is False  # type: ignore[attr-defined]


def test_other_words_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF_XADES_OTHER", "nie")
    with pytest.raises(ksef_auth.ConfigError) as info:
        xades(allow_other_context={"env": "KSEF_XADES_OTHER"})
    assert info.value.key == "strategy.seal.signer.allow_other_context"
    assert "must be true or false (or 1/0, yes/no), got a string 'nie'" in str(info.value)
