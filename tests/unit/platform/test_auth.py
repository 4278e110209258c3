from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog.testing
from fastapi import Depends, FastAPI

from shared.infra.auth import (
    Principal,
    Role,
    TokenRegistry,
    mint_token,
    require_role,
    write_dev_tokens,
)
from shared.settings import IntakeSettings


def _app() -> FastAPI:
    app = FastAPI()
    app.state.tokens = TokenRegistry({
        "lab": Principal("lab-1", Role.LAB_SYSTEM),
        "aud": Principal("auditor-1", Role.AUDITOR),
        "adm": Principal("admin-1", Role.ADMIN),
    })

    @app.get("/records")
    async def records(who: Principal = Depends(require_role(Role.AUDITOR))) -> dict[str, str]:
        return {"client": who.client}

    return app


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": "Basic aud"}, 401),
        ({"Authorization": "Bearer lab"}, 403),
        ({"Authorization": "Bearer aud"}, 200),
        ({"Authorization": "Bearer adm"}, 200),
    ],
)
async def test_roles_decide_who_may_call_an_endpoint(
    headers: dict[str, str], expected: int
) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/records", headers=headers)
    assert response.status_code == expected


def test_a_coordinator_token_sees_only_the_trials_it_claims() -> None:
    scoped = Principal("ward-a", Role.COORDINATOR, frozenset({"NCT1"}))
    unscoped = Principal("ward-b", Role.COORDINATOR)
    everything = Principal("ward-c", Role.COORDINATOR, frozenset({"*"}))
    admin = Principal("admin-1", Role.ADMIN)
    assert scoped.may_see_trial("NCT1")
    assert not scoped.may_see_trial("NCT2")
    assert not unscoped.may_see_trial("NCT1")
    assert everything.may_see_trial("NCT2")
    assert admin.may_see_trial("NCT2")
    assert scoped.visible({"NCT1", "NCT2"}) == {"NCT1"}


def test_env_tokens_carry_trial_claims_after_an_at_sign() -> None:
    settings = IntakeSettings(tokens="c1=coordinator@NCT1|NCT2,l1=lab-system")
    registry = TokenRegistry.from_settings(settings)
    assert registry.authenticate("c1") == Principal(
        "coordinator-client", Role.COORDINATOR, frozenset({"NCT1", "NCT2"}))
    assert registry.authenticate("l1") == Principal("lab-system-client", Role.LAB_SYSTEM)


def test_a_token_minted_into_the_file_is_accepted_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "dev-tokens.json"
    write_dev_tokens(path)
    registry = TokenRegistry.from_settings(IntakeSettings(tokens_file=path))
    scoped = Principal("ward-a", Role.COORDINATOR, frozenset({"NCT1"}), frozenset({"site-9"}))
    token = mint_token(path, scoped)
    assert registry.authenticate(token) == scoped
    assert path.stat().st_mode & 0o077 == 0


async def test_a_refused_call_is_logged_with_client_and_reason_but_no_token() -> None:
    transport = httpx.ASGITransport(app=_app())
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/records", headers={"Authorization": "Bearer lab"})
            await client.get("/records", headers={"Authorization": "Bearer secret-guess"})
    refusals = [(e["status"], e["reason"], e["client"]) for e in logs
                if e["event"] == "access_refused"]
    assert refusals == [(403, "role_not_allowed", "lab-1"), (401, "no_valid_token", None)]
    assert "secret-guess" not in repr(logs)


def test_dev_tokens_are_created_once_per_role_and_private(tmp_path: Path) -> None:
    path = tmp_path / "dev-tokens.json"
    first = write_dev_tokens(path)
    assert {p.role for p in first.values()} == set(Role)
    assert path.stat().st_mode & 0o077 == 0
    assert write_dev_tokens(path) == first
