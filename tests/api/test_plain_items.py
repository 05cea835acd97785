"""The plain reading of a batch's postings (api/plain_items.py) equals ContributionIn's load:
it reads the well-formed items itself, and leaves every other item to the schema; and the
answer's items, dumped as they are built, equal ItemOut's dump."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.common import schema_of
from api.contributions import (
    BatchIn,
    BatchOut,
    ContributionIn,
    ItemOut,
    PostingItems,
    batch_reply,
)
from api.plain_items import PlainItems
from ledger.application import ItemOutcome, Made, Receipt, RecordedEvent
from ledger.errors import InvalidInput

PLAIN = PlainItems(ContributionIn)
WELL_FORMED = {"customer_id": "C1", "booked_on": "2026-02-15", "interest_income": "100.00",
               "deposit_earnings": "-0.5", "fee_income": "0", "source_system": "BENCH",
               "external_id": "run-1-7"}
EDGES: list[Any] = [
    "", " ", "C1", "x" * 64, "x" * 65, "2026-02-15", "2026-2-15", "20260215", "2026-02-30",
    "1900-01-01", "1899-12-31", "2200-12-31", "2201-01-01", "2026-W07-7", "١٢٣٤-٠٢-١٥",
    "100.00", "1.234", "-7", "+7", "1e3", "0x10", "123456789012345", "1234567890123456", " 1",
    "1\n", "١٠٠", "NaN", "-0", "0.1", None, True, 7, Decimal("1.50"), 1.5, [], {},
]
VALUES = st.one_of(st.sampled_from(EDGES), st.text(max_size=70), st.integers(),
                   st.floats(allow_nan=False), st.lists(st.integers(), max_size=2))
NAMES = [*ContributionIn._declared_fields, "unknown", "Customer_id"]


def schema_load(item: Any) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = schema_of(ContributionIn).load(item)
    except ma.ValidationError:
        return None
    return loaded


def exactly(loaded: dict[str, Any] | None) -> Any:
    """Values with their types and exact text (Decimal("1.0") == Decimal("1.00")), in order."""
    return None if loaded is None else [(k, type(v), str(v)) for k, v in loaded.items()]


@pytest.mark.parametrize("name", NAMES)
def test_each_edge_value_of_each_field_is_read_as_the_schema_reads_it(name: str) -> None:
    for value in EDGES:
        item = {**WELL_FORMED, name: value}
        plain = PLAIN.read(item)
        assert plain is None or exactly(plain) == exactly(schema_load(item)), value


@settings(max_examples=2000, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=10)
       | st.builds(lambda changes: {**WELL_FORMED, **changes},
                   st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=3)))
def test_a_plain_reading_is_what_the_schema_loads_or_nothing(item: dict[str, Any]) -> None:
    plain = PLAIN.read(item)
    if plain is not None:
        assert exactly(plain) == exactly(schema_load(item))


def test_a_well_formed_posting_is_read_plainly_with_or_without_risk_cost() -> None:
    for item in (WELL_FORMED, {**WELL_FORMED, "risk_cost": "20.5"}):
        assert PLAIN.read(item) is not None
        assert exactly(PLAIN.read(item)) == exactly(schema_load(item))


def test_the_batch_reads_plain_items_and_refuses_the_rest_by_the_schemas_words() -> None:
    items = [WELL_FORMED, {**WELL_FORMED, "booked_on": "2026-02-30", "fee_income": 1.5},
             {**WELL_FORMED, "interest_income": 7}]
    loaded = schema_of(BatchIn).load({"items": items})["items"]
    assert loaded[0] == schema_load(WELL_FORMED)
    assert isinstance(loaded[1], InvalidInput)
    assert set(loaded[1].errors) == {"booked_on", "fee_income"}
    assert loaded[2] == schema_load(items[2])  # a JSON number: the schema's reading


def test_a_field_without_an_exact_plain_reader_is_refused_when_compiled() -> None:
    class Odd(ma.Schema):
        note = ma.fields.String(validate=ma.validate.OneOf(["a"]))

    with pytest.raises(TypeError, match="note"):
        PlainItems(Odd)
    assert isinstance(BatchIn._declared_fields["items"], PostingItems)


def test_the_answers_items_are_what_itemout_dumps() -> None:
    ids = [uuid4() for _ in range(3)]
    outcomes = [ItemOutcome(0, "created", ids[0]), ItemOutcome(1, "duplicate", ids[1]),
                ItemOutcome(2, "conflict", ids[2]),
                ItemOutcome(3, "invalid", errors={"booked_on": ["Not a valid date."]})]
    now = datetime.now(UTC)
    made = Made(outcomes, Receipt((RecordedEvent(41, now, "Posted", ids[0], 1),)))
    body = batch_reply(made)
    dumped = schema_of(BatchOut).dump(body)
    assert dumped["items"] == [schema_of(ItemOut).dump(view) for view in body["items"]]
    assert [list(view) for view in dumped["items"]] == [
        list(schema_of(ItemOut).dump(view)) for view in body["items"]]
    assert dumped["items"][0] == {"index": 0, "status": "created", "event_id": str(ids[0]),
                                  "position": 41}
