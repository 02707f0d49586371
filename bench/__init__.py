"""Benchmarks of Playlink, each run by `python -m bench.<name>` and reported in docs/benchmarks.md."""
