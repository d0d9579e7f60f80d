"""Developer and technician tooling that is not the firmware: dev CSMS, benchmarks, install helpers."""
