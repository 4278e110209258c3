"""Fuzz intake's HTTP API from its own OpenAPI document (schemathesis), plus structure-aware
mutations of valid FHIR and HL7 v2 inputs (hypothesis), against the real database.

Every response is counted by (operation, mode, status); any status >= 500 or any exception
is a failure. ``python -m tests.integration.intake.fuzz_api --examples 1250`` runs the full
campaign (10,000 schema-generated requests plus the mutation runs) and prints the counts.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy.pool import NullPool

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.store import sql_unit_of_work
from services.intake.bootstrap import utc_now
from services.intake.core import examples
from shared.infra.auth import TokenRegistry
from shared.infra.http import health_router
from shared.infra.migrations import upgrade
from shared.infra.sql_engine import make_sessionmaker, ping
from shared.settings import IntakeSettings

ADMIN = {"Authorization": "Bearer fuzz-admin-token"}
Counts = Counter[tuple[str, str, int]]


def fuzz_app(database_url: str) -> FastAPI:
    """The API over the real database, no broker (accepted submissions stay in the outbox)."""
    engine = make_intake_engine(database_url, poolclass=NullPool)
    settings = IntakeSettings(database_url=database_url, max_body_bytes=64 * 1024,
                              tokens="fuzz-admin-token=admin,fuzz-lab-token=lab-system")
    app = create_api()
    app.state.tokens = TokenRegistry.from_settings(settings)
    app.state.intake = IntakeRuntime(settings, sql_unit_of_work(make_sessionmaker(engine), utc_now),
                                     utc_now, lambda: None)

    async def database() -> None:
        await ping(engine)

    app.include_router(health_router({"database": database}))
    return app


def _settings(examples_per_run: int) -> settings:
    return settings(max_examples=examples_per_run, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def fuzz_schema(app: FastAPI, examples_per_run: int, counts: Counts) -> None:
    """For every operation, positive and negative generation, ``examples_per_run`` each."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run_operation(operation, mode, examples_per_run, counts)


def _run_operation(operation: Any, mode: GenerationMode, examples_per_run: int,
                   counts: Counts) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @_settings(examples_per_run)
    def run(case: Any) -> None:
        response = case.call(headers=ADMIN)
        counts[(operation.label, mode.value, response.status_code)] += 1
        assert response.status_code < 500, (operation.label, response.status_code, response.text)

    try:
        run()
    except Unsatisfiable:
        # An operation without parameters or body (``/livez``) has no invalid input to generate.
        if mode is not GenerationMode.NEGATIVE:
            raise


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))] or [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))] or [prefix]
    return [prefix]


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    mutated = copy.deepcopy(document)
    holder = mutated
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return mutated


def fuzz_mutations(app: FastAPI, examples_per_run: int, counts: Counts) -> None:
    """Valid inputs with one to three parts replaced by arbitrary values: reaches the normaliser
    far deeper than schema-random bodies do."""
    client = _SyncClient(app)
    documents = [examples.OBSERVATION, examples.BUNDLE]
    paths = [(d, p) for d in documents for p in _leaf_paths(d)]

    @given(changes=st.lists(st.tuples(st.sampled_from(paths), json_values), min_size=1,
                            max_size=3))
    @_settings(examples_per_run)
    def fhir(changes: list[tuple[tuple[Any, tuple[Any, ...]], Any]]) -> None:
        document = changes[0][0][0]
        for (source, path), value in changes:
            if source is document:
                document = _replace(document, path, value)
        status = client.post("/fhir", "application/fhir+json", json.dumps(document).encode())
        counts[("mutated FHIR", "mutation", status)] += 1
        assert status < 500

    segments = examples.HL7V2_ORU.strip("\r").split("\r")
    fields = [(s, f) for s, segment in enumerate(segments)
              for f in range(1, len(segment.split("|")))]

    @given(changes=st.lists(st.tuples(st.sampled_from(fields), st.text(max_size=30)), min_size=1,
                            max_size=3),
           separator=st.sampled_from(["\r", "\n", "\r\n"]))
    @_settings(examples_per_run)
    def hl7(changes: list[tuple[tuple[int, int], str]], separator: str) -> None:
        rows = [segment.split("|") for segment in segments]
        for (s, f), value in changes:
            if (s, f) != (0, 1):  # MSH-1/2 are the separators themselves: keep the framing
                rows[s][f] = value
        message = separator.join("|".join(row) for row in rows).encode("utf-8", "surrogatepass")
        status = client.post("/hl7v2", "x-application/hl7-v2+er7", message)
        counts[("mutated HL7 v2", "mutation", status)] += 1
        assert status < 500

    fhir()
    hl7()


class _SyncClient:
    """A synchronous client over the ASGI app (hypothesis drives synchronous test functions)."""

    def __init__(self, app: FastAPI) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette prefers httpx2 for its test client
            from starlette.testclient import TestClient

            self._client = TestClient(app, raise_server_exceptions=True)

    def post(self, path: str, content_type: str, body: bytes) -> int:
        response: httpx.Response = self._client.post(
            path, content=body, headers=ADMIN | {"Content-Type": content_type})
        return response.status_code


def campaign(database_url: str, examples_per_run: int,
             report: Callable[[str], None] = print) -> Counts:
    upgrade("intake", database_url)
    app = fuzz_app(database_url)
    counts: Counts = Counter()
    started = time.monotonic()
    fuzz_schema(app, examples_per_run, counts)
    schema_requests = sum(counts.values())
    fuzz_mutations(app, examples_per_run, counts)
    report(f"schema-generated requests: {schema_requests}; mutation requests: "
           f"{sum(counts.values()) - schema_requests}; in {time.monotonic() - started:.1f} s")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1250,
                        help="examples per operation and generation mode (default 1250)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'fuzz.db'}"
    counts = campaign(url, args.examples)
    for (operation, mode, status), count in sorted(counts.items()):
        print(f"{operation:45} {mode:9} {status}  {count}")
    errors = sum(c for (_, _, status), c in counts.items() if status >= 500)
    print(f"total requests: {sum(counts.values())}; responses >= 500: {errors}")


if __name__ == "__main__":
    main()
