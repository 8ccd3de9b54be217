"""Error responses as RFC 9457 problem details (``application/problem+json``).

Every 4xx the service sends has the same body: ``type`` (``about:blank``: the status
says it all), ``title`` (the status phrase), ``status``, ``detail`` (one sentence that
names the offending field) and ``instance`` (the request path), plus the extension
member ``errors``: one ``{"field", "message"}`` per problem found, so a client can
show them all at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from escalate.errors import MissingExtraError

try:
    from starlette.responses import JSONResponse
except ImportError:
    raise MissingExtraError("escalate serve", "serve") from None

__all__ = ["PROBLEM_JSON", "FieldProblem", "Problem", "field_of", "problem_response"]

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    """One problem with the request: the dotted field and what is wrong with it.

    Examples
    --------
    >>> FieldProblem(field="turn.role", message="Input should be 'user' or 'bot'").field
    'turn.role'
    """

    model_config = ConfigDict(frozen=True)

    field: str | None = Field(description="Dotted path of the offending field, if any.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object.

    Examples
    --------
    >>> p = Problem(title="Not Found", status=404, detail="no conversation 'c9'",
    ...             instance="/v1/conversations/c9/packet")
    >>> p.type, p.errors
    ('about:blank', [])
    """

    model_config = ConfigDict(frozen=True)

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)


def field_of(location: Sequence[Any]) -> str | None:
    """The dotted field of a validation error's location, without the request part.

    Examples
    --------
    >>> field_of(("body", "turn", "role"))
    'turn.role'
    >>> field_of(("path", "conversation_id"))
    'conversation_id'
    >>> field_of(("body",))
    'body'
    """
    parts = [str(p) for p in location]
    if len(parts) > 1 and parts[0] in ("body", "path", "query", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: Iterable[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response with the status phrase as its title."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(
        title=title, status=status, detail=detail, instance=instance, errors=list(errors)
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )
