"""The trial file format: pydantic models a protocol author's YAML is validated against.

A criterion's ``logic`` is a small expression tree; each node is a one-key mapping whose key
names the node: a composition (``all``, ``any``, ``not``, ``at_least``, defined here) or a
registered primitive such as ``lab`` (``shared.eligibility.primitives.registry``: each
primitive module declares its own parameter model). Parameter references (``$name``) are
substituted before validation, so every node here holds concrete values.
``TrialFile.model_json_schema()`` is the published JSON Schema.
"""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag, create_model

from shared.eligibility.decision import (
    CRITERION_ID_MAX_LENGTH,
    MAX_CRITERIA,
    NAME_MAX_LENGTH,
    PARAMETER_TEXT_MAX_LENGTH,
    PARAMETERS_MAX_ITEMS,
)
from shared.eligibility.params import Strict
from shared.eligibility.primitives.registry import Primitive, registered


class AtLeastArgs(Strict):
    n: int
    of: list[Node]


class AllNode(Strict):
    all: list[Node]


class AnyNode(Strict):
    any: list[Node]


class NotNode(Strict):
    not_: Node = Field(alias="not")


class AtLeastNode(Strict):
    at_least: AtLeastArgs


def _leaf_node(spec: Primitive) -> type[BaseModel]:
    """``{<name>: <Args>}``: the one-key node model of a registered primitive."""
    name = spec.name
    field = name if name.isidentifier() and not keyword.iskeyword(name) else f"{name}_"
    camel = "".join(part.capitalize() for part in name.split("_"))
    return create_model(  # type: ignore[call-overload]
        f"{camel}Node", __base__=Strict, **{field: (spec.args, Field(alias=name))}
    )


LEAF_NODES: dict[type[BaseModel], Primitive] = {
    _leaf_node(spec): spec for spec in registered().values()
}
"""The node model of each registered primitive, and the primitive it compiles with."""


def _node_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields.values())).alias or next(
            iter(type(value).model_fields)
        )
    return None


_COMPOSITES: tuple[tuple[type[BaseModel], str], ...] = (
    (AllNode, "all"),
    (AnyNode, "any"),
    (NotNode, "not"),
    (AtLeastNode, "at_least"),
)

if TYPE_CHECKING:
    Node = BaseModel
else:
    Node = Annotated[
        Union[  # noqa: UP007 (a union built at run time from the registry)
            tuple(
                Annotated[model, Tag(tag)]
                for model, tag in (
                    *_COMPOSITES,
                    *((model, spec.name) for model, spec in LEAF_NODES.items()),
                )
            )
        ],
        Discriminator(_node_tag),
    ]


# Texts of a trial file (issue 14 section 2): a file the registry API or the folder is given
# is refused on load, naming the field, when a text is longer than the decisions, alerts and
# pages that quote it hold (``shared.eligibility.decision``); real lengths of the shipped files
# (shared/trials, 2026-12-02) in brackets.
SUMMARY_MAX_LENGTH = 1_024
"""A criterion's summary, the head of each of its reasons [120]."""
PROSE_MAX_LENGTH = 16_384
"""A protocol sentence quoted, a rationale [975]."""
HEADER_TEXT_MAX_LENGTH = 1_024
"""The trial's title, source, listing date [184]."""


class Parameter(Strict):
    value: Annotated[str, Field(max_length=PARAMETER_TEXT_MAX_LENGTH)] | int | float | bool
    rationale: str = Field(max_length=PROSE_MAX_LENGTH)


class CriterionSpec(Strict):
    id: str = Field(pattern=r"^[IE]\d+(\.\d+)?$", max_length=CRITERION_ID_MAX_LENGTH)
    kind: Literal["inclusion", "exclusion"]
    protocol_text: str = Field(min_length=1, max_length=PROSE_MAX_LENGTH,
                               description="the protocol sentence, quoted")
    summary: str = Field(max_length=SUMMARY_MAX_LENGTH)
    logic: Node
    parameters: list[Annotated[str, Field(max_length=NAME_MAX_LENGTH)]] = Field(
        default_factory=list, max_length=PARAMETERS_MAX_ITEMS)
    rationale: str = Field(default="", max_length=PROSE_MAX_LENGTH)


class TrialHeader(Strict):
    # 64: the evaluator's trial_id/version columns and TrialRef (decision.TRIAL_TEXT_MAX_LENGTH);
    # real ids are 11 (NCT...) to 13 characters, versions 12.
    id: str = Field(max_length=64)
    version: str = Field(max_length=64)
    title: str = Field(max_length=HEADER_TEXT_MAX_LENGTH)
    source: str = Field(max_length=HEADER_TEXT_MAX_LENGTH)
    listing_as_of: str = Field(max_length=HEADER_TEXT_MAX_LENGTH)


class TrialFile(Strict):
    trial: TrialHeader
    parameters: dict[Annotated[str, Field(max_length=NAME_MAX_LENGTH)], Parameter] = Field(
        max_length=PARAMETERS_MAX_ITEMS)
    criteria: list[CriterionSpec] = Field(max_length=MAX_CRITERIA)


AtLeastArgs.model_rebuild()
AllNode.model_rebuild()
AnyNode.model_rebuild()
NotNode.model_rebuild()
AtLeastNode.model_rebuild()
