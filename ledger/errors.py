"""The ledger's one error tree; the API maps each class to one HTTP status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class LedgerError(Exception):
    """Any refusal by the ledger. A refused command appends nothing.

    `rule` names the business rule that refused, when one did, so that an
    auditor reading a problem report can find the rule in `ledger.rules`.
    """

    default_title = "Ledger error"

    def __init__(self, detail: str, *, title: str | None = None, rule: str | None = None) -> None:
        super().__init__(detail)
        self.title: str = title or self.default_title
        self.detail: str = detail
        self.rule: str | None = rule


class InvalidInput(LedgerError):
    """Raised when values are malformed or out of range (HTTP 422).

    Every problem found is listed, field by field, so a client can fix them all at once.
    """

    default_title = "Invalid input"

    def __init__(
        self,
        errors: Mapping[str, Sequence[str]],
        *,
        detail: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.errors: dict[str, list[str]] = {name: list(msgs) for name, msgs in errors.items()}
        super().__init__(detail or _summarise(self.errors), rule=rule)


class NotFound(LedgerError):
    """Raised when an id or version names nothing the ledger knows (HTTP 404)."""

    default_title = "Not found"


class NotPermitted(LedgerError):
    """Raised when the acting person may not take this step on this data (HTTP 403).

    Examples: disputing someone else's deduction, deciding on a deduction one
    recorded oneself, approving one's own proposal.
    """

    default_title = "Not permitted"


class Conflict(LedgerError):
    """Raised when the command conflicts with the current state or a rule (HTTP 409)."""

    default_title = "Conflict"

    def __init__(
        self,
        detail: str,
        *,
        current_state: str | None = None,
        title: str | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(detail, title=title, rule=rule)
        self.current_state: str | None = current_state


class RuleViolation(Conflict):
    """Raised when a named business rule refuses the command (HTTP 409)."""

    default_title = "Rule violation"

    def __init__(self, rule: str, detail: str, *, current_state: str | None = None) -> None:
        super().__init__(detail, current_state=current_state, rule=rule)
        self.rule: str = rule


class DeadlinePassed(RuleViolation):
    """Raised when a step comes after its window closed (HTTP 409)."""

    default_title = "Deadline passed"


class DuplicateFact(Conflict):
    """Raised when the ledger already holds this fact, e.g. a rule-set version (HTTP 409)."""

    default_title = "Duplicate fact"


class RuleSetInvalid(InvalidInput):
    """Raised when a rule-set document does not validate; `problems` maps JSON path to
    messages, every problem at once (HTTP 422)."""

    default_title = "Invalid rule set"

    def __init__(self, problems: Mapping[str, Sequence[str]]) -> None:
        shown = "; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in list(problems.items())[:5])
        more = len(problems) - 5
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(problems, detail=f"rule set invalid: {shown}{suffix}")

    @property
    def problems(self) -> dict[str, list[str]]:
        return self.errors


class PolicyRefusal(RuleViolation):
    """Raised when the portfolio policy of the rule set refuses an assignment (HTTP 409)."""


class ProjectionLagging(LedgerError):
    """Raised when the projections could not reach the log's head within the bound (HTTP 503).

    `retry_after` is a whole number of seconds after which the client may try again.
    """

    default_title = "Projections lagging"

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class HeadFileInvalid(LedgerError):
    """Raised when a signed-head file is unreadable, or its signature does not verify with
    the trusted key."""

    default_title = "Head file invalid"


class BadFile(LedgerError):
    """Raised when a file cannot be imported at all (for example, a missing column)."""

    default_title = "File cannot be imported"


class FormulaError(Conflict):
    """Raised when a formula of a rule set (DESIGN §11) cannot be read or computed.

    `where` names the indicator (or `score.formula`), `position` the 1-based character in
    its formula (None when it is the whole formula), `expected` what should have been
    there. A draft is refused with every such error as a problem (422); one raised while
    answering a figure is a 409: the rule set's formula fails for these values.
    """

    default_title = "Formula failed"

    def __init__(self, where: str, position: int | None, expected: str) -> None:
        self.where = where
        self.position = position
        self.expected = expected
        at = f" at character {position}" if position is not None else ""
        super().__init__(f"{where}{at}: {expected}")

    def message(self) -> str:
        """The problem without the indicator's name (for a list keyed by that name)."""
        at = f"at character {self.position}: " if self.position is not None else ""
        return f"{at}{self.expected}"


def _summarise(errors: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in errors.items())
