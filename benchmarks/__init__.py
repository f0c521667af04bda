"""ticket-alarm's benchmarks: ``python -m benchmarks.run`` prints side-by-side ratios (see README.md).

They are reports, not tests: a missed target is printed as FAIL and the run still exits 0 unless
``--strict``. Nothing here is a runtime dependency of the daemon.
"""
