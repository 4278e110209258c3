"""The three HTTP APIs: bearer scheme declared, /docs served from local assets, one version,
RFC 9457 problem documents for errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.audit.bootstrap import build_app as audit_app
from services.evaluator.bootstrap import build_app as evaluator_app
from services.intake.bootstrap import build_app as intake_app
from shared.settings import AuditSettings, EvaluatorSettings, IntakeSettings

REPO = Path(__file__).resolve().parents[3]
PYPROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(params=["intake", "evaluator", "audit"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> FastAPI:
    url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    builders = {
        "intake": lambda: intake_app(IntakeSettings(database_url=url)),
        "evaluator": lambda: evaluator_app(EvaluatorSettings(database_url=url)),
        "audit": lambda: audit_app(AuditSettings(database_url=url,
                                                 checkpoint_dir=tmp_path / "checkpoints")),
    }
    return builders[request.param]()


def test_every_api_declares_the_bearer_scheme_on_its_protected_routes(app: FastAPI) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "a token issued to the client (`trialwatch dev-token ROLE`)"}
    secured = [op for path in document["paths"].values() for op in path.values()
               if {"bearer": []} in op.get("security", [])]
    assert secured, "the routes needing a token say so, so /docs can authorise"


def test_docs_load_no_asset_from_another_origin(app: FastAPI) -> None:
    client = TestClient(app)
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets, "the page references its assets"
    assert all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_every_api_reports_the_one_project_version(app: FastAPI) -> None:
    assert app.openapi()["info"]["version"] == PYPROJECT_VERSION


def test_an_error_is_an_rfc_9457_problem_document(app: FastAPI) -> None:
    answer = TestClient(app).get("/no-such-route")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= set(answer.json())
