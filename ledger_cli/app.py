"""Builds the ledger application from the environment, for every CLI command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from persistence.config import application_environment

if TYPE_CHECKING:
    from ledger.application import LedgerApplication


def build_application() -> LedgerApplication:
    from ledger.application import LedgerApplication  # noqa: PLC0415 - keep --help fast

    return LedgerApplication(env=application_environment())
