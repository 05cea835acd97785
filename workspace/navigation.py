"""The navigation bar of each role: what a person may open from every page.

Each role's page module owns its entries here (label as an English msgid, translated in
the template; a path under /app/). Links, not endpoint names, so the bar never depends on
the import order of the page modules.
"""

from __future__ import annotations

from persistence.tokens import Principal

NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "manager": (("My quarter", "/app/managers/{manager_id}"),),
    "auditor": (("Managers", "/app/audit/managers"), ("Audit feed", "/app/audit/events"),
                ("Verify", "/app/audit/verify"), ("Pay list", "/app/reports/pay-list"),
                ("Standings", "/app/standings"), ("Rankings", "/app/reports/rankings"),
                ("Rule sets", "/app/rulesets")),
    "supervisor": (("Disputes to decide", "/app/queues/disputes"),
                   ("Scoring sheets", "/app/queues/sheets"), ("Standings", "/app/standings"),
                   ("Rankings", "/app/reports/rankings"),
                   ("Propose an adjustment", "/app/adjustments/new"),
                   ("Customers to reassign", "/app/queues/reassignments")),
    "approver": (("Appeals to decide", "/app/queues/disputes"),
                 ("Adjustments to approve", "/app/queues/adjustments"),
                 ("Scoring sheets", "/app/queues/sheets"), ("Standings", "/app/standings"),
                 ("Rankings", "/app/reports/rankings"), ("Pay list", "/app/reports/pay-list"),
                 ("Close a period", "/app/periods")),
    "operator": (("Rule sets", "/app/rulesets"),),
    "integrator": (),
}


def entries_for(who: Principal | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    return [(label, path.format(manager_id=who.manager_id or ""))
            for label, path in NAV.get(who.role, ())]
