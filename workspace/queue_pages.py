"""The supervisor's and approver's pages (DESIGN §15): queues, decisions, approvals,
standings, the pay list, period close. (Helper B2 fills this module.)"""

from __future__ import annotations

from workspace import blp  # noqa: F401  (routes register on the blueprint)
