"""The worklist stays scannable: a patient with nothing on record is one line ("No data on
record yet: N items to send") with the list behind a disclosure (rendered from the real
template)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader

from services.evaluator.adapters.http.ui.views import worklist_views
from services.evaluator.core.coordination import WorklistEntry
from shared.eligibility.readable import Need, need_groups, need_words

TEMPLATES = (Path(__file__).resolve().parents[3] / "services" / "evaluator" / "adapters" / "http"
             / "ui" / "templates")


def render(*entries: WorklistEntry) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["when"] = str
    env.filters["day"] = lambda instant: f"{instant:%d %b %Y}"
    env.filters["trial_name"] = lambda trial_id, version=None: trial_id
    env.filters["need_groups"] = need_groups
    env.filters["need_words"] = need_words
    return env.get_template("worklist.html").render(
        rows=list(entries), items=[], missing=None, title="t",
        trial=SimpleNamespace(id="NCT06920433", version="1"), trials=(),
        who=SimpleNamespace(subject="c", role="coordinator"), csrf="x")


def entry(key: str, items: int, on_record: int, on_file: int = 0,
          newest: datetime | None = None, open_criteria: int | None = None) -> WorklistEntry:
    needs = tuple(Need(item=f"item {i}", unblocks=("I6",)) for i in range(items))
    return WorklistEntry(key, "NCT06920433", "1", open_criteria or items,
                         [n.item for n in needs], "d", datetime(2026, 3, 1, tzinfo=UTC), needs,
                         on_record, on_file or on_record, newest)


def _row(page: str, key: str) -> str:
    start = page.index(f'data-patient="{key}"')
    return page[start:page.index("</tr>", start)]


def test_a_patient_with_nothing_on_record_is_one_line_with_the_list_behind_a_disclosure() -> None:
    row = _row(render(entry("pt_empty", 48, on_record=0)), "pt_empty")
    assert "<details" in row
    assert "No data on record yet: 48 items to send</summary>" in row
    assert row.count("<li>") == 48, "every item is still there, one click away"


def test_a_patient_missing_a_few_items_shows_them_all() -> None:
    row = _row(render(entry("pt_close", 2, on_record=30)), "pt_close")
    assert "<details" not in row
    assert row.count("<li>") == 2


def test_a_long_list_of_a_patient_with_data_is_collapsed_behind_its_first_item() -> None:
    row = _row(render(entry("pt_far", 12, on_record=5)), "pt_far")
    assert "12 items to send, first: item 0</summary>" in row
    assert "No data on record yet" not in row


def test_a_patient_whose_records_are_all_too_old_is_not_said_to_have_no_data() -> None:
    row = _row(render(entry("pt_old", 40, on_record=0, on_file=212,
                            newest=datetime(2020, 3, 3, tzinfo=UTC))), "pt_old")
    assert "No data on record yet" not in row
    # fresh user ux: most of a Synthea history is what no criterion reads (vitals, social
    # history); the cause named first is that one, then the age against the windows
    assert ("Nothing on file settles a criterion (212 records, newest 03 Mar 2020: not what the"
            " criteria read, or older than their look-back windows): 40 items to send") in row


def test_the_count_is_of_items_to_send_not_of_criteria_open() -> None:
    """I6 and I6.1 both wait for one platelet count: one item to send, two criteria open."""
    row = _row(render(entry("pt_one", 1, on_record=30, open_criteria=2)), "pt_one")
    assert '<td class="num" title="2 criteria still open">1</td>' in row


class _Desk:
    """The coordinator app's ``CoordinatorDesk`` port, holding one trial's worklist."""

    def __init__(self, *entries: WorklistEntry) -> None:
        self.entries = list(entries)
        self.asked: list[tuple[str, int]] = []

    async def worklist(self, trial_id: str, limit: int,
                       sites: frozenset[str] | None = None) -> list[WorklistEntry]:
        self.asked.append((trial_id, limit))
        return self.entries[:limit]


async def test_the_worklist_counts_each_needed_item_and_filters_by_one_through_the_port() -> None:
    desk = _Desk(entry("pt_a", 2, 0), entry("pt_b", 1, 1))
    rows, items = await worklist_views(desk, "NCT06920433", None)  # type: ignore[arg-type]
    assert [r.patient_key for r in rows] == ["pt_a", "pt_b"]
    assert items == [("Lab results and measurements", [("item 0", 2), ("item 1", 1)])]
    rows, _ = await worklist_views(desk, "NCT06920433", "item 1")  # type: ignore[arg-type]
    assert [r.patient_key for r in rows] == ["pt_a"]
    assert desk.asked == [("NCT06920433", 500), ("NCT06920433", 500)]


async def test_a_need_whose_text_lists_each_patients_gaps_is_one_filter_entry() -> None:
    # SLEDAI-2K (sledai_2k.py) names the descriptors this patient lacks: the filter is keyed
    # by the need (readable.need_key), not by each patient's list
    sledai = "SLEDAI-2K total within 30 days or descriptors: "
    desk = _Desk(*(WorklistEntry(
        key, "NCT06920433", "1", 1, [sledai + lacks], "d", datetime(2026, 3, 1, tzinfo=UTC),
        (Need(item=sledai + lacks, unblocks=("I5",)),), 1, 1, None)
        for key, lacks in (("pt_a", "fever, thrombocytopenia, leukopenia"),
                           ("pt_b", "fever, leukopenia"))))
    rows, items = await worklist_views(desk, "NCT06920433", None)  # type: ignore[arg-type]
    assert items == [("Disease activity and classification scores",
                      [("SLEDAI-2K total within 30 days or descriptors", 2)])]
    rows, _ = await worklist_views(  # type: ignore[arg-type]
        desk, "NCT06920433", "SLEDAI-2K total within 30 days or descriptors")
    assert [r.patient_key for r in rows] == ["pt_a", "pt_b"]
