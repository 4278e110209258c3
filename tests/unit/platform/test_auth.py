from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.infra.auth import Principal, Role, TokenRegistry, require_role, write_dev_tokens


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


def test_dev_tokens_are_created_once_per_role_and_private(tmp_path: Path) -> None:
    path = tmp_path / "dev-tokens.json"
    first = write_dev_tokens(path)
    assert {p.role for p in first.values()} == set(Role)
    assert path.stat().st_mode & 0o077 == 0
    assert write_dev_tokens(path) == first
