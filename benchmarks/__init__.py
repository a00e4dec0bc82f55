"""Reproducible benchmarks; run one as ``python -m benchmarks.NAME``."""
