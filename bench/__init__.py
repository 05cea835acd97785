"""One benchmark run of the ledger beside the raw database and the library's own recorders.

The machine it runs on is shared and noisy, so a bare time means little; every figure is
reported beside a baseline measured in the same run, on the same machine, interleaved with
it where that is possible, and the goals are judged on those ratios (`scripts/bench`).
"""
