"""Pages of a list: every list answer says where its next page is (issue 20).

A list's schema derives from `Page`: beside its cursor (`next_after`, or a report's
`next_offset`) it answers `next`, this request's URL with the cursor moved on (null on the
last page), and the same URL goes in a `Link: <…>; rel="next"` header (RFC 8288), so a
client follows pages without building URLs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, g, request

CURSORS = (("next_after", "after"), ("next_offset", "offset"))
"""(the body's cursor, the query parameter it becomes)."""


def next_page(cursor: Any, parameter: str) -> str | None:
    """The URL of the page after this one; it is also the answer's Link header."""
    if cursor is None:
        return None
    query = request.args.to_dict(flat=False)
    query[parameter] = [str(cursor)]
    url = f"{request.path}?{urlencode(query, doseq=True)}"
    g.next_page = url
    return url


class Page(ma.Schema):
    """A list answer: its items, its cursor, and `next`."""

    next = ma.fields.Method("_next", allow_none=True, metadata={
        "type": "string", "format": "uri-reference",
        "description": "the next page (also the Link header, rel=next); null on the last"})

    def _next(self, answer: Any) -> str | None:
        for cursor, parameter in CURSORS:
            if isinstance(answer, dict) and answer.get(cursor) is not None:
                return next_page(answer[cursor], parameter)
        return None


def link_next_page(response: Response) -> Response:
    """After the request: the Link header of a page that has a next one."""
    url = g.get("next_page")
    if url is not None and response.status_code == 200:
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response
