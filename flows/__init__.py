"""Prefect flows and the CLI: the pipeline as people see it."""

import os

# Library loggers reach the Prefect run logs; this must be set before Prefect configures logging.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltxcore,diffusers")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
