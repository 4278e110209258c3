"""The coordinator sign-in form refuses a cross-origin post (issue 14 item 5).

Sign-in is the one form without a session's CSRF token, so its only defence against a login
CSRF is the Origin header (RFC 6454 section 7; the Fetch standard sends ``Origin: null`` from a
sandboxed iframe, a data: URL or a redirect across origins). ``null`` is an opaque origin, never
the app's own: a sandboxed frame on another site posting a token must not sign a user in.
Same-origin posts, and posts without Origin (non-browser clients, as today), still sign in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.evaluator.bootstrap import build_app
from shared.infra.migrations import upgrade
from shared.settings import EvaluatorSettings


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    upgrade("evaluator", url)
    app = build_app(EvaluatorSettings(database_url=url,
                                      tokens="coord-token=coordinator@NCT06920433"))
    return TestClient(app, base_url="http://testserver")


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "https://testserver",
                                    "http://testserver.evil.example"])
def test_a_sign_in_post_from_an_opaque_or_other_origin_is_refused(
    client: TestClient, origin: str
) -> None:
    answer = client.post("/ui/sign-in", data={"token": "coord-token", "next": "/ui/alerts"},
                         headers={"Origin": origin}, follow_redirects=False)
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("headers", [{"Origin": "http://testserver"}, {}])
def test_a_same_origin_or_originless_sign_in_still_signs_in(
    client: TestClient, headers: dict[str, str]
) -> None:
    answer = client.post("/ui/sign-in", data={"token": "coord-token", "next": "/ui/alerts"},
                         headers=headers, follow_redirects=False)
    assert answer.status_code == 303
    assert "set-cookie" in answer.headers
