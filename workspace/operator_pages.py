"""The operator's pages (DESIGN §15): rule sets, a draft's shadow diff, publish.
(Helper B2 fills this module.)"""

from __future__ import annotations

from workspace import blp  # noqa: F401  (routes register on the blueprint)
