"""Prefect flows and the CLI: the pipeline as people see it."""

import logging
import os

# Library loggers reach the Prefect run logs; this must be set before Prefect configures logging. Prefect gives the
# extra loggers its handlers but not a level, so ltxcore's INFO lines (a resume, a skipped checkpoint) need one here.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltxcore,diffusers")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# ltxcore logs outside any flow run too (the CLI, tests); those lines stay local instead of warning.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
logging.getLogger("ltxcore").setLevel(logging.INFO)
