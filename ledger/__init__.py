"""Domain and application core of the customer-manager assessment ledger."""
