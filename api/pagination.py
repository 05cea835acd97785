"""Pages of a list: every list answer says where its next page is (issue 20).

A list's schema derives from `Page`: beside its cursor (`next_after`, or a report's
`next_offset`) it answers `next`, this request's URL with the cursor moved on (null on the
last page), and the same URL goes in a `Link: <…>; rel="next"` header (RFC 8288), so a
client follows pages without building URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, g, request

from ledger.errors import InvalidInput

T = TypeVar("T")
Key = TypeVar("Key", str, int, tuple[str, str])

CURSORS = (("next_after", "after"), ("next_offset", "offset"))
"""(the body's cursor, the query parameter it becomes)."""


def next_page(cursor: Any, parameter: str, pinned: dict[str, str] | None = None) -> str | None:
    """The URL of the page after this one; it is also the answer's Link header. `pinned`
    parameters replace the request's: the next page is taken at the same cut."""
    if cursor is None:
        return None
    query = request.args.to_dict(flat=False)
    query.update({name: [value] for name, value in (pinned or {}).items()})
    query[parameter] = [str(cursor)]
    url = f"{request.path}?{urlencode(query, doseq=True)}"
    g.next_page = url
    return url


class Page(ma.Schema):
    """A list answer: its items, its cursor, and `next`.

    A list read at a cut (`as_of`, `known_at`) names its cut in PINNED: the next link
    carries the cut this page was taken at, so a page read later is of the same list
    rather than of one events recorded since have moved.
    """

    PINNED: tuple[str, ...] = ()

    next = ma.fields.Method("_next", allow_none=True, metadata={
        "type": "string", "format": "uri-reference",
        "description": "the next page (also the Link header, rel=next); null on the last"})

    def _next(self, answer: Any) -> str | None:
        for cursor, parameter in CURSORS:
            if isinstance(answer, dict) and answer.get(cursor) is not None:
                return next_page(answer[cursor], parameter, _pins(answer, self.PINNED))
        return None


def _pins(answer: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {name: _query_text(answer[name]) for name in names if answer.get(name) is not None}


def _query_text(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, date) else str(value)


def cursor_args(base: type[ma.Schema], after: ma.fields.Field[Any], most: int) -> type[ma.Schema]:
    """`base`'s query parameters plus a cursor `after` and a `limit` of at most `most`,
    `most` by default: a client that sends neither gets the whole list when it fits."""
    fields: dict[str, ma.fields.Field[Any]] = {
        "after": after,
        "limit": ma.fields.Integer(load_default=most, validate=ma.validate.Range(1, most),
                                   metadata={"description": f"at most {most} items a page"}),
    }
    return type(f"{base.__name__}Page", (base,), fields)


def after_cursor(description: str = "cursor: the next_after of the page before",
                 ) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(1, 200),
                            metadata={"description": description})


def page_by_key(
    items: Sequence[T], key: Callable[[T], Key], after: Key | None, limit: int,
) -> tuple[list[T], Key | None]:
    """Items sorted by key: those after the cursor `after`, and the next cursor.

    The cursor is a key, never an index: an item added or gone before it moves nothing.
    Items sharing a key (a timeline's steps of one log position) stay on one page, which
    may then hold a few more than `limit`.
    """
    rest = [item for item in items if after is None or key(item) > after]
    end = min(limit, len(rest))
    while 0 < end < len(rest) and key(rest[end]) == key(rest[end - 1]):
        end += 1
    shown = rest[:end]
    return shown, key(shown[-1]) if len(rest) > end else None


def page_in_order(
    items: Sequence[T], key: Callable[[T], str], after: str | None, limit: int,
) -> tuple[list[T], str | None]:
    """Items in an order that only grows at its end (drafting order, a rule set's own
    order at a pinned cut): those after the item named `after`, and the next cursor."""
    start = 0
    if after is not None:
        keys = [key(item) for item in items]
        if after not in keys:
            raise InvalidInput({"after": [f"{after!r} is not in this list"]})
        start = keys.index(after) + 1
    shown = list(items[start:start + limit])
    return shown, key(shown[-1]) if len(items) > start + limit else None


def link_next_page(response: Response) -> Response:
    """After the request: the Link header of a page that has a next one."""
    url = g.get("next_page")
    if url is not None and response.status_code == 200:
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response
