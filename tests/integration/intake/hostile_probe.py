"""A hostile-input campaign against a RUNNING intake: every kind of input issue 14 names, and
structure-aware mutations of valid FHIR R4 and HL7 v2 inputs, sent over real HTTP.

It prints the count of responses by status and by kind of attack, the slowest answer of each
kind, how long ``/livez`` took while the campaign ran (a frozen event loop shows there), and
every response >= 500 or dropped connection. Nothing here asserts: it measures.

    trialwatch run &                                  # or any running intake
    python -m tests.integration.intake.hostile_probe --url http://127.0.0.1:8081 \
        --token "$(trialwatch dev-token lab-system)" \
        --coordinator-token "$(trialwatch dev-token coordinator --trial NCT06920433)"

``--big`` adds a 30 MB streamed body (the limit answer must be 413, not a reset). Exit status
is 1 when any response was >= 500 or a request failed without an answer, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.intake.core import examples

FHIR = "application/fhir+json"
HL7 = "x-application/hl7-v2+er7"
LONG = 60_000

# Values put in place of any JSON leaf: wrong types, empty, huge, non-finite, odd text.
HOSTILE_VALUES: list[Any] = [
    None, "", " ", 0, -1, 1e308, -1e308, 1e-320, 12345678901234567890123, True, [], {}, [None],
    {"x": 1}, "x" * LONG, "\u0000", "\x7f\x01", "\ud800", "\U0001f600" * 100, "NaN", "Infinity",
    "-0", "2026-02-30", "2026-11-20T25:00:00Z", "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00", "10*9/L" * 5_000, "g/dL" + "(" * 5_000,
    "urn:uuid:" + "0" * 5_000, "http://" + "a." * 20_000 + "org",
]
# Escape sequences and oddities for HL7 v2 fields (v2.5.1 2.7: \F\ \S\ \T\ \R\ \E\ \Xhh\ \Zxx\)
HL7_VALUES = [
    "", "\\Z99\\", "\\X00\\", "\\Xzz\\", "\\H\\\\N\\", "\\E\\" * 1000, "^" * 5_000,
    "~" * 5_000, "&" * 5_000, "x" * LONG, "\x00", "\x1c\x0b", "1e308", "-1e308", "NaN",
    "99999999999999", "2026022", "20261320", "20261120083000+9999", "\u00e9\u4e2d",
]
CONTENT_TYPES = [
    None, "", "*/*", "text/xml", "application/fhir+xml", "application/json; charset=base64",
    "application/fhir+json; charset=zlib", "application/fhir+json; charset=rot13",
    "application/fhir+json; charset=utf-7", "application/fhir+json; charset=" + "x" * 5_000,
    "application/fhir+json; charset=\"utf-16\"", "application/fhir+json;;;;charset=",
    "text/plain; charset=base64", "x-application/hl7-v2+er7; charset=uu_codec",
    "application/fhir+json" + "; a=b" * 2_000, "multipart/form-data; boundary=x",
]


@dataclass
class Probe:
    kind: str
    method: str
    path: str
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # written on a socket as is: HTTP clients refuse to send a false length


@dataclass
class Tally:
    by_status: Counter[int] = field(default_factory=Counter)
    by_kind: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    slowest: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    livez_s: list[float] = field(default_factory=list)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def dumps(document: Any) -> bytes:
    # lone surrogates cannot be UTF-8 encoded: send them as JSON escapes, as a hostile sender can
    return json.dumps(document, ensure_ascii=True).encode()


def fhir_mutations() -> Iterator[Probe]:
    for name, document in (("observation", examples.OBSERVATION), ("bundle", examples.BUNDLE)):
        for path in leaves(document):
            for value in HOSTILE_VALUES:
                yield Probe(f"fhir-{name}-leaf", "POST", "/fhir",
                            dumps(replaced(document, path, value)), {"Content-Type": FHIR})
        for path in leaves(document):
            yield Probe(f"fhir-{name}-drop", "POST", "/fhir",
                        dumps(replaced(document, path[:-1] or path, {})), {"Content-Type": FHIR})
        for path in {p[:-1] for p in leaves(document) if len(p) > 1}:
            for value in HOSTILE_VALUES:
                yield Probe(f"fhir-{name}-extra", "POST", "/fhir",
                            dumps(replaced(document, (*path, "extension"), value)),
                            {"Content-Type": FHIR})


def hl7_mutations() -> Iterator[Probe]:
    segments = examples.HL7V2_ORU.strip("\r").split("\r")
    for s, segment in enumerate(segments):
        fields = segment.split("|")
        for f in range(1, len(fields)):
            for value in HL7_VALUES:
                mutated = list(segments)
                mutated[s] = "|".join([*fields[:f], value, *fields[f + 1:]])
                if s == 0 and f == 1:
                    continue  # MSH-2 encoding characters: covered by the framing probes
                yield Probe("hl7-field", "POST", "/hl7v2",
                            "\r".join(mutated).encode("utf-8", "surrogatepass"),
                            {"Content-Type": HL7})
            components = fields[f].split("^")
            for c in range(len(components) if len(components) > 1 else 0):
                for value in HL7_VALUES:
                    mutated = list(segments)
                    field_value = "^".join([*components[:c], value, *components[c + 1:]])
                    mutated[s] = "|".join([*fields[:f], field_value, *fields[f + 1:]])
                    yield Probe("hl7-component", "POST", "/hl7v2",
                                "\r".join(mutated).encode("utf-8", "surrogatepass"),
                                {"Content-Type": HL7})


def framing() -> Iterator[Probe]:
    bodies = [b"", b"{", b"[]", b"null", b"1", b'"x"', b"{" * 100_000, b"[" * 100_000,
              b'{"resourceType": NaN}', b'{"resourceType": Infinity}', b"\xff\xfe\x00",
              b"\xef\xbb\xbf{}", b'{"a":"\\ud800"}', b"{}" * 10_000, b"\x00" * 1_000,
              json.dumps({"resourceType": "Bundle", "type": "batch",
                          "entry": [{"resource": examples.OBSERVATION}] * 2_000}).encode()]
    for body in bodies:
        yield Probe("fhir-framing", "POST", "/fhir", body, {"Content-Type": FHIR})
        yield Probe("hl7-framing", "POST", "/hl7v2", body, {"Content-Type": HL7})
    for body in (b"MSH", b"MSH|", b"MSH|^~\\&", b"\x0bMSH|^~\\&|\x1c\r", b"PID|1\rMSH|^~\\&|",
                 examples.HL7V2_ORU.encode("utf-16"), examples.HL7V2_ORU.encode("latin-1") +
                 "\u00e9".encode("latin-1"), b"MSH|^~\\&|" + b"|" * 100_000):
        yield Probe("hl7-framing", "POST", "/hl7v2", body, {"Content-Type": HL7})


def media() -> Iterator[Probe]:
    observation = dumps(examples.OBSERVATION)
    for content_type in CONTENT_TYPES:
        headers = {} if content_type is None else {"Content-Type": content_type}
        yield Probe("media-type", "POST", "/fhir", observation, headers)
        yield Probe("media-type", "POST", "/hl7v2", examples.HL7V2_ORU.encode(), headers)


def headers_and_sizes(max_body: int) -> Iterator[Probe]:
    observation = dumps(examples.OBSERVATION)
    for length in ("abc", "-1", "1e9", str(2**70), "", " 12", "0", "5", "99999"):
        yield Probe("content-length", "POST", "/fhir", observation,
                    {"Content-Type": FHIR, "Content-Length": length}, raw=True)
    for key in ("", " ", "x" * 201, "\u00e9", "a\tb", "k" * 10_000):
        yield Probe("idempotency-key", "POST", "/fhir", observation,
                    {"Content-Type": FHIR, "Idempotency-Key": key})
    for token in ("", "Bearer", "Bearer " + "x" * 10_000, "Basic abc", "Bearer \u00e9"):
        yield Probe("authorization", "POST", "/fhir", observation,
                    {"Content-Type": FHIR, "Authorization": token})
    yield Probe("body-size", "POST", "/fhir", b" " * (max_body + 1), {"Content-Type": FHIR})
    history = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {**examples.OBSERVATION, "id": f"hb-{i}",
                      "effectiveDateTime": f"2025-01-{1 + i % 28:02d}T08:00:00Z"}}
        for i in range(1_800)]}
    body = dumps(history)
    if len(body) <= max_body:
        yield Probe("event-too-large", "POST", "/fhir", body, {"Content-Type": FHIR})


def other_routes(coordinator: bool) -> Iterator[Probe]:
    for receipt in ("x", "0" * 10_000, "00000000-0000-0000-0000-000000000000", "%00", "..%2f"):
        yield Probe("receipts", "GET", f"/receipts/{receipt}")
    if not coordinator:
        return
    bodies: list[Any] = [{}, [], None, {"trial": "NCT06920433"}, {"reason": "x" * 10},
                         {"trial": "x" * 100_000, "reason": "because of screening"},
                         {"trial": "NCT06920433", "reason": "\ud800" * 10},
                         {"trial": "NCT06920433", "reason": "valid reason here"}]
    for key in ("pt_" + "0" * 32, "pt_x", "x" * 10_000, "%00"):
        for body in bodies:
            yield Probe("reidentify", "POST", f"/patients/{key}/reidentify", dumps(body),
                        {"Content-Type": "application/json", "X-Role": "coordinator"})
    for body in [{}, {"source_system": "\x00", "source_patient_id": "1", "reason": "r" * 10},
                 {"source_system": "a" * 100_000, "source_patient_id": "1", "reason": "r" * 10},
                 {"source_system": "lab", "source_patient_id": "\ud800", "reason": "r" * 10}]:
        yield Probe("lookup", "POST", "/patients/lookup", dumps(body),
                    {"Content-Type": "application/json", "X-Role": "coordinator"})


async def big_body(size: int) -> AsyncIterator[bytes]:
    chunk = b" " * 65_536
    for _ in range(size // len(chunk)):
        yield chunk


async def send(client: httpx.AsyncClient, probe: Probe, tokens: dict[str, str],
               tally: Tally) -> None:
    headers = dict(probe.headers)
    role = headers.pop("X-Role", "lab-system")
    headers.setdefault("Authorization", f"Bearer {tokens[role]}")
    started = time.perf_counter()
    try:
        if probe.raw or not all(v.isascii() for v in headers.values()):
            status = await send_raw(str(client.base_url), probe, headers)
        else:
            try:
                response = await client.request(probe.method, probe.path, content=probe.content,
                                                headers=headers)
                status = response.status_code
            except (httpx.LocalProtocolError, httpx.InvalidURL):  # the client will not send
                # it (a false length, a URL over its 64 KiB limit): write it raw
                status = await send_raw(str(client.base_url), probe, headers)
    except (TimeoutError, httpx.HTTPError, OSError) as error:
        status = 0
        tally.failures.append(f"{probe.kind} {probe.path}: no answer ({type(error).__name__})")
    elapsed = time.perf_counter() - started
    tally.by_status[status] += 1
    tally.by_kind[probe.kind][status] += 1
    tally.slowest[probe.kind] = max(tally.slowest.get(probe.kind, 0.0), elapsed)
    if status >= 500:
        tally.failures.append(f"{probe.kind} {probe.method} {probe.path}: {status}")


async def send_raw(base_url: str, probe: Probe, headers: dict[str, str]) -> int:
    """The request written byte for byte; the status of the answer, 0 if the server closed."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port or 80)
    try:
        head = [f"{probe.method} {probe.path} HTTP/1.1", f"Host: {url.host}",
                *(f"{k}: {v}" for k, v in headers.items()), "Connection: close", "", ""]
        writer.write("\r\n".join(head).encode("latin-1", "replace") + (probe.content or b""))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    finally:
        writer.close()


