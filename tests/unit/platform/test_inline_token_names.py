"""Each inline token (``<PREFIX>_TOKENS``) has its own client name (shared.token_claims): the
name logged, kept in intake's and audit's access logs, and the source system a lab's patients
are keyed by. Before, every inline token of a role was ``<role>-client``: two coordinators'
re-identifications were one requester in the access log, two labs' patients with the same MRN
one patient."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.infra.auth import TokenRegistry
from shared.settings import IntakeSettings


def _clients(tokens: str) -> dict[str, str]:
    registry = TokenRegistry.from_settings(IntakeSettings(tokens=tokens))
    found = {}
    for token in (entry.split("=", 1)[0].strip() for entry in tokens.split(",")):
        principal = registry.authenticate(token)
        assert principal is not None
        found[token] = principal.client
    return found


def test_tokens_of_one_role_get_distinct_names_the_first_keeps_the_old_one() -> None:
    """The first unnamed token of a role keeps ``<role>-client`` (a configuration with one
    token per role reads exactly as before: same names, same patients' source system); each
    later one is ``<role>-client-<n>``, n counting that role's unnamed tokens, so appending a
    token renames none before it."""
    assert _clients("c1=coordinator@T, l1=lab-system, c2=coordinator@*, c3=coordinator,"
                    " l2=lab-system/site-a, a=auditor") == {
        "c1": "coordinator-client", "l1": "lab-system-client", "c2": "coordinator-client-2",
        "c3": "coordinator-client-3", "l2": "lab-system-client-2", "a": "auditor-client"}


def test_an_explicit_name_before_the_role_is_the_client_name() -> None:
    """``TOKEN=NAME:ROLE[@TRIALS][/SITES]``; two tokens may name one client (rotation: the
    old and the new token of the same lab during the switch)."""
    assert _clients("t1=ward-a:coordinator@NCT06920433/site-a, t2=lab.north:lab-system,"
                    " t3=lab.north:lab-system, t4=coordinator") == {
        "t1": "ward-a", "t2": "lab.north", "t3": "lab.north", "t4": "coordinator-client"}


@pytest.mark.parametrize(("tokens", "message"), [
    ("secret-1=:coordinator", "token entry 1: empty client name before ':'"),
    ("a=auditor,secret-2=ward a:coordinator", "token entry 2: 'ward a' is not a client name"),
    ("secret-3=" + "n" * 129 + ":auditor", "token entry 1: 'nnnnn"),
    ("c=coordinator,secret-4=coordinator-client:auditor",
     "token entry 2: client name 'coordinator-client' is another token's derived name"),
])
def test_a_wrong_name_stops_the_service_naming_the_entry_never_the_token(
    tokens: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        IntakeSettings(tokens=tokens)
    assert message in str(raised.value)
    assert "secret-" not in str(raised.value)
