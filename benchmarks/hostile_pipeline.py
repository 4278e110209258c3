"""Hostile input against EVERY service of a running ``trialwatch run``, then a PHI search.

Usage: ``.venv/bin/python benchmarks/hostile_pipeline.py [--data-dir DIR] [--quick]``
(about 10-20 min on a shared 2-CPU machine; ``--quick`` samples the intake mutations).

It starts this checkout's ``trialwatch run`` (embedded Tansu broker + SQLite, loopback only) with
an EHR's JWKS trusted for CDS Hooks (``tests/cds_client.py``), feeds a few patients whose
identifiers are distinctive fake values (``PHI`` below), and then sends:

- intake: the committed campaign of ``tests/integration/intake/hostile_probe.py`` (every kind
  issue 14 names) plus new kinds: HL7 v2 with other delimiters and escapes (``\\Z99\\`` and
  friends inside PID, unterminated escapes, MSH-2 oddities), non-ASCII digits in numbers and
  dates, JSON numbers beyond float range and past Python's 4,300-digit int limit, deep nesting,
  odd encodings (UTF-16/32 with and without BOM, overlong UTF-8);
- evaluator, audit (and intake's other routes): every operation of each service's own
  ``/openapi.json`` with hostile path parameters (path traversal, NUL, 10k characters, huge
  numbers), hostile query parameters (numbers past 2^63, date-times whose UTC conversion
  overflows, repeated parameters), hostile JSON bodies (wrong shapes, deep nesting, huge
  numbers), odd Content-Types;
- the coordinator web app (signed in through ``/ui/sign-in``, CSRF token read from a page):
  hostile path, query and form values, open redirects in ``next``/``back``, static-file traversal;
- CDS Hooks: signed (valid JWT) and unsigned calls with hostile contexts and prefetch;
- webhooks: loopback/private/link-local URLs written in every notation, oversized fields;
- slow clients: connections that send a partial header or body and stall.

While it runs, ``/livez`` of all three services is polled every 0.5 s. It prints the count of
requests and of responses >= 500 per service and kind, the slowest ``/livez`` per service, the
load average, and then greps every file under the data directory (logs, databases, checkpoints)
for the PHI values sent. ``intake.db`` is expected to hold identifiers (the surrogate-key to MRN
map) and is reported apart. Nothing asserts; exit status 1 when any response was >= 500, a
request got no answer, ``/livez`` failed, or PHI was found outside intake.db.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.intake.core import examples  # noqa: E402
from tests.cds_client import ISSUER, CdsClient, order_select_for, request_for  # noqa: E402
from tests.integration.intake import hostile_probe as hp  # noqa: E402

FHIR = "application/fhir+json"
HL7 = "x-application/hl7-v2+er7"
TRIAL = "NCT06920433"

# Distinctive fake identifiers: any of them in a log or a database outside intake.db is a leak.
PHI = {
    "mrn": "ZQMRN88412",
    "mrn2": "ZQMRN99573",
    "family": "Quillfeatherz",
    "given": "Zebedious",
    "phone": "5550198842",
    "street": "Wyvernstraat",
    "email": "zebedious.q@example.org",
    "ssn": "999-88-7421",
}


def pid_segment(mrn: str, escape: str = "") -> str:
    """A PID carrying every PHI value; ``escape`` is put inside PID-3 (and PID-5)."""
    return (f"PID|1||{mrn}{escape}^^^HOSP^MR||{PHI['family']}{escape}^{PHI['given']}||19800101|F"
            f"|||17 {PHI['street']}^^Springfield^ZZ^99999||^PRN^PH^{PHI['email']}^^555^0198842"
            f"~{PHI['phone']}|||||{PHI['ssn']}")


def oru(pid: str, control: str, obx5: str = "13.1", value_type: str = "NM",
        when: str = "20261120080000+0000", msh2: str = "^~\\&", sep: str = "|") -> str:
    head = (f"MSH{sep}{msh2}{sep}LAB{sep}HOSP{sep}TRIALWATCH{sep}HOSP{sep}20261120083000+0000"
            f"{sep}{sep}ORU^R01{sep}{control}{sep}P{sep}2.5.1")
    body = [pid, f"OBR|1||ORD-{control}|24317-0^Hemogram^LN|||{when}",
            f"OBX|1|{value_type}|718-7^Hemoglobin^LN||{obx5}|g/dL|12.0-16.0|N|||F|||{when}"]
    if sep != "|":
        body = [s.replace("|", sep) for s in body]
    return "\r".join([head, *body]) + "\r"


def fhir_patient_bundle(n: int, extra_obs: dict[str, Any] | None = None) -> dict[str, Any]:
    pid = f"zq-{n}"
    patient = {"resourceType": "Patient", "id": pid,
               "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1",
                               "value": f"{PHI['mrn2']}{n}"}],
               "name": [{"family": PHI["family"], "given": [PHI["given"]]}],
               "telecom": [{"system": "phone", "value": PHI["phone"]},
                           {"system": "email", "value": PHI["email"]}],
               "address": [{"line": [f"17 {PHI['street']}"], "city": "Springfield"}],
               "gender": "female", "birthDate": "1980-01-01"}
    observation = {**examples.OBSERVATION, "id": f"{pid}-hb",
                   "subject": {"reference": f"urn:uuid:{pid}"}, **(extra_obs or {})}
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{pid}", "resource": patient},
        {"resource": observation}]}


# ---------------------------------------------------------------- intake: new kinds

# v2.5.1 2.7: escape sequences; the ones python-hl7 and the normaliser may not know.
HL7_ESCAPES = ["\\Z99\\", "\\Zxx\\", "\\X1\\", "\\Xzz\\", "\\X\\", "\\C2842\\", "\\M2442\\",
               "\\.br\\", "\\.sp5\\", "\\.in-99999999999\\", "\\H\\", "\\N\\", "\\E", "\\",
               "\\\\", "\\F\\\\S\\\\T\\\\R\\\\E\\", "\\X" + "0" * 10_001 + "\\",
               "\\Z" + "9" * 5_000 + "\\", "\\X00\\", "\\XFFFE\\", "\\XD800\\"]
NON_ASCII_DIGITS = ["\u0661\u0663.\u0661",  # Arabic-Indic 13.1
                    "\uff11\uff13.\uff11",  # fullwidth 13.1
                    "1\u0663.1",  # mixed
                    "\U0001d7cf\U0001d7d1.\U0001d7cf",  # mathematical bold 13.1
                    "1_3.1", "13.1\u00a0", "\u200b13.1", "13\u066b1"]
NON_ASCII_DATES = ["\u0662\u0660\u0662\u0666\u0661\u0661\u0662\u0660\u0660\u0668\u0660\u0660",
                   "\uff12\uff10\uff12\uff16\uff11\uff11\uff12\uff10"]


def hl7_new() -> Iterator[hp.Probe]:
    n = 0

    def probe(kind: str, text: str, encoding: str = "utf-8") -> hp.Probe:
        return hp.Probe(kind, "POST", "/hl7v2", text.encode(encoding, "surrogatepass"),
                        {"Content-Type": HL7})

    for escape in HL7_ESCAPES:
        n += 1
        yield probe("hl7-escape-in-pid", oru(pid_segment(PHI["mrn"], escape), f"ESC{n}"))
        yield probe("hl7-escape-in-obx", oru(pid_segment(PHI["mrn"]), f"ESO{n}",
                                             obx5=f"13{escape}1"))
        yield probe("hl7-escape-in-obx", oru(pid_segment(PHI["mrn"]), f"EST{n}",
                                             obx5=f"high{escape}", value_type="ST"))
    # other delimiters: a legal MSH with other separators, and illegal ones
    for sep, msh2 in (("#", "^~\\&"), ("|", "#~\\&"), ("|", "^^^^"), ("|", "^~\\"),
                      ("|", "^~\\&#"), ("|", "^~\\&#!"), ("|", ""), ("|", "^"), ("\\", "^~|&"),
                      ("|", "^~\\&\r"), ("^", "|~\\&"), ("|", "\u00e9~\\&"), ("\x00", "^~\\&")):
        n += 1
        yield probe("hl7-delimiters", oru(pid_segment(PHI["mrn"]), f"DEL{n}", sep=sep,
                                          msh2=msh2))
    for digits in NON_ASCII_DIGITS:
        n += 1
        yield probe("hl7-non-ascii-number", oru(pid_segment(PHI["mrn"]), f"NUM{n}", obx5=digits))
    for when in NON_ASCII_DATES:
        n += 1
        yield probe("hl7-non-ascii-date", oru(pid_segment(PHI["mrn"]), f"DAT{n}", when=when))
    for segments in (5_000, 20_000):
        n += 1
        many = oru(pid_segment(PHI["mrn"]), f"MANY{n}") + "NTE|1||x\r" * segments
        yield probe("hl7-many-segments", many)
    # encodings: UTF-16/32 with and without BOM, overlong UTF-8, latin-1 claimed as UTF-8
    text = oru(pid_segment(PHI["mrn"]), "ENC")
    for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-8-sig"):
        yield probe("hl7-encoding", text, encoding)
    yield hp.Probe("hl7-encoding", "POST", "/hl7v2",
                   text.encode().replace(b"ZQ", b"\xc0\xda\xc1\xd1"), {"Content-Type": HL7})
    yield hp.Probe("hl7-encoding", "POST", "/hl7v2", text.encode("latin-1", "replace"),
                   {"Content-Type": HL7 + "; charset=utf-8"})


def deep(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + closer * levels).encode()


def fhir_new() -> Iterator[hp.Probe]:
    def probe(kind: str, body: bytes, content_type: str = FHIR) -> hp.Probe:
        return hp.Probe(kind, "POST", "/fhir", body, {"Content-Type": content_type})

    good = json.dumps(fhir_patient_bundle(900)).encode()
    # numbers: beyond float, past Python's int digit limit, negative zero, exponent overflow
    for number in ("1e400", "-1e400", "1" * 4_301, "1" * 50_000, "1e-400", "-0.0",
                   "1E+99999999", "0." + "0" * 10_000 + "1", "12.9" + "0" * 5_000,
                   "123456789012345678901234567890"):
        yield probe("fhir-huge-number", good.replace(b'"value": 12.9', b'"value": '
                                                     + number.encode()))
        yield probe("fhir-huge-number", json.dumps(examples.OBSERVATION).encode().replace(
            b'"versionId": "1"', b'"versionId": ' + number.encode()))
    for levels in (500, 990, 1_100, 5_000, 50_000):
        nested = b'{"resourceType":"Observation","extension":' + deep(levels) + b"}"
        yield probe("fhir-deep-nesting", nested)
        yield probe("fhir-deep-nesting", b'{"a":' * levels + b"1" + b"}" * levels)
    # non-ASCII digits where FHIR's regexes say [0-9]
    for when in ("\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0660T08:30:00Z",
                 "\uff12\uff10\uff12\uff16-11-20T08:30:00Z", "2026-11-20T08:30:00\u221205:00",
                 "2026-11-20T08:30:00.\u0661Z", "2026-11-20T08:30:60Z",
                 "2026-11-20T24:00:00Z", "2026-11-20T08:30:00+14:01", "2026-11-20t08:30:00z",
                 "+2026-11-20", "02026-11-20", "2026-11-20T08:30:00.0000000000000001Z"):
        yield probe("fhir-odd-date", json.dumps(
            fhir_patient_bundle(901, {"effectiveDateTime": when})).encode())
    for birth in ("\u0661\u0669\u0668\u0660-01-01", "1980-02-30", "0000-01-01", "9999-12-31"):
        bundle = fhir_patient_bundle(902)
        bundle["entry"][0]["resource"]["birthDate"] = birth
        yield probe("fhir-odd-date", json.dumps(bundle).encode())
    # free text that carries identifiers: displays, notes, interpretation, units
    for path_value in ({"code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
                                             "display": f"Hb of {PHI['given']} {PHI['family']} "
                                                        f"MRN {PHI['mrn']}"}],
                                 "text": f"call {PHI['phone']}"}},
                       {"note": [{"text": f"{PHI['family']} lives at {PHI['street']}"}]},
                       {"interpretation": [{"coding": [{
                           "system": "http://terminology.hl7.org/CodeSystem/"
                                     "v3-ObservationInterpretation",
                           "code": "N", "display": f"normal for {PHI['ssn']}"}],
                           "text": PHI["email"]}]},
                       {"valueQuantity": {"value": 13.1, "unit": f"g/dL {PHI['mrn']}",
                                          "system": "http://unitsofmeasure.org",
                                          "code": "g/dL"}},
                       {"valueString": f"{PHI['family']} {PHI['phone']}"},
                       {"valueCodeableConcept": {"text": f"{PHI['given']} {PHI['mrn']}"}},
                       {"method": {"text": PHI["street"]}},
                       {"id": PHI["mrn"]},
                       {"identifier": [{"value": PHI["ssn"]}]},
                       {"status": f"final{PHI['mrn']}"},
                       {"code": {"coding": [{"system": "http://loinc.org",
                                             "code": f"718-7 {PHI['mrn']}"}]}}):
        yield probe("fhir-phi-free-text", json.dumps(fhir_patient_bundle(903, path_value))
                    .encode())
    # encodings
    text = json.dumps(fhir_patient_bundle(904))
    for encoding in ("utf-16", "utf-16-be", "utf-32", "utf-8-sig"):
        yield probe("fhir-encoding", text.encode(encoding))
        yield probe("fhir-encoding", text.encode(encoding), FHIR + "; charset=" + encoding)
    yield probe("fhir-encoding", text.encode().replace(b"Zebed", b"\xc0\xda\xe0\x80\xaf"))
    yield probe("fhir-encoding", text.encode().replace(b"Zebed", b"\xed\xa0\x80"))
    # duplicate keys (the last or the first wins?), BOM inside, NUL keys, huge key
    yield probe("fhir-json-shape", b'{"resourceType":"Observation","resourceType":"Patient",'
                + json.dumps(examples.OBSERVATION).encode()[1:])
    yield probe("fhir-json-shape", json.dumps({**examples.OBSERVATION, "k" * 1_000_000: 1})
                .encode())
    yield probe("fhir-json-shape", json.dumps({**examples.OBSERVATION, "\u0000": 1}).encode())
    yield probe("fhir-json-shape", json.dumps(
        {**examples.OBSERVATION, **{f"x{i}": i for i in range(100_000)}}).encode())
    yield probe("fhir-json-shape", json.dumps({"resourceType": "Bundle", "type": "collection",
                                               "entry": [{}] * 200_000}).encode())


# ---------------------------------------------------------------- every operation (OpenAPI)

PATH_VALUES = ["..%2F..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", "%00", "x" * 10_000,
               "%C0%AF", "%FF", "%F0%9F%98%80" * 50, "-1", "99999999999999999999999999",
               "1e308", "NaN", "pt_" + "0" * 32, "00000000-0000-0000-0000-000000000000",
               "sha256:" + "0" * 64, "sha256:..%2F..%2Fetc%2Fpasswd", "%ED%A0%80",
               "NCT06920433%00", "NCT06920433", "a%20b", "%0d%0aSet-Cookie:%20x=y"]
QUERY_VALUES = ["", "-1", "0", str(2**63), str(2**64), str(-(2**63) - 1), "1" * 5_000, "1e308",
                "NaN", "inf", "-0", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                "0001-01-01", "9999-12-31", "2026-02-30", "2026-11-20T25:00:00Z",
                "+275760-09-13", "2026-11-20T08:30:00+99:99", "\u0662\u0660\u0662\u0666-01-01",
                "x" * 10_000, "\x00", "\ud800", "%", "../../etc/passwd", "csv", "jsonl", "xml",
                "true", "[]", "{}"]
BODY_VALUES: list[Any] = [None, "", 0, -1, 2**64, 1e308, True, [], {}, "x" * 100_000, "\ud800",
                          "\x00", "2026-02-30", "9999-12-31T23:59:59-14:00",
                          "0001-01-01T00:00:00+14:00", [None] * 10_000]


def _example_body(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A rough valid-looking instance of a JSON schema (enough to reach the handler)."""
    if "$ref" in schema:
        return _example_body(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("examples"):
        return copy_json(schema["examples"][0])
    if "anyOf" in schema:
        return _example_body(schema["anyOf"][0], components)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _example_body(v, components) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example_body(schema.get("items", {}), components)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if "enum" in schema:
        return schema["enum"][0]
    return "NCT06920433"


def q(value: str) -> str:
    """Percent-encoded as bytes, lone surrogates included (as a hostile client can send)."""
    return quote(value, safe="", errors="surrogatepass")


def copy_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def openapi_probes(service: str, spec: dict[str, Any], role: str,
                   skip: tuple[str, ...] = ()) -> Iterator[hp.Probe]:
    components = spec.get("components", {}).get("schemas", {})
    for path, operations in spec.get("paths", {}).items():
        # a valid request to an event stream is answered 200 and never ends: not probed here
        if path.startswith(skip) or path in ("/livez", "/readyz", "/metrics") \
                or path.endswith("/stream"):
            continue
        for method, operation in operations.items():
            method = method.upper()
            params = operation.get("parameters", [])
            path_params = [p["name"] for p in params if p["in"] == "path"]
            query = [p["name"] for p in params if p["in"] == "query"]
            kind = f"{service}-{method} {path}"
            base = path
            for name in path_params:
                base = base.replace("{" + name + "}", "NCT06920433" if "trial" in name else "1")
            headers = {"X-Role": role}
            body_schema = (operation.get("requestBody", {}).get("content", {})
                           .get("application/json", {}).get("schema"))
            body = _example_body(body_schema, components) if body_schema else None
            content = json.dumps(body).encode() if body is not None else None
            if content is not None:
                headers["Content-Type"] = "application/json"
            for name in path_params:
                for value in PATH_VALUES:
                    other = path
                    for each in path_params:
                        other = other.replace("{" + each + "}", value if each == name else
                                              ("NCT06920433" if "trial" in each else "1"))
                    yield hp.Probe(kind, method, other, content, dict(headers))
            for name in query:
                for value in QUERY_VALUES:
                    yield hp.Probe(kind, method, f"{base}?{name}={q(value)}",
                                   content, dict(headers))
                yield hp.Probe(kind, method, f"{base}?" + "&".join([f"{name}=1"] * 2_000),
                               content, dict(headers))
            if query:
                yield hp.Probe(kind, method, f"{base}?" + "&".join(
                    f"{n}={q(v)}" for n, v in zip(query, QUERY_VALUES, strict=False)),
                    content, dict(headers))
            if body is not None:
                for leaf in hp.leaves(body):
                    if not leaf:
                        continue
                    for value in BODY_VALUES:
                        yield hp.Probe(kind, method, base, hp.dumps(hp.replaced(body, leaf, value)),
                                       dict(headers))
                for raw in (b"", b"null", b"[]", b"{", deep(100_000, "[", "]"),
                            b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"\xff\xfe", b"1e400",
                            b"1" * 5_000, b'"\\ud800"'):
                    yield hp.Probe(kind, method, base, raw, dict(headers))
                for content_type in hp.CONTENT_TYPES[:12]:
                    odd = dict(headers)
                    if content_type is None:
                        odd.pop("Content-Type", None)
                    else:
                        odd["Content-Type"] = content_type
                    yield hp.Probe(kind, method, base, content, odd)


# ---------------------------------------------------------------- evaluator specifics

LOOPBACK_URLS = ["http://127.0.0.1/", "http://127.1/", "http://0x7f000001/", "http://2130706433/",
                 "http://0177.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                 "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:127.0.0.1]/",
                 "http://localhost/", "http://localhost./", "http://LOCALHOST/",
                 "http://169.254.169.254/latest/meta-data/", "http://[fe80::1%25lo]/",
                 "http://10.0.0.1/", "http://192.168.1.1/", "http://0.0.0.0/", "http://0/",
                 "http://[::]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
                 "http://[::127.0.0.1]/", "http://[::ffff:0:7f00:1]/",
                 "http://\u2460\u2461\u2466.0.0.1/", "http://\uff11\uff12\uff17.0.0.1/",
                 "http://127.0.0.1.nip.io/", "http://example.com@127.0.0.1/",
                 "http://127.0.0.1#@example.org/", "http://[::1]:8081/fhir",
                 "http://100.64.0.1/", "http://198.18.0.1/", "http://224.0.0.1/",
                 "http://255.255.255.255/", "https://" + "a" * 63 + ".example.org/",
                 "https://example.org/" + "x" * 3_000, "file:///etc/passwd", "gopher://x/",
                 "https://example.org:99999/", "https://[::1/", "https://exa mple.org/"]


