"""Hostile text in every non-FHIR input of the running services, on SQLite and on PostgreSQL.

intake, evaluator and audit run as their own processes (tests.e2e.pipeline), all three on one
database of each kind. Into every JSON field, form field, query parameter and trial file that a
client can send outside FHIR and HL7 v2, each request puts one of:

- NUL (U+0000): PostgreSQL ``text`` refuses it (a 500 there), SQLite stores it;
- another C0 control (ESC, U+001B);
- a lone surrogate (``\\ud800`` in JSON, ``"\\ud800"`` in YAML, an encoded surrogate in a URL):
  no Unicode character, not encodable in UTF-8;
- text over the field's bound (its own, or shared.text_safety.MAX_TEXT_CHARS).

Each answer must be 4xx naming the field (``errors[].path``; a trial file: line and column),
never 5xx; afterwards no row of any table of the three services holds the marker every hostile
value carries. The requests tried and the 5xx count are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from shared.infra.auth import write_dev_tokens
from shared.settings import KafkaSettings
from shared.text_safety import MAX_TEXT_CHARS
from tests.cds_client import ISSUER, CdsClient, order_select_for, request_for
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    _create_postgres_database,
    _drop_postgres_database,
    _postgres_answers,
)
from tests.e2e.pipeline import REPO, poll, post_example, running_services, tokens_by_role

pytestmark = pytest.mark.e2e
TRIAL = "NCT06920433"
MARK = "HOSTILE"
TRIAL_FILE = REPO / "shared" / "trials" / TRIAL / "2025-11-14.2.yaml"
# (name, text in a JSON string or form value, the same in a YAML double-quoted scalar)
JSON_VALUES = {
    "nul": f"{MARK} reason \u0000 text",
    "escape": f"{MARK} reason \u001b text",
    "lone-surrogate": f"{MARK} reason \ud800 text",
    "over-long": MARK + "x" * (MAX_TEXT_CHARS + 1),
}
# a coordinator's reason: 500 characters at most wherever it is kept
OVER_REASON = MARK + "r" * 600
# in a URL: percent-encoded UTF-8; the surrogate as its (invalid) 3-byte encoding
QUERY_VALUES = {"nul": f"{MARK}%00x", "escape": f"{MARK}%1Bx", "lone-surrogate": f"{MARK}%ED%A0%80",
                "over-long": MARK + "q" * 2100}
YAML_VALUES = {"nul": "\\0", "escape": "\\e", "lone-surrogate": "\\ud800",
               "over-long": "y" * (MAX_TEXT_CHARS + 1)}


@dataclass
class Outcome:
    what: str
    status: int | None
    named: bool
    detail: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, kafka_settings: KafkaSettings,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The three services on one fresh database of each kind, an EHR trusted for CDS Hooks,
    one patient screened for the trial, and a coordinator signed in to the app."""
    data = tmp_path_factory.mktemp(f"text-{request.param}")
    url = None
    if request.param == "postgresql":
        if not asyncio.run(_postgres_answers()):
            pytest.skip("PostgreSQL does not answer at " + POSTGRES_ADMIN_URL)
        url = asyncio.run(_create_postgres_database())
    ehr = CdsClient()
    write_dev_tokens(data / "tokens.json")
    tokens = tokens_by_role(data / "tokens.json")
    lab = next(v["client"] for v in json.loads((data / "tokens.json").read_text()).values()
               if v["role"] == "lab-system")
    env = {"EVALUATOR_CDS_ISSUERS": json.dumps({ISSUER: {
               "jwks": str(ehr.write_jwks(data / "ehr.jwks.json")), "source_system": lab}}),
           "EVALUATOR_CDS_INTAKE_TOKEN": tokens["coordinator"],
           "EVALUATOR_WEBHOOK_ALLOWED_HOSTS": "hooks.example.org"}
    try:
        with running_services(kafka_settings, data, database_url=url, extra_env=env) as urls:
            [key] = post_example(urls["intake"], tokens["lab-system"])["patient_keys"]
            assert poll(lambda: _screened(urls, tokens, key), timeout_s=60), "never screened"
            ui = httpx.Client(base_url=urls["evaluator"], timeout=10)
            signed_in = ui.post("/ui/sign-in", data={"token": tokens["coordinator"]},
                                headers={"Origin": urls["evaluator"]})
            assert signed_in.status_code == 303, signed_in.text
            page = ui.get(f"/ui/patients/{key}/trials/{TRIAL}")
            assert page.status_code == 200, page.text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert csrf is not None
            yield {**urls, "tokens": tokens, "key": key, "ehr": ehr, "ui": ui,
                   "csrf": csrf.group(1), "data": data, "db": request.param}
            ui.close()
    finally:
        if url is not None:
            asyncio.run(_drop_postgres_database(url))


def _screened(urls: dict[str, str], tokens: dict[str, str], key: str) -> bool:
    answer = httpx.get(f"{urls['audit']}/decisions", params={"patient_key": key,
                                                             "trial_id": TRIAL},
                       headers={"Authorization": f"Bearer {tokens['auditor']}"}, timeout=5)
    return answer.status_code == 200 and bool(answer.json()["items"])


