"""RFC 9457 problem documents: one shape on every service, a stable ``type`` per kind of
problem (never ``about:blank``), each type documented in docs/problems.md."""

from __future__ import annotations

import asyncio
import errno
import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from services.audit.bootstrap import build_app as audit_app
from services.evaluator.bootstrap import build_app as evaluator_app
from services.intake.bootstrap import build_app as intake_app
from services.intake.core import refusals
from shared.infra.http import (
    install_http_problems,
    install_request_limits,
    install_storage_problem_handler,
)
from shared.infra.server import RequestLimits
from shared.problems import PROBLEM_BASE, PROBLEM_TYPES, problem_document
from shared.settings import AuditSettings, EvaluatorSettings, IntakeSettings

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "problems.md"
SHAPE = {"type", "title", "status", "detail", "instance", "errors"}


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


def test_an_unknown_route_is_a_not_found_problem_of_the_one_shape(app: FastAPI) -> None:
    answer = TestClient(app).get("/no-such-route")
    body = answer.json()
    assert answer.status_code == 404
    assert set(body) == SHAPE
    assert body["type"] == PROBLEM_BASE + "not-found"
    assert body["title"] == "Not found"
    assert body["instance"] == "/no-such-route"


def test_an_invalid_parameter_a_conflict_and_a_storage_failure_have_their_types() -> None:
    app = FastAPI()
    install_request_limits(app)
    install_http_problems(app)
    install_storage_problem_handler(app)

    @app.get("/items")
    async def items(limit: int) -> dict[str, int]:
        return {"limit": limit}

    @app.post("/items")
    async def conflict() -> None:
        raise HTTPException(409, "version 2 is stored with other text")

    @app.delete("/items")
    async def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    client = TestClient(app, raise_server_exceptions=False)
    invalid = client.get("/items", params={"limit": "<b>PHI</b>"}).json()
    assert set(invalid) == SHAPE
    assert invalid["type"] == PROBLEM_BASE + "invalid-request"
    assert [e["path"] for e in invalid["errors"]] == ["query.limit"]
    assert "PHI" not in json.dumps(invalid)
    clash = client.post("/items").json()
    assert (clash["type"], clash["status"]) == (PROBLEM_BASE + "conflict", 409)
    unavailable = client.delete("/items")
    assert unavailable.json()["type"] == PROBLEM_BASE + "storage-unavailable"
    assert unavailable.headers["retry-after"]


