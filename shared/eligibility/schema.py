"""The trial file format: pydantic models a protocol author's YAML is validated against.

A criterion's ``logic`` is a small expression tree; each node is a one-key mapping whose key
names the node (``all``, ``any``, ``not``, ``at_least``, or a primitive such as ``lab``).
Parameter references (``$name``) are substituted before validation, so every node here holds
concrete values. ``TrialFile.model_json_schema()`` is the published JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Op = Literal[">=", ">", "<=", "<", "=="]
IsoDuration = Annotated[str, Field(pattern=r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgeArgs(_Strict):
    op: Op
    years: int


class SexArgs(_Strict):
    is_: Literal["female", "male"] = Field(alias="is")


class LabArgs(_Strict):
    concept: str
    op: Op
    value: float
    lookback: IsoDuration


class LabUlnArgs(_Strict):
    concept: str
    op: Op
    multiple: float
    lookback: IsoDuration


class LabResultArgs(_Strict):
    concept: str
    expect: Literal["positive", "negative"]
    lookback: IsoDuration
    positive_above: float | None = Field(
        default=None, description="a quantitative result above this counts as positive"
    )


class ConditionArgs(_Strict):
    valueset: str
    within: IsoDuration | None = Field(
        default=None, description="onset, abatement or still active within this window"
    )
    active_only: bool = False


class FactArgs(_Strict):
    concept: str
    lookback: IsoDuration | None = Field(default=None, description="how long the fact stays valid")
    absent: Literal["unknown", "false"] = Field(
        default="unknown", description="'false' only for record facts whose absence means no"
    )


class MedUsedArgs(_Strict):
    valuesets: list[str]
    started_at_least: IsoDuration | None = None


class WashoutArgs(_Strict):
    valuesets: list[str]
    half_life_bound: Literal["upper", "lower", "typical"] = "upper"
    multiple: float = 5.0
    cleared_by: dict[str, str] = Field(
        default_factory=dict, description="ingredient code -> concept of a clearance fact"
    )
    clearance_validity: IsoDuration | None = None


class ScoreArgs(_Strict):
    score: Literal[
        "eular_acr_2019", "sledai_2k", "cockcroft_gault", "nih_activity", "nih_chronicity"
    ]
    op: Op
    value: float
    window: IsoDuration | None = Field(default=None, description="SLEDAI-2K descriptor window")
    lookback: IsoDuration | None = Field(default=None, description="look-back for the inputs")
    weight: Literal["actual", "ideal", "adjusted"] | None = Field(
        default=None, description="Cockcroft-Gault body weight choice"
    )
    weight_lookback: IsoDuration | None = None


class BiopsyClassArgs(_Strict):
    concept: str
    classes: list[str]
    lookback: IsoDuration


class BilagArgs(_Strict):
    concept: str
    min_a: int = Field(ge=1, description="domains graded A that suffice")
    min_b: int = Field(ge=1, description="domains graded B that suffice")
    lookback: IsoDuration


class MedCountArgs(_Strict):
    valuesets: list[str]
    at_least: int = Field(ge=1, description="distinct drugs (ingredients) on record")
    started_at_least: IsoDuration | None = None


class MedWithinArgs(_Strict):
    valuesets: list[str]
    within: IsoDuration


class AtLeastArgs(_Strict):
    n: int
    of: list[Node]


class AllNode(_Strict):
    all: list[Node]


class AnyNode(_Strict):
    any: list[Node]


class NotNode(_Strict):
    not_: Node = Field(alias="not")


class AtLeastNode(_Strict):
    at_least: AtLeastArgs


class AgeNode(_Strict):
    age: AgeArgs


class SexNode(_Strict):
    sex: SexArgs


class LabNode(_Strict):
    lab: LabArgs


class LabUlnNode(_Strict):
    lab_uln: LabUlnArgs


class LabResultNode(_Strict):
    lab_result: LabResultArgs


class ConditionNode(_Strict):
    condition: ConditionArgs


class FactNode(_Strict):
    fact: FactArgs


class MedUsedNode(_Strict):
    med_used: MedUsedArgs


class WashoutNode(_Strict):
    washout: WashoutArgs


class ScoreNode(_Strict):
    score: ScoreArgs


class BiopsyClassNode(_Strict):
    biopsy_class: BiopsyClassArgs


class BilagNode(_Strict):
    bilag: BilagArgs


class MedCountNode(_Strict):
    med_count: MedCountArgs


class MedWithinNode(_Strict):
    med_within: MedWithinArgs


def _node_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields.values())).alias or next(
            iter(type(value).model_fields)
        )
    return None


Node = Annotated[
    Annotated[AllNode, Tag("all")]
    | Annotated[AnyNode, Tag("any")]
    | Annotated[NotNode, Tag("not")]
    | Annotated[AtLeastNode, Tag("at_least")]
    | Annotated[AgeNode, Tag("age")]
    | Annotated[SexNode, Tag("sex")]
    | Annotated[LabNode, Tag("lab")]
    | Annotated[LabUlnNode, Tag("lab_uln")]
    | Annotated[LabResultNode, Tag("lab_result")]
    | Annotated[ConditionNode, Tag("condition")]
    | Annotated[FactNode, Tag("fact")]
    | Annotated[MedUsedNode, Tag("med_used")]
    | Annotated[WashoutNode, Tag("washout")]
    | Annotated[ScoreNode, Tag("score")]
    | Annotated[BiopsyClassNode, Tag("biopsy_class")]
    | Annotated[BilagNode, Tag("bilag")]
    | Annotated[MedCountNode, Tag("med_count")]
    | Annotated[MedWithinNode, Tag("med_within")],
    Discriminator(_node_tag),
]


class Parameter(_Strict):
    value: str | int | float | bool
    rationale: str


class CriterionSpec(_Strict):
    id: str = Field(pattern=r"^[IE]\d+(\.\d+)?$")
    kind: Literal["inclusion", "exclusion"]
    protocol_text: str = Field(min_length=1, description="the protocol sentence, quoted")
    summary: str
    logic: Node
    parameters: list[str] = Field(default_factory=list)
    rationale: str = ""


class TrialHeader(_Strict):
    id: str
    version: str
    title: str
    source: str
    listing_as_of: str


class TrialFile(_Strict):
    trial: TrialHeader
    parameters: dict[str, Parameter]
    criteria: list[CriterionSpec]


AtLeastArgs.model_rebuild()
AllNode.model_rebuild()
AnyNode.model_rebuild()
NotNode.model_rebuild()
AtLeastNode.model_rebuild()
