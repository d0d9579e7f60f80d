"""Benchmarks (not tests): each module runs with `python -m tools.bench.<name>` and prints its figures."""
