"""Typer options generated from a pydantic settings model, so a verb's flags, defaults and help are the model's
fields: one place to add a setting, and the model's own rules refuse a bad value with a 422 naming the flag."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from cli.common import rejections
from ltxcore.errors import ErrorDetail, RequestRejected

M = TypeVar("M", bound=BaseModel)


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def negative_flag(name: str) -> str:
    """A switch's off form as people say it: `--without-audio` for `with_audio`, else `--no-<name>`."""
    if name.startswith("with_"):
        return flag(name).replace("--with-", "--without-", 1)
    return f"--no-{name.replace('_', '-')}"


def _cli_type(annotation: Any) -> Any:
    """The type typer parses; a Literal is read as text and checked by the model."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0]) | None
    return annotation


def _option(name: str, field: Any) -> inspect.Parameter:
    kind = _cli_type(field.annotation)
    is_flag = kind is bool or kind == (bool | None)
    decls = [f"{flag(name)}/{negative_flag(name)}"] if is_flag else [flag(name)]
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=field.default,
        annotation=Annotated[kind, typer.Option(*decls, help=field.description)],
    )


def options_from(model: type[M]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate `fn(..., options: M)`: the command gets one option per field of `model`, and `fn` the validated
    model; a value the model refuses is a RequestRejected whose `loc` is the flag."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "options"]
        generated = [_option(name, field) for name, field in model.model_fields.items()]

        @functools.wraps(fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        def command(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in model.model_fields}
            with rejections():
                try:
                    options = model.model_validate(values)
                except ValidationError as exc:
                    raise RequestRejected(
                        ErrorDetail(
                            loc=(flag(str(e["loc"][0])),),
                            msg=f"{flag(str(e['loc'][0]))}: {e['msg'][:1].lower()}{e['msg'][1:]}",
                            type=e["type"],
                        )
                        for e in exc.errors()
                    ) from None
            fn(**kwargs, options=options)

        params = [*own, *generated]
        # typer reads the signature and the type hints: both are the generated ones, with real types (fn's own
        # annotations are strings that only resolve in fn's module).
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__
        return command

    return wrap
