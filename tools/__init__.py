"""Developer tools: dev CSMS, benchmarks, install helpers (not shipped)."""
