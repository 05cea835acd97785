"""The `ledger` console command for operators."""
