"""Contract 2: sources are told which login they serve, and one strategy family per context."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from ksef_auth import (
    ContextIdentifier,
    CredentialChain,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    Strategy,
    template_fields,
)
from ksef_auth.components import as_source

LOCAL = Environment.of("http://127.0.0.1:1/v2")
NIP_A, NIP_B = "5261040828", "1234563218"


def request(nip: str = NIP_A, **kwargs: Any) -> CredentialRequest:
    return CredentialRequest(environment=LOCAL, context=ContextIdentifier.nip(nip), **kwargs)


class PerNip:
    """A context-keyed source: one token per NIP, NotAvailable for unknown NIPs."""

    def __init__(self) -> None:
        self.asked: list[CredentialRequest] = []

    def load(self, request: CredentialRequest) -> KsefToken:
        self.asked.append(request)
        if request.context.value not in (NIP_A, NIP_B):
            raise NotAvailable(f"no token for {request.context}")
        return KsefToken(f"token-of-{request.context.value}")


class Signer:
    method = "ksef-token"
    challenge_path = "/auth/challenge"

    def sign(self, request: Any) -> Any:
        raise AssertionError("not called")


def strategy(source: Any) -> Strategy:
    from ksef_auth_memory import MemoryStore

    return Strategy(
        name="firm",
        environment=LOCAL,
        context=ContextIdentifier.nip(NIP_A),
        credential=source,
        signer=Signer(),
        store=MemoryStore(),
    )


# --- templates ---------------------------------------------------------------------------------


def test_fill_names_the_context() -> None:
    assert request().fill("KSEF_TOKEN_{nip}") == f"KSEF_TOKEN_{NIP_A}"
    assert request().fill("ksef/{environment}/{context_type}/{context}") == (
        f"ksef/custom/Nip/{NIP_A}"
    )
    assert request().fill("plain-name") == "plain-name"


def test_nip_placeholder_only_for_nip_contexts() -> None:
    internal = CredentialRequest(
        environment=LOCAL, context=ContextIdentifier.internal_id("5265877635-12345")
    )
    assert internal.fill("client-{context}") == "client-5265877635-12345"
    with pytest.raises(CredentialError, match=r"use \{context\}"):
        internal.fill("client-{nip}")


@pytest.mark.parametrize(
    "text", ["{nipp}", "{nip!r}", "{nip:>20}", "{nip.__class__}", "{0}", "{nip", "a}b"]
)
def test_unknown_or_tricky_placeholders_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\{nip\}"):
        template_fields(text)
    with pytest.raises(CredentialError):
        request().fill(text)


# --- the strategy asks with its own context -----------------------------------------------------


def test_each_context_of_a_family_is_asked_for_itself() -> None:
    source = PerNip()
    first = strategy(source)
    other = first.with_context(NIP_B)
    assert first.load_credential().token.reveal() == f"token-of-{NIP_A}"
    assert other.load_credential().token.reveal() == f"token-of-{NIP_B}"
    assert [r.context.value for r in source.asked] == [NIP_A, NIP_B]
    assert {r.method for r in source.asked} == {"ksef-token"}
    assert source.asked[1].strategy == f"firm@{NIP_B}"
    assert other.load_credential(purpose="check") and source.asked[-1].purpose == "check"


def test_with_context_gives_the_same_strategy_and_manager_each_time() -> None:
    first = strategy(PerNip())
    twin = first.with_context(NIP_B)
    assert first.with_context(NIP_B) is twin
    assert twin.with_context(NIP_A) is first
    assert first.with_context(ContextIdentifier.nip(NIP_A)) is first
    assert twin.session is first.with_context(NIP_B).session


def test_a_chain_remembers_the_good_source_per_context() -> None:
    class Only:
        def __init__(self, nip: str) -> None:
            self.nip = nip
            self.calls = 0

        def load(self, request: CredentialRequest) -> KsefToken:
            self.calls += 1
            if request.context.value != self.nip:
                raise NotAvailable("not this one")
            return KsefToken(f"chain-test-secret-{self.nip}")

    a, b = Only(NIP_A), Only(NIP_B)
    chain = CredentialChain([("a", a), ("b", b)])
    assert chain.load(request(NIP_B)).token.reveal() == f"chain-test-secret-{NIP_B}"
    assert chain.load(request(NIP_A)).token.reveal() == f"chain-test-secret-{NIP_A}"
    a.calls = b.calls = 0
    chain.load(request(NIP_B))
    assert (a.calls, b.calls) == (0, 1)  # B's good source is tried first for B


# --- contract 1 sources still work, with a warning ------------------------------------------------


def test_contract_1_source_is_adapted_with_a_deprecation_warning() -> None:
    class Old:
        def load(self) -> KsefToken:
            return KsefToken("old-style")

    with pytest.warns(DeprecationWarning, match="contract 1"):
        adapted = as_source(Old())
    assert adapted.load(request()).token.reveal() == "old-style"
    with pytest.warns(DeprecationWarning):
        built = strategy(Old())
    assert built.load_credential().token.reveal() == "old-style"


def test_current_sources_are_not_wrapped() -> None:
    source = PerNip()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert as_source(source) is source
        assert strategy(source).credential is source
