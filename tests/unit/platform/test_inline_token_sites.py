"""The inline token list (``<PREFIX>_TOKENS``) carries site claims after ``/`` (shared.token_claims,
issue 14 section 5): entries written before read as before, and a wrong entry stops the service
at start-up with a message naming the entry and what is wrong, never the token."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import AuditSettings, EvaluatorSettings, IntakeSettings
from shared.token_claims import parse_inline_tokens


def _registry(tokens: str) -> TokenRegistry:
    return TokenRegistry.from_settings(IntakeSettings(tokens=tokens))


def test_sites_after_a_slash_scope_a_coordinator_an_auditor_and_a_lab() -> None:
    registry = _registry("c=coordinator@NCT06920433|NCT0000001/site-a|site_b,"
                         " a=auditor/site-a , l=lab-system/site.b, every=coordinator@*/A")
    assert registry.authenticate("c") == Principal(
        "coordinator-client", Role.COORDINATOR, frozenset({"NCT06920433", "NCT0000001"}),
        frozenset({"site-a", "site_b"}))
    auditor = registry.authenticate("a")
    assert auditor is not None
    assert (auditor.role, auditor.site_scope) == (Role.AUDITOR, frozenset({"site-a"}))
    lab = registry.authenticate("l")
    assert lab is not None
    assert lab.sites == frozenset({"site.b"})
    every = registry.authenticate("every")
    assert every is not None
    assert every.every_trial
    assert every.site_scope == frozenset({"A"})


def test_entries_without_sites_read_exactly_as_before() -> None:
    registry = _registry("lab=lab-system,aud=auditor,coord=coordinator@NCT06920433|NCT0000001,"
                         "adm=admin,none=coordinator")
    assert registry.authenticate("lab") == Principal("lab-system-client", Role.LAB_SYSTEM)
    assert registry.authenticate("coord") == Principal(
        "coordinator-client", Role.COORDINATOR, frozenset({"NCT06920433", "NCT0000001"}))
    none = registry.authenticate("none")
    assert none is not None
    assert (none.trials, none.sites, none.site_scope) == (frozenset(), frozenset(), None)
    assert parse_inline_tokens("") == parse_inline_tokens(" , ,") == []


@pytest.mark.parametrize(("tokens", "message"), [
    ("secret-1=coordinator/", "token entry 1: no site after '/'"),
    ("a=auditor,secret-2=coordinator@T/site a", "token entry 2: 'site a' is not a site code"),
    ("secret-3=coordinator@T/-a", "token entry 1: '-a' is not a site code"),
    ("secret-4=coordinator@T/" + "s" * 65, "is not a site code"),
    ("secret-5=coordinator@/A", "token entry 1: no trial after '@'"),
    ("secret-6=coordinater@T/A", "token entry 1: unknown role 'coordinater'"),
    ("secret-7", "token entry 1: expected TOKEN=ROLE"),
    ("=coordinator", "token entry 1: expected TOKEN=ROLE"),
    ("secret-8=auditor,secret-8=auditor/A", "token entry 2: this token is given twice"),
])
@pytest.mark.parametrize("settings", [IntakeSettings, EvaluatorSettings, AuditSettings])
def test_a_wrong_entry_stops_the_service_at_start_up_naming_it_but_not_the_token(
        tokens: str, message: str, settings: type[IntakeSettings]) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(tokens=tokens)
    assert message in str(refused.value)
    assert "secret-" not in str(refused.value)  # settings errors never echo the value