SIGN_FOR = "X-Sign-For"  # replaced by a fresh EHR JWT for this audience when sent


def evaluator_specifics(ehr: CdsClient, base_url: str) -> Iterator[hp.Probe]:
    coordinator = {"X-Role": "coordinator", "Content-Type": "application/json"}
    for url in LOOPBACK_URLS:
        yield hp.Probe("webhook-target", "POST", "/webhooks",
                       json.dumps({"trial": TRIAL, "url": url}).encode(), dict(coordinator))
    for body in ({"trial": "x" * 50_000_000 if False else "x" * 5_000_000,
                  "url": "https://example.org/"},
                 {"trial": TRIAL, "url": "https://example.org/", "secret": "\ud800" * 20},
                 {"trial": TRIAL, "url": "https://example.org/", "secret": "s" * 100_000},
                 {"trial": TRIAL, "url": "https://example.org/", "extra": 1},
                 {"trial": float("nan"), "url": "https://example.org/"}):
        yield hp.Probe("webhook-fields", "POST", "/webhooks", json.dumps(body).encode(),
                       dict(coordinator))
    # CDS Hooks: signed and unsigned, with hostile contexts
    for service_id, make in (("trialwatch-patient-view", request_for),
                             ("trialwatch-order-select", order_select_for)):
        audience = f"{base_url}/cds-services/{service_id}"
        template = make("zq-1")
        for signed in (True, False):
            # a fresh JWT (its own jti: a replayed one is refused) is made when the probe is sent
            auth = {SIGN_FOR: audience} if signed else {}
            for leaf in hp.leaves(template):
                for value in (None, "", "x" * 100_000, 2**64, 1e308, [], {}, "\ud800",
                              "../../etc/passwd", "9999-12-31T23:59:59-14:00"):
                    yield hp.Probe(f"cds-{service_id[11:]}-{'signed' if signed else 'unsigned'}",
                                   "POST", f"/cds-services/{service_id}",
                                   hp.dumps(hp.replaced(template, leaf, value)),
                                   {"Content-Type": "application/json", **auth})
            for raw in (b"", b"{}", deep(100_000), b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
                        b"1" * 5_000):
                yield hp.Probe(f"cds-{service_id[11:]}-raw", "POST",
                               f"/cds-services/{service_id}", raw,
                               {"Content-Type": "application/json", **auth})
        for claims in ({"exp": 2**64}, {"iat": -(2**64)}, {"aud": ["x"] * 10_000},
                       {"iss": "x" * 100_000}, {"jti": None}, {"exp": "NaN"}):
            yield hp.Probe("cds-jwt-claims", "POST", f"/cds-services/{service_id}",
                           json.dumps(template).encode(),
                           {"Content-Type": "application/json",
                            "Authorization": f"Bearer {ehr.token(audience, **claims)}"})
        for token in ("a.b.c", "e30.e30.", "x" * 100_000, "eyJhbGciOiJub25lIn0.e30.",
                      "eyJhbGciOiJFUzM4NCIsImtpZCI6Ii4uLy4uLy4uL2V0Yy9wYXNzd2QifQ.e30.AA"):
            yield hp.Probe("cds-jwt-forged", "POST", f"/cds-services/{service_id}",
                           json.dumps(template).encode(),
                           {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def ui_probes(cookie: str, csrf: str) -> Iterator[hp.Probe]:
    session = {"Cookie": cookie, "X-Role": "coordinator"}
    form = {**session, "Content-Type": "application/x-www-form-urlencoded"}
    for value in PATH_VALUES:
        for path in (f"/ui/trials/{value}/worklist", f"/ui/patients/{value}/trials/{TRIAL}",
                     f"/ui/patients/pt_x/trials/{value}", f"/ui/static/{value}",
                     f"/ui/static/..%2f..%2f..%2f{value}", f"/ui/alerts?trial={value}",
                     f"/ui/trials/{TRIAL}/worklist?missing={value}"):
            yield hp.Probe("ui-get", "GET", path, None, dict(session))
        for path in (f"/ui/alerts/{value}/acknowledge",
                     f"/ui/patients/{value}/trials/{TRIAL}/actions",
                     f"/ui/patients/{value}/trials/{TRIAL}/reidentify"):
            yield hp.Probe("ui-post", "POST", path,
                           f"csrf={csrf}&action=contacted&reason=because+of+it".encode(),
                           dict(form))
    for value in QUERY_VALUES:
        v = q(value)
        yield hp.Probe("ui-form", "POST", f"/ui/alerts/{v or 'x'}/acknowledge",
                       f"csrf={csrf}&back={v}".encode(), dict(form))
        yield hp.Probe("ui-form", "POST", f"/ui/patients/pt_x/trials/{TRIAL}/actions",
                       f"csrf={csrf}&action={v}&reason={v}".encode(), dict(form))
    for body in (f"csrf={csrf}&reason=" + "r" * 5_000_000, "csrf=" + "c" * 1_000_000,
                 f"csrf={csrf}&" + "&".join(f"k{i}=v" for i in range(100_000)),
                 f"csrf={csrf}&reason=%ED%A0%80%00"):
        yield hp.Probe("ui-form-size", "POST", f"/ui/patients/pt_x/trials/{TRIAL}/reidentify",
                       body.encode(), dict(form))
    for target in ("//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example",
                   "/%2f%2fevil.example", "/\t/evil.example", "javascript:alert(1)",
                   "/ui/alerts\r\nSet-Cookie: x=y", "x" * 100_000):
        yield hp.Probe("ui-open-redirect", "GET", f"/ui/sign-in?next={quote(target, safe='')}",
                       None, {})
        yield hp.Probe("ui-open-redirect", "POST", "/ui/alerts/x/acknowledge",
                       f"csrf={csrf}&back={quote(target, safe='')}".encode(), dict(form))


# ---------------------------------------------------------------- running it


async def slow_clients(urls: dict[str, str], tally: hp.Tally, hold_s: float,
                       count: int) -> dict[str, int]:
    """``count`` connections per service that send a partial header (or a header and part of a
    body) and stall; returns how many were still open after ``hold_s``."""
    async def one(url: str, body: bool) -> bool:
        parsed = httpx.URL(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            if body:
                writer.write(b"POST /fhir HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/fhir+json\r\nContent-Length: 100000\r\n\r\n{")
            else:
                writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            await writer.drain()
            deadline = time.monotonic() + hold_s
            while time.monotonic() < deadline:
                try:
                    data = await asyncio.wait_for(reader.read(1), 1.0)
                    if not data:
                        return False  # the server closed it: good
                    return False  # the server answered (e.g. 408): good
                except TimeoutError:
                    writer.write(b"a")
                    with contextlib.suppress(OSError):
                        await writer.drain()
            return True
        except OSError:
            return False
        finally:
            writer.close()

    held: dict[str, int] = {}
    for service, url in urls.items():
        results = await asyncio.gather(*(one(url, i % 2 == 1) for i in range(count)),
                                       return_exceptions=True)
        held[service] = sum(1 for r in results if r is True)
        tally.by_kind[f"slow-client-{service}"][0] += len(results)
    return held


async def watch_all_livez(urls: dict[str, str], times: dict[str, list[float]],
                          failures: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            for service, url in urls.items():
                started = time.perf_counter()
                try:
                    response = await client.get(f"{url}/livez")
                    if response.status_code != 200:
                        failures.append(f"{service} livez {response.status_code}")
                except httpx.HTTPError as error:
                    failures.append(f"{service} livez no answer ({type(error).__name__})")
                times[service].append(time.perf_counter() - started)
            await asyncio.sleep(0.5)


async def sign_in(evaluator: str, token: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=evaluator, timeout=30) as client:
        answer = await client.post("/ui/sign-in", data={"token": token, "next": "/ui/alerts"},
                                   headers={"Origin": evaluator})
        cookie = "; ".join(f"{k}={v}" for k, v in answer.cookies.items())
        page = await client.get("/ui/alerts", headers={"Cookie": cookie})
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        return cookie, match[1] if match else "missing"


async def run_campaign(urls: dict[str, str], tokens: dict[str, str], ehr: CdsClient,
                       args: argparse.Namespace) -> tuple[dict[str, hp.Tally], dict[str, Any]]:
    tallies = {s: hp.Tally() for s in urls}
    livez: dict[str, list[float]] = defaultdict(list)
    livez_failures: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        specs = {s: (await client.get(f"{u}/openapi.json")).json() for s, u in urls.items()}
    cookie, csrf = await sign_in(urls["evaluator"], tokens["coordinator"])
    intake_probes = [*hp.media(), *hp.framing(), *hp.headers_and_sizes(5 * 1024 * 1024),
                     *hp.fhir_mutations(), *hp.hl7_mutations(), *hp.other_routes(True)]
    if args.quick:
        intake_probes = intake_probes[::5]
    plan: dict[str, list[hp.Probe]] = {
        "intake": [*intake_probes, *hl7_new(), *fhir_new(),
                   *openapi_probes("intake", specs["intake"], "coordinator",
                                   skip=("/fhir", "/hl7v2"))],
        "evaluator": [*openapi_probes("evaluator", specs["evaluator"], "admin",
                                      skip=("/cds-services/",)),
                      *openapi_probes("evaluator-coord", specs["evaluator"], "coordinator",
                                      skip=("/cds-services/", "/trials")),
                      *evaluator_specifics(ehr, urls["evaluator"]), *ui_probes(cookie, csrf)],
        "audit": [*openapi_probes("audit", specs["audit"], "auditor")],
    }
    if args.only:
        plan = {s: [p for p in probes if p.kind.startswith(tuple(args.only))]
                for s, probes in plan.items()}
    for service, probes in plan.items():
        print(f"{service}: {len(probes)} probes", flush=True)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_all_livez(urls, livez, livez_failures, stop))
    roles = dict(tokens)

    async def service_campaign(service: str, probes: list[hp.Probe]) -> None:
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=urls[service], timeout=args.timeout_s,
                                     limits=limits) as client:
            queue = list(reversed(probes))

            async def worker() -> None:
                while queue:
                    probe = queue.pop()
                    if SIGN_FOR in probe.headers:
                        audience = probe.headers.pop(SIGN_FOR)
                        probe.headers["Authorization"] = f"Bearer {ehr.token(audience)}"
                    try:
                        await hp.send(client, probe, roles, tallies[service])
                    except Exception as error:  # a probe this client cannot even write
                        tallies[service].by_kind[probe.kind][-1] += 1
                        tallies[service].by_status[-1] += 1
                        print(f"  could not send {probe.kind} {probe.path[:80]}: "
                              f"{type(error).__name__}", flush=True)
                    done = sum(tallies[service].by_status.values())
                    if done % 1000 == 0:
                        print(f"  {service}: {done}/{len(probes)}", flush=True)

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))

    await asyncio.gather(*(service_campaign(s, p) for s, p in plan.items()))
    held = await slow_clients(urls, tallies["intake"], args.slow_hold_s, args.slow_clients)
    if args.big:
        async with httpx.AsyncClient(base_url=urls["intake"], timeout=args.timeout_s) as client:
            await hp._send_big(client, tokens, tallies["intake"])
    stop.set()
    await watcher
    return tallies, {"livez": livez, "livez_failures": livez_failures, "slow_held": held}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(urls: dict[str, str], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"{u}/readyz", timeout=2).status_code == 200 for u in urls.values()):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the pipeline did not become ready")