async def watch_livez(client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            await client.get("/livez")
        except httpx.HTTPError:
            tally.failures.append("livez: no answer")
        tally.livez_s.append(time.perf_counter() - started)
        await asyncio.sleep(0.5)


async def campaign(args: argparse.Namespace) -> Tally:
    tokens = {"lab-system": args.token, "coordinator": args.coordinator_token or args.token}
    probes = [*media(), *framing(), *headers_and_sizes(args.max_body_bytes), *fhir_mutations(),
              *hl7_mutations(), *other_routes(bool(args.coordinator_token))]
    tally = Tally()
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, timeout=args.timeout_s,
                                 limits=limits) as client, \
            httpx.AsyncClient(base_url=args.url, timeout=args.timeout_s) as livez_client:
        stop = asyncio.Event()
        livez = asyncio.create_task(watch_livez(livez_client, tally, stop))
        queue: asyncio.Queue[Probe] = asyncio.Queue()
        for probe in probes:
            queue.put_nowait(probe)

        async def worker() -> None:
            while not queue.empty():
                probe = queue.get_nowait()
                await send(client, probe, tokens, tally)
                done = sum(tally.by_status.values())
                if done % 500 == 0:
                    print(f"  {done}/{len(probes)} sent", file=sys.stderr, flush=True)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        if args.big:
            await _send_big(client, tokens, tally)
        stop.set()
        await livez
    return tally


