"""The auditor's pages (DESIGN §15): any manager and period at any cut, the trails of
deductions and disputes, verify, the audit feed. (Helper B2 fills this module.)"""

from __future__ import annotations

from workspace import blp  # noqa: F401  (routes register on the blueprint)