def test_hostile_text_is_refused_naming_its_field_and_never_stored(app: dict[str, Any]) -> None:
    outcomes = list(_campaign(app))
    statuses = Counter(o.status for o in outcomes)
    server_errors = [o for o in outcomes if o.status is None or o.status >= 500]
    unnamed = [o for o in outcomes if o.status is not None and o.status < 500 and not o.named]
    stored = _stored_marks(app)
    print(f"\n[{app['db']}] {len(outcomes)} hostile requests: statuses {dict(statuses)}; "
          f"5xx or no answer {len(server_errors)}; 4xx without the field named "
          f"{len(unnamed)}; tables holding hostile text {stored}")
    problems = [f"{o.what}: {o.status} {o.detail[:160]}" for o in server_errors + unnamed]
    assert not problems, "\n".join(problems)
    assert not stored, f"hostile text stored in {stored}"


def _campaign(app: dict[str, Any]) -> Iterator[Outcome]:
    tokens, key = app["tokens"], app["key"]
    coordinator = {"Authorization": f"Bearer {tokens['coordinator']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    intake, evaluator = app["intake"], app["evaluator"]
    json_routes: list[tuple[str, str, dict[str, str], dict[str, Any], list[tuple[str, ...]]]] = [
        (intake, "/patients/lookup", coordinator,
         {"source_system": "lab", "source_patient_id": "p-1", "reason": "screening a patient"},
         [("source_system",), ("source_patient_id",), ("reason",), ("extra",)]),
        (intake, f"/patients/{key}/reidentify", coordinator,
         {"trial": TRIAL, "reason": "to contact the patient"},
         [("trial",), ("reason",), ("extra",)]),
        (evaluator, "/webhooks", coordinator,
         {"trial": TRIAL, "url": "https://hooks.example.org/tw", "secret": "s" * 20},
         [("trial",), ("url",), ("secret",)]),
    ]
    for base, path, headers, valid, fields in json_routes:
        for field in fields:
            for name, value in JSON_VALUES.items():
                yield _send_json(f"POST {path} {'.'.join(field)} {name}", base + path, headers,
                                 _poisoned(valid, field, value), "body." + ".".join(field))
    for reason_route in ("/patients/lookup", f"/patients/{key}/reidentify"):
        valid = json_routes[0][3] if reason_route.endswith("lookup") else json_routes[1][3]
        yield _send_json(f"POST {reason_route} reason over 500", intake + reason_route,
                         coordinator, {**valid, "reason": OVER_REASON}, "body.reason")
    for service in ("trialwatch-patient-view", "trialwatch-order-select"):
        url = f"{evaluator}/cds-services/{service}"
        body = (request_for(key) if service.endswith("view") else order_select_for(key))
        for field in [("context", "patientId"), ("context", "userId"), ("hookInstance",),
                      ("fhirServer",), ("context", "extra"), ("extension",)]:
            for name, value in JSON_VALUES.items():
                yield _send_json(
                    f"POST CDS {service} {'.'.join(field)} {name}", url,
                    {"Authorization": f"Bearer {app['ehr'].token(url)}"},
                    _poisoned(body, field, value), "body." + ".".join(field))
    yield from _forms(app)
    yield from _queries(app, coordinator, auditor)
    yield from _trial_files(app, admin)
    for action in ("deactivate", "retire"):  # last: a stored reason would stop the trial
        for name, value in {**JSON_VALUES, "over-500": OVER_REASON}.items():
            yield _send_json(f"POST /trials/{TRIAL}/{action} reason {name}",
                             f"{evaluator}/trials/{TRIAL}/{action}", admin, {"reason": value},
                             "body.reason")


def _forms(app: dict[str, Any]) -> Iterator[Outcome]:
    ui, key, csrf = app["ui"], app["key"], app["csrf"]
    pair = f"/ui/patients/{key}/trials/{TRIAL}"
    forms: list[tuple[str, dict[str, str], list[str]]] = [
        (f"{pair}/actions", {"csrf": csrf, "action": "not-a-candidate",
                             "reason": "moved away"}, ["reason", "action", "csrf"]),
        (f"{pair}/reidentify", {"csrf": csrf, "reason": "to contact the patient"},
         ["reason"]),
        ("/ui/alerts/00000000-0000-0000-0000-000000000000/acknowledge",
         {"csrf": csrf, "back": "/ui/alerts"}, ["back"]),
        ("/ui/sign-in", {"token": "dev-unknown", "next": "/ui/alerts"}, ["token", "next"]),
    ]
    values = {n: v.replace("\ud800", "%ED%A0%80") for n, v in JSON_VALUES.items()}
    for path, valid, fields in forms:
        for field in fields:
            for name, value in values.items():
                form = "&".join(f"{k}={quote(v, safe='%') if k == field else quote(v)}"
                                for k, v in {**valid, field: value}.items())
                yield _answer(f"POST {path} form {field} {name}", f"body.{field}", lambda f=form,
                              p=path: ui.post(p, content=f, headers={
                                  "Content-Type": "application/x-www-form-urlencoded",
                                  "Origin": app["evaluator"]}))
        if "reason" in fields:
            form = "&".join(f"{k}={quote(v)}" for k, v in {**valid,
                                                          "reason": OVER_REASON}.items())
            yield _answer(f"POST {path} form reason over 500", "body.reason",
                          lambda f=form, p=path: ui.post(p, content=f, headers={
                              "Content-Type": "application/x-www-form-urlencoded"}))


def _queries(app: dict[str, Any], coordinator: dict[str, str],
             auditor: dict[str, str]) -> Iterator[Outcome]:
    key, evaluator, audit = app["key"], app["evaluator"], app["audit"]
    routes = [
        (audit, "/decisions", auditor, ["patient_key", "trial_id", "trial_version",
                                         "decided_from", "status", "cursor"]),
        (audit, "/decisions/export", auditor, ["trial_id", "format"]),
        (audit, "/access-log", auditor, ["cursor", "limit"]),
        (audit, f"/patients/{key}/trials/{TRIAL}/status", auditor, ["trial_version", "at"]),
        (evaluator, "/worklist", coordinator, ["trial", "limit"]),
        (evaluator, "/alerts/stream", coordinator, ["trial"]),
    ]
    for base, path, headers, params in routes:
        for param in params:
            for name, value in QUERY_VALUES.items():
                url = f"{base}{path}?{param}={value}"
                if path == "/worklist" and param != "trial":
                    url += f"&trial={TRIAL}"
                yield _answer(f"GET {path}?{param} {name}", f"query.{param}",
                              lambda u=url, h=headers: httpx.get(u, headers=h, timeout=5))
    for page, param in (("/ui/alerts", "trial"), (f"/ui/trials/{TRIAL}/worklist", "missing"),
                        ("/ui/sign-in", "next")):
        for name, value in QUERY_VALUES.items():
            yield _answer(f"GET {page}?{param} {name}", f"query.{param}",
                          lambda p=page, q=param, v=value: app["ui"].get(f"{p}?{q}={v}"))


def _trial_files(app: dict[str, Any], admin: dict[str, str]) -> Iterator[Outcome]:
    original = TRIAL_FILE.read_text()
    for name, escape in YAML_VALUES.items():
        text = (original.replace('version: "2025-11-14.2"', 'version: "2099-01-01.1"', 1)
                .replace('  title: "', f'  title: "{MARK} {escape} ', 1))
        for route in ("/trials", "/trials/validate"):
            yield _answer(f"POST {route} YAML title {name}", "24:", lambda r=route, t=text:
                          httpx.post(app["evaluator"] + r, content=t.encode(),
                                     headers={**admin, "Content-Type": "application/yaml"},
                                     timeout=10), yaml=True)
        if name != "nul":  # the command reads the file as the API does: one case suffices
            continue
        path = app["data"] / f"hostile-{name}.yaml"
        path.write_text(text, encoding="utf-8")
        cli = subprocess.run(
            [sys.executable, "-m", "services.cli", "trials", "add", str(path),
             "--database-url", app["evaluator_db"]],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        named = cli.returncode != 0 and ": 24:" in cli.stdout + cli.stderr
        yield Outcome(f"trialwatch trials add title {name}",
                      422 if cli.returncode != 0 else 200, named, cli.stderr[-300:])


def _poisoned(body: dict[str, Any], field: tuple[str, ...], value: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in field[:-1]:
        target = target[step]
    target[field[-1]] = value
    return dict(copy)


def _send_json(what: str, url: str, headers: dict[str, str], body: dict[str, Any],
               field: str) -> Outcome:
    # json.dumps escapes a lone surrogate as \ud800, as any JSON encoder in ASCII mode does
    content = json.dumps(body)
    return _answer(what, field, lambda: httpx.post(url, content=content, timeout=10, headers={
        **headers, "Content-Type": "application/json"}))


def _answer(what: str, field: str, send: Any, yaml: bool = False) -> Outcome:
    try:
        response = send()
    except httpx.HTTPError as error:
        return Outcome(what, None, False, type(error).__name__)
    text = response.text
    if yaml:
        named = (response.status_code == 422 and field in text) or (
            response.status_code == 200 and f'"line":{field[:-1]}' in text.replace(" ", ""))
    else:
        try:
            paths = [e.get("path", "") for e in response.json().get("errors", [])]
        except (ValueError, AttributeError):
            paths = []
        named = 400 <= response.status_code < 500 and any(p == field for p in paths)
    return Outcome(what, response.status_code, named, text)


def _stored_marks(app: dict[str, Any]) -> list[str]:
    """Every table of the three services' databases with a value holding the marker."""
    urls = {app[f"{s}_db"] for s in ("intake", "evaluator", "audit")}
    found: list[str] = []
    for url in urls:
        found += asyncio.run(_marked_tables(url))
    return sorted(set(found))


async def _marked_tables(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            found = []
            for table in metadata.sorted_tables:
                rows = (await connection.execute(select(table))).all()
                if any(MARK in str(value) for row in rows for value in row):
                    found.append(table.name)
            return found
    finally:
        await engine.dispose()
