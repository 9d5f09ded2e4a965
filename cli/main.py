"""The `extend-suffix` command line. Each verb calls the same functions the flow and the tests call.

Exit codes: 0 success, 2 the request was rejected (the 422 body is printed on stdout), 1 anything else.

Start-up stays light: this module and the verbs' modules import only typer, pydantic and the request model; torch,
diffusers and Prefect load inside the verbs that use them (tests/faces/test_startup.py holds this).
"""

from __future__ import annotations

import typer

from cli import jobs, local
from cli.options import options_from
from ltxcore.sample.options import ExtendOptions

app = typer.Typer(
    name="extend-suffix",
    help="Train LTX-2.3 LoRAs that extend a video backward in time, and use them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command()(local.check)
app.command()(local.prepare)
app.command("model-info")(local.model_info)
app.command()(options_from(ExtendOptions)(local.extend))
app.command()(jobs.run)
app.command()(jobs.demo)
app.command()(jobs.serve)
app.command()(jobs.submit)
app.command()(jobs.api)
app.command()(jobs.outputs)

if __name__ == "__main__":  # pragma: no cover
    app()