async def _send_big(client: httpx.AsyncClient, tokens: dict[str, str], tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = await client.post("/fhir", content=big_body(30 * 1024 * 1024),
                                     headers={"Content-Type": FHIR,
                                              "Authorization": f"Bearer {tokens['lab-system']}"})
        status = response.status_code
    except httpx.HTTPError as error:
        status = 0
        tally.failures.append(f"30 MB body: no answer ({type(error).__name__})")
    tally.by_status[status] += 1
    tally.by_kind["body-30MB-streamed"][status] += 1
    tally.slowest["body-30MB-streamed"] = time.perf_counter() - started
    if status >= 500:
        tally.failures.append(f"30 MB body: {status}")


def report(tally: Tally) -> None:
    total = sum(tally.by_status.values())
    print(f"hostile requests: {total}")
    print("responses by status: " + ", ".join(
        f"{status or 'no answer'}: {count}" for status, count in sorted(tally.by_status.items())))
    print(f"responses >= 500: {sum(c for s, c in tally.by_status.items() if s >= 500)}; "
          f"no answer: {tally.by_status.get(0, 0)}")
    print(f"{'kind':<24}{'requests':>9}  {'slowest s':>9}  statuses")
    for kind, counts in sorted(tally.by_kind.items()):
        print(f"{kind:<24}{sum(counts.values()):>9}  {tally.slowest[kind]:>9.3f}  "
              + ", ".join(f"{s}:{c}" for s, c in sorted(counts.items())))
    if tally.livez_s:
        print(f"/livez during the campaign: {len(tally.livez_s)} probes, "
              f"slowest {max(tally.livez_s):.3f} s")
    for failure in tally.failures[:50]:
        print("FAILURE", failure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8081", help="intake's base URL")
    parser.add_argument("--token", required=True, help="a lab-system bearer token")
    parser.add_argument("--coordinator-token", help="a coordinator token (probes re-identify "
                        "and lookup too)")
    parser.add_argument("--max-body-bytes", type=int, default=5 * 1024 * 1024,
                        help="intake's INTAKE_MAX_BODY_BYTES (default 5 MiB)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--big", action="store_true", help="also stream a 30 MB body")
    args = parser.parse_args()
    tally = asyncio.run(campaign(args))
    report(tally)
    return 1 if tally.failures and any(
        "no answer" in f or ": 5" in f for f in tally.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
