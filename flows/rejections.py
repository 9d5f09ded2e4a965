"""A user's mistake is not an error of the service: keep Prefect from logging it as one.

Prefect logs a failed task's or run's exception at ERROR with a traceback: the task engine when a stage raises
`RequestRejected` (and its final "Finished in state Failed" line), and a served run's engine, which re-raises the
run's exception after the final state is set ("Engine execution exited with unexpected exception"). For a rejected
request the final state message and the 422 artifact already say everything, so this filter turns exactly those
records into one-line warnings (no traceback); every other failure still logs at ERROR with its traceback."""

from __future__ import annotations

import logging

from ltxcore.errors import RequestRejected

# The loggers Prefect reports a failure on: a task's, the run's own (both shipped to the API) and the engine's.
ENGINE_LOGGERS = ("prefect.task_runs", "prefect.flow_runs", "prefect.engine")
# The task engine's final-state line for a stage that raised a rejection (it carries no exc_info).
_REJECTED_TASK_STATE = "Task run encountered an exception RequestRejected"


class RejectionAsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno < logging.ERROR:
            return True
        message = record.getMessage()
        if isinstance(exc, RequestRejected) or _REJECTED_TASK_STATE in message:
            if isinstance(exc, RequestRejected) and str(exc) not in message:
                message = f"{message}: the request was rejected ({exc})"
            record.msg, record.args = message, ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FILTER = RejectionAsWarning()


def quiet_rejection_tracebacks() -> None:
    """Install the filter on Prefect's loggers (idempotent: logging keeps one copy of the same filter)."""
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
