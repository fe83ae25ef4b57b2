"""Benchmark suites (`promptpo bench`): tasks x seeds x methods, run here or on Ray."""
