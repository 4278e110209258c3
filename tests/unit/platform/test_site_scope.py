"""The site rule (shared/sites.py, shared/infra/auth.py): who sees a patient of which site, and
which site a lab token's submission is stamped with."""

from __future__ import annotations

import pytest

from shared.infra.auth import Principal, Role, SiteChoiceRefused, submitting_site
from shared.sites import site_visible

TRIALS = frozenset({"*"})


def coordinator(*sites: str) -> Principal:
    return Principal("c", Role.COORDINATOR, TRIALS, frozenset(sites))


def lab(*sites: str) -> Principal:
    return Principal("lab", Role.LAB_SYSTEM, sites=frozenset(sites))


def test_a_coordinator_without_a_sites_claim_sees_every_site_and_patients_without_one() -> None:
    who = coordinator()
    assert who.site_scope is None
    assert who.may_see_site("A")
    assert who.may_see_site("B")
    assert who.may_see_site(None)


def test_a_site_scoped_coordinator_sees_its_sites_only_and_no_patient_without_a_site() -> None:
    who = coordinator("A", "C")
    assert who.site_scope == frozenset({"A", "C"})
    assert who.may_see_site("A")
    assert who.may_see_site("C")
    assert not who.may_see_site("B")
    assert not who.may_see_site(None)  # fail closed: an unstamped patient is not site A's


def test_an_admin_is_never_site_scoped() -> None:
    assert Principal("root", Role.ADMIN, sites=frozenset({"A"})).may_see_site("B")


def test_site_visible_is_the_same_rule_on_a_bare_scope() -> None:
    assert site_visible(None, None)
    assert site_visible(frozenset({"A"}), "A")
    assert not site_visible(frozenset({"A"}), "B")
    assert not site_visible(frozenset(), "A")


def test_a_lab_token_with_one_site_stamps_that_site_named_or_not() -> None:
    assert submitting_site(lab("A"), None) == "A"
    assert submitting_site(lab("A"), "A") == "A"


def test_a_lab_token_without_a_site_stamps_none_and_may_not_name_one() -> None:
    assert submitting_site(lab(), None) is None
    with pytest.raises(SiteChoiceRefused) as refused:
        submitting_site(lab(), "A")
    assert (refused.value.status_code, refused.value.reason) == (403, "site_not_in_claims")


def test_a_lab_token_with_several_sites_must_name_one_of_them() -> None:
    assert submitting_site(lab("A", "B"), "B") == "B"
    with pytest.raises(SiteChoiceRefused) as missing:
        submitting_site(lab("A", "B"), None)
    assert (missing.value.status_code, missing.value.reason) == (422, "site_required")
    with pytest.raises(SiteChoiceRefused) as other:
        submitting_site(lab("A", "B"), "C")
    assert other.value.status_code == 403