def test_the_request_limits_middleware_answers_with_a_typed_problem() -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def never(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the app must not be reached")

    scope = {"type": "http", "method": "GET", "path": "/a\x00b", "query_string": b"",
             "headers": []}
    asyncio.run(RequestLimits(never)(scope, receive, send))  # type: ignore[arg-type]
    body = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert set(body) == SHAPE
    assert body["type"] == PROBLEM_BASE + "bad-request"
    assert body["status"] == 400
    assert "NUL" in body["detail"]


def test_every_intake_refusal_has_a_registered_type() -> None:
    kinds = [k for k in vars(refusals).values()
             if isinstance(k, type) and issubclass(k, refusals.Refusal)]
    assert len(kinds) >= 8
    for kind in kinds:
        assert kind.slug in PROBLEM_TYPES, kind
        assert kind.type_uri.fget(kind) == PROBLEM_BASE + kind.slug  # type: ignore[attr-defined]
        assert kind.title.fget(kind) == PROBLEM_TYPES[kind.slug].title  # type: ignore[attr-defined]


def test_every_problem_type_is_documented_and_every_documented_type_exists() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", DOCS.read_text(), re.M))
    registered = {(t.slug, str(t.status)) for t in PROBLEM_TYPES.values()}
    assert documented == registered


def test_a_problem_document_names_each_field_path() -> None:
    body = problem_document("invalid-request", detail="see errors", instance="/x",
                            errors=[("query.since", "an instant with a time zone")])
    assert body == {"type": "https://trialwatch.dev/problems/invalid-request",
                    "title": "The request is not valid", "status": 422,
                    "detail": "see errors", "instance": "/x",
                    "errors": [{"path": "query.since", "reason": "an instant with a time zone"}]}
    assert problem_document(418)["type"] == PROBLEM_BASE + "bad-request"
    assert problem_document(504)["type"] == PROBLEM_BASE + "internal-error"
    with pytest.raises(KeyError):
        problem_document("no-such-kind")


def test_a_page_of_the_app_that_does_not_exist_says_so_in_a_sentence(tmp_path: Path) -> None:
    app = evaluator_app(EvaluatorSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db"))
    page = TestClient(app).get("/ui/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert "<p>There is no page at this address.</p>" in page.text, page.text
    problem = TestClient(app).get("/no-such-route").json()
    assert problem["detail"] == "there is nothing at this address"


def test_each_refusal_of_the_evaluators_routes_has_its_own_problem_type(tmp_path: Path) -> None:
    """The refusals a route raises before touching the database, each with its registered
    type (docs/problems.md), on the API and on the app's HTML error pages; before, each was
    the status's generic type (forbidden, not-found, payload-too-large, ...)."""
    app = evaluator_app(EvaluatorSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/db",
        tokens="adm=admin,coord=coordinator@NCT06920433,lab=lab-system"))
    client = TestClient(app)
    bearer = {name: {"Authorization": f"Bearer {name}"} for name in ("adm", "coord", "lab")}
    yaml = {"content-type": "application/yaml"}
    answers = {
        "role-not-allowed": client.get("/worklist", params={"trial": "NCT06920433"},
                                       headers=bearer["lab"]),
        "trial-not-in-claims": client.get("/worklist", params={"trial": "NCT06946485"},
                                          headers=bearer["coord"]),
        "trial-file-too-large": client.post("/trials", content=b"#" * 1_000_001,
                                            headers=bearer["adm"] | yaml),
        "trial-file-encoding": client.post("/trials", content=b"id: \xff",
                                           headers=bearer["adm"] | yaml),
        "invalid-trial-file": client.post("/trials", content=b"id: NCT1\n",
                                          headers=bearer["adm"] | yaml),
        "cds-jwt-invalid": client.post("/cds-services/trialwatch-patient-view", json={
            "hook": "patient-view", "hookInstance": "d1577c69",
            "context": {"userId": "Practitioner/1", "patientId": "1288992"}}),
    }
    said = {slug: (a.status_code, a.json()["type"]) for slug, a in answers.items()}
    assert said == {slug: (PROBLEM_TYPES[slug].status, PROBLEM_BASE + slug) for slug in answers}
    assert answers["invalid-trial-file"].json()["errors"], "each problem of the file is listed"
    page = client.post("/ui/sign-in", data={"token": "coord"},
                       headers={"origin": "https://elsewhere.example"})
    assert page.status_code == 403
    assert f'data-problem-type="{PROBLEM_BASE}cross-site-sign-in"' in page.text
    assert "<h1>Sign-in from another site refused</h1>" in page.text


def test_no_route_raises_an_http_error_of_the_generic_type_only() -> None:
    """Every error a route raises names its registered type (``Problem``, or ``refuse(...,
    slug=...)``): a bare ``HTTPException(...)`` in a service would answer only the status's
    generic type. And every slug written in the code is registered and documented."""
    import ast

    documented = set(re.findall(r"^\| `([a-z-]+)` \|", DOCS.read_text(), re.M))
    bare, unknown = [], []
    for path in [*sorted((REPO / "services").rglob("*.py")), REPO / "shared/infra/auth.py"]:
        text = path.read_text()
        # (intake's refusals have a Problem of their own: a path and a reason)
        ours = "from shared.infra.problem_error import Problem" in text
        for node in ast.walk(ast.parse(text, str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if name == "HTTPException" and path.name != "auth.py":  # refuse()'s generic case
                bare.append(where)
            slugs = [node.args[0]] if name == "Problem" and ours and node.args else []
            slugs += [k.value for k in node.keywords if k.arg == "slug"]
            for slug in slugs:  # a name passed on (refuse's own slug) is checked where set
                if isinstance(slug, ast.Constant) and not (
                        slug.value in PROBLEM_TYPES and slug.value in documented):
                    unknown.append(where)
    assert bare == [], "raise Problem(slug, detail) instead"
    assert unknown == [], "register the slug in shared/problems.py and docs/problems.md"