def seed(urls: dict[str, str], tokens: dict[str, str]) -> None:
    """Accepted inputs that carry every PHI value (so the search has something to miss)."""
    lab = {"Authorization": f"Bearer {tokens['lab-system']}"}
    with httpx.Client(base_url=urls["intake"], timeout=60) as client:
        for n in range(1, 4):
            answer = client.post("/fhir", content=json.dumps(fhir_patient_bundle(n)),
                                 headers={**lab, "Content-Type": FHIR})
            print(f"seed FHIR patient {n}: {answer.status_code}")
        answer = client.post("/hl7v2", content=oru(pid_segment(PHI["mrn"]), "SEED1"),
                             headers={**lab, "Content-Type": HL7})
        print(f"seed HL7 v2 patient: {answer.status_code}")


def phi_search(data_dir: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Files (and which PHI keys) that contain a PHI value; intake.db apart."""
    found: dict[str, list[str]] = {}
    expected: dict[str, list[str]] = {}
    needles = {k: v.encode() for k, v in PHI.items()}
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        lowered = data.lower()
        hits = [k for k, v in needles.items() if v.lower() in lowered
                or v.lower().decode().encode("utf-16-le") in lowered]
        if hits:
            (expected if path.name.startswith("intake.db") else found)[
                str(path.relative_to(data_dir))] = hits
    return found, expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="kept after the run (default: a temp dir)")
    parser.add_argument("--concurrency", type=int, default=4, help="per service")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="every 5th committed intake probe")
    parser.add_argument("--big", action="store_true", help="also stream a 30 MB body to intake")
    parser.add_argument("--only", action="append", metavar="KIND_PREFIX",
                        help="only the probes whose kind starts with this (repeatable), e.g. "
                             "cds- or webhook-")
    parser.add_argument("--slow-clients", type=int, default=40, help="per service")
    parser.add_argument("--slow-hold-s", type=float, default=90.0)
    parser.add_argument("--port-base", type=int, metavar="PORT",
                        help="intake, evaluator and audit on PORT+1..PORT+3 (default: free ports)")
    args = parser.parse_args()
    data_dir = (args.data_dir or Path(tempfile.mkdtemp()) / "var").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ehr = CdsClient()
    ports = ({"intake": args.port_base + 1, "evaluator": args.port_base + 2,
              "audit": args.port_base + 3} if args.port_base else
             {"intake": free_port(), "evaluator": free_port(), "audit": free_port()})
    urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    from shared.infra.auth import write_dev_tokens
    write_dev_tokens(data_dir / "dev-tokens.json")
    tokens = {v["role"]: t for t, v in
              json.loads((data_dir / "dev-tokens.json").read_text()).items()}
    lab_client = next(v["client"] for v in
                      json.loads((data_dir / "dev-tokens.json").read_text()).values()
                      if v["role"] == "lab-system")
    issuers = {ISSUER: {"jwks": str(ehr.write_jwks(data_dir / "ehr.jwks.json")),
                        "source_system": lab_client}}
    env = {**os.environ, "PYTHONPATH": str(REPO), "EVALUATOR_CDS_ISSUERS": json.dumps(issuers),
           "EVALUATOR_CDS_INTAKE_TOKEN": tokens["coordinator"],
           "EVALUATOR_PUBLIC_URL": urls["evaluator"]}
    out = open(data_dir.parent / "run.out", "ab")  # noqa: SIM115
    launcher = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--data-dir", str(data_dir),
         "--intake-port", str(ports["intake"]), "--evaluator-port", str(ports["evaluator"]),
         "--audit-port", str(ports["audit"])], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        env=env)
    started = time.monotonic()
    try:
        wait_ready(urls)
        seed(urls, tokens)
        time.sleep(5)
        tallies, extra = asyncio.run(run_campaign(urls, tokens, ehr, args))
        time.sleep(10)  # let the pipeline write what it will about the last inputs
        restarts = (data_dir.parent / "run.out").read_text(errors="replace").count(
            "stopped unexpectedly")
    finally:
        launcher.send_signal(2)
        try:
            launcher.wait(60)
        except subprocess.TimeoutExpired:
            launcher.kill()
    elapsed = time.monotonic() - started
    total = failures = 0
    print(f"\n== hostile requests against a running pipeline ({elapsed:.0f} s, "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}) ==")
    for service, tally in tallies.items():
        n = sum(tally.by_status.values())
        bad = sum(c for s, c in tally.by_status.items() if s >= 500)
        total += n
        failures += bad + tally.by_status.get(0, 0)
        print(f"\n{service}: {n} requests; >= 500: {bad}; no answer: {tally.by_status.get(0, 0)}"
              f"; livez slowest {max(extra['livez'][service] or [0]):.3f} s over "
              f"{len(extra['livez'][service])} polls")
        for kind, counts in sorted(tally.by_kind.items()):
            worst = ", ".join(f"{s}:{c}" for s, c in sorted(counts.items()))
            flag = " <==" if any(s >= 500 or s <= 0 for s in counts) else ""
            print(f"  {kind[:70]:<70} {worst}{flag}")
        for failure in tally.failures[:40]:
            print("  FAILURE", failure)
    print(f"\nslow clients still holding a connection after {args.slow_hold_s:.0f} s "
          f"(of {args.slow_clients} per service): {extra['slow_held']}")
    print(f"/livez failures: {len(extra['livez_failures'])} {extra['livez_failures'][:10]}")
    print(f"services restarted by the supervisor during the run: {restarts}")
    print(f"TOTAL hostile requests: {total}; responses >= 500 or no answer: {failures}")
    found, expected = phi_search(data_dir)
    print(f"\n== PHI search under {data_dir} ==")
    for path, keys in found.items():
        print(f"PHI HIT {path}: {keys}")
    for path, keys in expected.items():
        print(f"(expected) {path}: {keys}")
    print(f"PHI hits outside intake.db: {len(found)} files")
    return 1 if failures or extra["livez_failures"] or found else 0


if __name__ == "__main__":
    sys.exit(main())
