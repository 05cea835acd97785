"""The append's array literals read back, through the server, as the values they were built
from, and as psycopg2's own adaptation of the same lists reads: whatever the strings hold,
and whichever way the session quotes string literals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from dbsupport import postgres_service_url

from persistence.arrays import bigint_array, bytea_array, text_array
from persistence.url import libpq_dsn

pytestmark = pytest.mark.postgres

AWKWARD_TEXTS: list[str | None] = [
    "ledger.manager:Manager.Registered", "", " ", " padded ", "NULL", "null", None,
    'a "quoted" one', "back\\slash", "\\\\", "\\x00", "{braces}", "a,comma", "'single'",
    "new\nline\ttab", "张敏 é ß", "}", '"', "\\",
]
AWKWARD_BYTES: list[bytes | None] = [b"", bytes(range(256)), None, b"\\x", b'{"n":1}', b"'"]
INTEGERS = [0, 1, -1, 2**63 - 1, -(2**63), 42]


@pytest.fixture(params=["on", "off"])
def cursor(request: pytest.FixtureRequest) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(libpq_dsn(postgres_service_url()))
    try:
        with conn.cursor() as curs:
            curs.execute(f"SET standard_conforming_strings = {request.param}")
            yield curs
    finally:
        conn.close()


def read_back(curs: psycopg2.extensions.cursor, literal: str, values: list[Any],
              cast: str) -> tuple[Any, Any]:
    curs.execute(f"SELECT %s::{cast}, %s::{cast}", (literal, values))
    ours, psycopg2s = curs.fetchone()
    return ours, psycopg2s


# Each list takes one of the builders' paths: with NULLs, with something to escape and
# no NULL, with nothing to escape (the usual append), and empty.
TEXT_LISTS = [AWKWARD_TEXTS, [t for t in AWKWARD_TEXTS if t is not None],
              ["ledger.manager:Manager.Registered", "NULL", "", "a b", "{,}", "张敏"], []]
BYTES_LISTS = [AWKWARD_BYTES, [b for b in AWKWARD_BYTES if b is not None], []]


@pytest.mark.parametrize("texts", TEXT_LISTS)
def test_text_arrays_read_back_as_built(cursor: psycopg2.extensions.cursor,
                                        texts: list[str | None]) -> None:
    ours, theirs = read_back(cursor, text_array(texts), texts, "text[]")
    assert ours == theirs == texts


@pytest.mark.parametrize("values", BYTES_LISTS)
def test_bytea_arrays_read_back_as_built(cursor: psycopg2.extensions.cursor,
                                         values: list[bytes | None]) -> None:
    ours, theirs = read_back(cursor, bytea_array(values), values, "bytea[]")
    as_bytes = [None if v is None else bytes(v) for v in ours]
    assert as_bytes == [None if v is None else bytes(v) for v in theirs] == values


def test_bigint_arrays_read_back_as_built(cursor: psycopg2.extensions.cursor) -> None:
    ours, theirs = read_back(cursor, bigint_array(INTEGERS), INTEGERS, "bigint[]")
    assert ours == theirs == INTEGERS


def test_only_integers_make_a_bigint_array() -> None:
    with pytest.raises(TypeError):
        bigint_array([1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        bigint_array(["1); DROP TABLE events; --"])  # type: ignore[list-item]


def test_texts_with_nothing_to_escape_are_joined_without_quoting_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The usual append's originators and topics: the one-join path, not one call per value
    # (it was never taken while the scan looked at the values joined by '","').
    def quoted_each(text: str) -> str:
        raise AssertionError(f"{text!r} was quoted on its own")

    monkeypatch.setattr("persistence.arrays._quoted", quoted_each)
    texts = ["ledger.manager:Manager.Registered", "4a7873c0d4615f8cbc6bfcb3a25eb5ae", ""]
    assert text_array(texts) == '{"ledger.manager:Manager.Registered",' \
        '"4a7873c0d4615f8cbc6bfcb3a25eb5ae",""}'
