"""Thin Prefect tasks, each wrapping one ltxcore function."""
