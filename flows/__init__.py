"""Prefect flows and the CLI: the pipeline as people see it."""
