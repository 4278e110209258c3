"""The coordinator actions' own hash chain and signatures (issue 14 section 4). Pure: no I/O.

Every coordinator action (``audit_coordinator_action``) keeps the evaluator's signed
``CoordinatorActed`` event as stored (``event``, with its ``signature`` and key id): ``audit
verify`` checks that signature against the evaluator keys (accepted and retired) and that the
row's columns say what the signed event says, so an action whose reason, actor, action, patient,
trial, alert, time or event was edited is named as altered with its id, chained or not.

Actions are hash-chained like the access log (``core.access_chain``, whose walk is reused): each
action appended after migration 0011 carries ``chain_seq`` (1, 2, ... in append order),
``prev_hash`` (the ``entry_hash`` of the action before it; ``GENESIS_HASH`` for the first) and
``entry_hash`` (``shared.hashing.content_hash`` of ``action_entry_content``). Rows from before
the chain have none of the three: unchained legacy, read first (by ``recorded_at``, then id),
still checked against their signature. A deleted action is a gap at the next one; an inserted one
is altered (no valid signature for its columns, or no link). Deleting the newest actions is seen
against the head the signed checkpoints sign (``AccessHead`` of the actions: newest
``chain_seq``, its hash, and the number of actions up to it, legacy ones included):
``actions-truncated``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.audit.core.access_chain import AccessHead, AccessLogCheck, AccessLogWalk
from services.audit.core.audit_record import GENESIS_HASH
from services.audit.core.ports import SignatureCheck
from shared.contracts.events import CoordinatorActed
from shared.contracts.signatures import event_digest
from shared.hashing import content_hash
from shared.time import as_utc, iso_z

ACTION_HASHED_FIELDS = ("action_id", "patient_key", "trial_id", "action", "actor", "reason",
                        "alert_id", "occurred_at", "recorded_at", "event", "chain_seq",
                        "prev_hash")


def action_entry_content(row: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content an action's ``entry_hash`` covers: ``ACTION_HASHED_FIELDS``, the
    times as ISO-8601 UTC with ``Z``, ``event`` as its JSON object. Raises ``KeyError`` when a
    field is absent."""
    content = {name: row[name] for name in ACTION_HASHED_FIELDS}
    for name in ("occurred_at", "recorded_at"):
        if isinstance(content[name], datetime):
            content[name] = iso_z(as_utc(content[name]))
    return content


def action_entry_hash(row: Mapping[str, Any]) -> str:
    """``sha256:<64 hex>`` over ``action_entry_content(row)``."""
    return content_hash(action_entry_content(row))


def link_action(fields: Mapping[str, Any], head: tuple[int, str] | None) -> dict[str, Any]:
    """The columns of an action appended after the chained action ``head`` (its ``chain_seq``
    and ``entry_hash``; None: no chained action yet, so it is position 1 after
    ``GENESIS_HASH``)."""
    row = {**fields, "chain_seq": head[0] + 1 if head else 1,
           "prev_hash": head[1] if head else GENESIS_HASH}
    row["entry_hash"] = action_entry_hash(row)
    return row


def action_row_problem(row: Mapping[str, Any], keys: SignatureCheck | None) -> str | None:
    """Why a stored action is not what the evaluator signed (None: it is): its event is not a
    ``CoordinatorActed``, its signature does not verify against ``keys`` (None: not checked), or
    a column differs from the signed event."""
    event = row.get("event")
    if not isinstance(event, Mapping):
        return "has no stored event: it was edited"
    try:
        acted = CoordinatorActed.model_validate(event)
    except ValidationError:
        return "holds a stored event that is not a CoordinatorActed: it was edited"
    if keys is not None:
        refusal = keys.refusal(acted.signature, event_digest(event), new_event=False)
        if refusal is not None:
            return (f"is not what the evaluator signed (signature {refusal.kind}: "
                    f"{refusal.detail}): its stored event was edited")
    signed = {"action_id": str(acted.action_id), "patient_key": acted.patient_key,
              "trial_id": acted.trial_id, "action": acted.action, "actor": acted.actor,
              "reason": acted.reason,
              "alert_id": str(acted.alert_id) if acted.alert_id else None}
    for name, value in signed.items():
        if row.get(name) != value:
            return f"has a {name} the signed event does not say: it was edited"
    occurred = row.get("occurred_at")
    if not isinstance(occurred, datetime) or as_utc(occurred) != acted.occurred_at:
        return "has an occurred_at the signed event does not say: it was edited"
    return None


def action_walk(signed: Iterable[AccessHead] = (),
                keys: SignatureCheck | None = None) -> AccessLogWalk:
    """A walk of the actions (fed legacy rows first, then by ``chain_seq``), held against the
    ``signed`` heads; ``keys``: the evaluator keys each action's signature is checked with."""
    return AccessLogWalk(signed, id_field="chain_seq", entry_hash=action_entry_hash,
                         kind_prefix="actions", noun="coordinator action",
                         nouns="coordinator actions", log="the coordinator actions",
                         row_check=lambda row: action_row_problem(row, keys),
                         ref_field="action_id")


def walk_actions(rows: Iterable[Mapping[str, Any]], signed: Iterable[AccessHead] = (),
                 keys: SignatureCheck | None = None) -> AccessLogCheck:
    """``action_walk`` over ``rows`` (legacy first, then by ``chain_seq``)."""
    walk = action_walk(signed, keys)
    for row in rows:
        walk.feed(row)
    return walk.result()
