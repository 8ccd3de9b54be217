"""The HTTP service: an ASGI app (FastAPI) over one engine, for bots not written in Python.

Endpoints
---------
``POST /v1/conversations/{id}/turns``
    Observe one turn; the response is the :class:`~escalate.models.Decision`, with the
    handoff packet when the action is ``handoff``.
``GET /v1/conversations/{id}/packet``
    The packet of the conversation's handoff; before any handoff, a packet of the
    conversation so far (``rule`` is then ``null``). 404 for an unknown conversation.
``POST /v1/conversations/{id}/end``
    End the conversation with its outcome (recorded in the contact history).
``GET /v1/policy`` and ``POST /v1/policy/reload``
    The policy in force, and re-reading its file without a restart.
``GET /healthz``, ``GET /readyz``
    Liveness, and readiness: the model answers and the stores can be reached.
``GET /openapi.json``
    The OpenAPI document.

Failures
--------
A request that is not valid gets a 4xx with an RFC 9457 problem body naming the field
(:mod:`escalate.serve.problems`). A model or store failure while observing a turn never
becomes a 5xx: the decision follows the policy's ``on_error`` and says why in its
reasons (the engine does this; anything else that goes wrong in that path is turned into
the same ``on_error`` decision here).

Turns and contacts that wait for a store that failed (see
:meth:`Engine.flush_sessions <escalate.engine.Engine.flush_sessions>`) are applied every
:data:`FLUSH_SECONDS` once it answers again, and at shutdown.

Policy reload
-------------
``POST /v1/policy/reload`` re-reads the policy file in the worker that receives it and
answers with the new policy, or with a 422 problem listing every problem (the old policy
stays in force). Every worker also re-reads the file by itself when it changes (checked
every ``watch_seconds``) and on ``SIGHUP``, so an edit reaches every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from escalate.errors import InputError, MissingExtraError, PolicyError

try:
    from fastapi import FastAPI, Request
    from fastapi import Path as PathParam
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.responses import JSONResponse, Response
except ImportError:
    raise MissingExtraError("escalate serve", "serve") from None

from escalate.engine import Engine
from escalate.models import Decision, HandoffPacket, Outcome, Reason, Turn
from escalate.packet import build_packet
from escalate.packet.formats import _trim_examples
from escalate.policy import Policy
from escalate.serve.config import ServeConfig
from escalate.serve.packets import PacketStore, open_packet_store
from escalate.serve.problems import PROBLEM_JSON, FieldProblem, Problem, field_of, problem_response
from escalate.signals.catalog import CUSTOMER_ATTRIBUTES

__all__ = ["EndRequest", "PolicyInfo", "Readiness", "TurnRequest", "app_from_env", "create_app"]

_log = logging.getLogger("escalate.serve")

#: How often the service applies the turns (and writes the contacts) that wait in memory
#: for a store that failed, once it answers again.
FLUSH_SECONDS = 5.0

ConversationId = Annotated[
    str,
    PathParam(min_length=1, max_length=200, description="The conversation's id."),
]

#: The customer attributes a request may give, as in ``Engine.session(customer=...)``.
CustomerAttributes: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CustomerAttributes",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Attributes of the customer, compared as numbers (true/false count as 1/0).",
    **{
        name.removeprefix("customer."): (
            float | bool | None,
            Field(default=None, description=meaning),
        )
        for name, meaning in CUSTOMER_ATTRIBUTES.items()
    },
)


class TurnRequest(BaseModel):
    """One turn of a conversation, with who the customer is (read on the first turn).

    Examples
    --------
    >>> TurnRequest.model_validate({"turn": {"role": "user", "text": "hi"}}).turn.role
    'user'
    """

    model_config = ConfigDict(extra="forbid")

    turn: Turn
    customer_id: str | None = Field(default=None, min_length=1, max_length=200)
    channel: str = Field(default="chat", min_length=1, max_length=50)
    customer: CustomerAttributes | None = None  # type: ignore[valid-type]


class EndRequest(BaseModel):
    """How a conversation ended; without an outcome, the one recorded so far is kept
    (``handed_off`` after a handoff), else ``abandoned``.

    Examples
    --------
    >>> EndRequest().outcome is None
    True
    """

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome | None = None


class Ended(BaseModel):
    """The answer to an end request."""

    conversation_id: str
    outcome: Outcome | None


class PolicyInfo(BaseModel):
    """The policy in force.

    Examples
    --------
    >>> PolicyInfo(name="default", source="default.yaml", rules=["a"], on_error="handoff").rules
    ['a']
    """

    name: str
    source: str
    rules: list[str]
    on_error: str


class Readiness(BaseModel):
    """Whether the service can decide: each check is ``ok``, ``none`` (not used) or the
    error that makes the service not ready.

    Examples
    --------
    >>> Readiness(status="ready", checks={"model": "ok"}).status
    'ready'
    """

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


def _policy_info(policy: Policy) -> PolicyInfo:
    return PolicyInfo(
        name=policy.name,
        source=str(policy.source),
        rules=[r.id for r in policy.rules],
        on_error=policy.on_error,
    )


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "The request is not valid (RFC 9457 problem details naming the field).",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


#: A turn needs a text with a non-blank character, an intent or an event (as ``Turn`` checks).
_TURN_CONTENT = [
    {"required": ["text"], "properties": {"text": {"type": "string", "pattern": r"\S"}}},
    {"required": ["intent"], "properties": {"intent": {"type": "string", "minLength": 1}}},
    {"required": ["event"], "properties": {"event": {"type": "string", "minLength": 1}}},
]

#: After a turn, the same conversation's packet and end.
_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"conversation_id": "$request.path.conversation_id"},
    }
    for name, operation in (
        ("GetPacket", "getPacket"),
        ("EndConversation", "endConversation"),
    )
}


class _PolicyWatch:
    """Re-reads the policy file when it changes; errors are logged, the old policy stays."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.engine.policy.source)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> Policy:
        policy = self.engine.reload()
        self._seen = self._stamp()
        _log.info("policy %s reloaded from %s", policy.name, policy.source)
        return policy

    def check(self, *, force: bool = False) -> None:
        """Reload when the file changed (or always, with ``force``); log a bad policy."""
        stamp = self._stamp()
        if not force and (stamp is None or stamp == self._seen):
            return
        self._seen = stamp
        try:
            self.reload()
        except PolicyError as exc:
            _log.error("policy file is invalid; keeping the old policy: %s", exc)


def create_app(
    engine: Engine | None = None,
    *,
    config: ServeConfig | None = None,
    packets: PacketStore | None = None,
) -> FastAPI:
    """The ASGI app over ``engine`` (built from ``config``, else from the environment).

    Parameters
    ----------
    engine:
        The engine to serve; when ``None`` it is built from ``config``.
    config:
        The configuration; by default :meth:`ServeConfig.from_env`. Its ``sessions`` URL
        also decides where handoff packets live, and ``watch_seconds`` how often the
        policy file is checked for changes.
    packets:
        Where handoff packets live; by default beside the sessions (Redis or memory).

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> import escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    >>> client = TestClient(create_app(engine))
    >>> reply = client.post("/v1/conversations/c1/turns",
    ...                     json={"turn": {"role": "user", "text": "Get me a human"}})
    >>> reply.status_code, reply.json()["action"], reply.json()["packet"]["rule"]
    (200, 'handoff', 'explicit_request')
    >>> client.get("/v1/conversations/c1/packet").json()["conversation_id"]
    'c1'
    >>> client.post("/v1/conversations/c1/turns", json={"turn": {"role": "shopkeeper"}}).json()["errors"][0]["field"]
    'turn.role'
    """
    config = config or ServeConfig.from_env()
    engine = engine or config.build_engine()
    store = packets if packets is not None else open_packet_store(config.sessions)
    watch = _PolicyWatch(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            loop.add_signal_handler(
                signal.SIGHUP, lambda: loop.run_in_executor(None, lambda: watch.check(force=True))
            )
        task = (
            asyncio.create_task(_watch_policy(watch, config.watch_seconds))
            if config.watch_seconds > 0
            else None
        )
        flusher = asyncio.create_task(_flush_waiting(engine, FLUSH_SECONDS))
        try:
            yield
        finally:
            flusher.cancel()
            if task is not None:
                task.cancel()
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
                loop.remove_signal_handler(signal.SIGHUP)
            await asyncio.to_thread(engine.close)

    app = FastAPI(
        title="escalate",
        summary="Decide, turn by turn, when a bot conversation should go to a human.",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.packets = store
    _install_errors(app)

    @app.post(
        "/v1/conversations/{conversation_id}/turns",
        operation_id="observeTurn",
        response_model=None,
        responses={200: {"model": Decision, "description": "The decision after this turn."}},
        openapi_extra=_body_schema(TurnRequest, required=True),
        summary="Observe one turn and decide",
    )
    async def observe(conversation_id: ConversationId, request: Request) -> Response:
        """Observe one turn of the conversation and decide what to do now.

        Bot, agent and system turns are recorded and answered with ``continue``; user
        turns are decided by the policy. The packet is attached when the action is
        ``handoff``. A model or store failure yields the policy's ``on_error`` decision.
        """
        body = await _read(request, TurnRequest)
        if body is None:
            raise RequestValidationError([_MISSING_BODY])
        return await run_in_threadpool(_observe, conversation_id, body)

    def _observe(conversation_id: str, body: TurnRequest) -> Response:
        customer = body.customer.model_dump(exclude_none=True) if body.customer else None
        session = engine.session(
            conversation_id, customer_id=body.customer_id, channel=body.channel, customer=customer
        )
        try:
            decision = session.observe(body.turn)
        except InputError:
            raise
        except Exception as exc:  # the engine absorbs model and store failures; this is the rest
            _log.exception("conversation %s: observing a turn failed", conversation_id)
            decision = _on_error(engine.policy, conversation_id, exc)
        if decision.packet is not None:
            try:
                store.put(decision.packet)
            except Exception as exc:  # the decision stands; the packet is in the response
                _log.warning("conversation %s: packet not stored: %s", conversation_id, exc)
        return _json(decision)

    @app.get(
        "/v1/conversations/{conversation_id}/packet",
        operation_id="getPacket",
        response_model=None,
        responses={200: {"model": HandoffPacket, "description": "The handoff packet."}},
        summary="The handoff packet",
    )
    def packet(conversation_id: ConversationId, request: Request) -> Response:
        """The packet of the conversation's latest handoff or, before any handoff, a packet
        of the conversation so far (its ``rule`` is then ``null``)."""
        try:
            stored = store.get(conversation_id)
        except Exception as exc:
            _log.warning("conversation %s: packet store: %s", conversation_id, exc)
            stored = None
        if stored is not None:
            return _json(stored)
        try:
            state = engine.session(conversation_id).state()
        except Exception as exc:
            return problem_response(
                503,
                f"the session store cannot be read: {type(exc).__name__}: {exc}",
                instance=request.url.path,
            )
        if state is None or not state.turns:
            return _unknown(conversation_id, request)
        policy = engine.policy
        built = build_packet(
            state,
            rule=None,
            queue=None,
            priority=None,
            reasons=[],
            signals={},
            created_at=state.turns[-1].timestamp or datetime.now(UTC),
            config=policy.packet,
            dialogue=policy.dialogue,
            embedder=engine.embedder,
        )
        return _json(built)

    @app.post(
        "/v1/conversations/{conversation_id}/end",
        operation_id="endConversation",
        response_model=None,
        responses={200: {"model": Ended, "description": "The conversation ended."}},
        openapi_extra=_body_schema(EndRequest, required=False),
        summary="End a conversation",
    )
    async def end(conversation_id: ConversationId, request: Request) -> Response:
        """End the conversation: its outcome goes to the contact history and its state is
        forgotten. The body is optional. 404 when the conversation is unknown."""
        body = await _read(request, EndRequest)
        return await run_in_threadpool(_end, conversation_id, body, request)

    def _end(conversation_id: str, body: EndRequest | None, request: Request) -> Response:
        session = engine.session(conversation_id)
        try:
            state = session.state()
        except Exception as exc:  # the store is down: end it anyway (logged by the engine)
            _log.warning("conversation %s: state unavailable: %s", conversation_id, exc)
            state = None
        else:
            if state is None:
                return _unknown(conversation_id, request)
        outcome = body.outcome if body is not None else None
        session.end(outcome)
        final = outcome or (state.outcome if state is not None else None) or "abandoned"
        return _json(Ended(conversation_id=conversation_id, outcome=final))

    @app.get(
        "/v1/policy",
        response_model=PolicyInfo,
        operation_id="getPolicy",
        summary="The policy in force",
    )
    def policy_info() -> PolicyInfo:
        """The policy in force: its name, file and rules."""
        return _policy_info(engine.policy)

    @app.post(
        "/v1/policy/reload",
        operation_id="reloadPolicy",
        response_model=PolicyInfo,
        summary="Re-read the policy file",
    )
    def reload(request: Request) -> Response:
        """Re-read the policy file without a restart. An invalid file is refused with a
        422 problem listing every problem; the old policy then stays in force."""
        try:
            policy = watch.reload()
        except PolicyError as exc:
            return problem_response(
                422,
                f"the policy file is invalid; the old policy stays in force: {exc.problems[0]}",
                instance=request.url.path,
                errors=[
                    FieldProblem(
                        field=" -> ".join(str(p) for p in problem.path) or None,
                        message=str(problem),
                    )
                    for problem in exc.problems
                ],
            )
        return _json(_policy_info(policy))

    @app.get("/healthz", operation_id="healthz", summary="Liveness")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        operation_id="readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: a check failed."}},
        summary="Readiness",
    )
    def readyz() -> Response:
        """Ready when the model answers and the session, history and packet stores can be
        reached; 503 with the failing checks otherwise."""
        checks = _checks(engine, store)
        ready = all(v in ("ok", "none") for v in checks.values())
        body = Readiness(status="ready" if ready else "unavailable", checks=checks)
        return _json(body, 200 if ready else 503)

    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _version() -> str:
    from escalate import __version__

    return __version__


async def _watch_policy(watch: _PolicyWatch, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(watch.check)
        except Exception:  # the watch must outlive any one failure
            _log.exception("policy watch failed")


async def _flush_waiting(engine: Engine, seconds: float) -> None:
    """Apply the turns, and write the contacts, that wait for a store that failed: a
    conversation that had no turn left once the store was back is saved all the same."""
    while True:
        await asyncio.sleep(seconds)
        try:
            if engine.pending_turns:
                await asyncio.to_thread(engine.flush_sessions)
            if engine.pending_contacts:
                await asyncio.to_thread(engine.flush_history)
        except Exception:  # the flush must outlive any one failure
            _log.exception("flushing waiting turns failed")


def _on_error(policy: Policy, conversation_id: str, exc: Exception) -> Decision:
    return Decision(
        conversation_id=conversation_id,
        turn=0,
        action=policy.on_error,
        rule="on_error",
        guard="on_error",
        reasons=[Reason(code="on_error", detail=f"service: {type(exc).__name__}: {exc}")],
    )


_PROBE = "escalate-readiness-probe"


def _checks(engine: Engine, packets: PacketStore) -> dict[str, str]:
    def check(call: Callable[[], object]) -> str:
        try:
            call()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    model = engine.affect
    history = engine.history
    return {
        "model": "none" if model is None else check(lambda: model.predict(["ready?"])),
        "sessions": check(lambda: engine.sessions.load(_PROBE)),
        "history": "none" if history is None else check(lambda: history.get(_PROBE)),
        "packets": check(packets.ping),
    }


def _unknown(conversation_id: str, request: Request) -> JSONResponse:
    return problem_response(
        404,
        f"conversation_id: no conversation {conversation_id!r} (never observed, or ended)",
        instance=request.url.path,
        errors=[FieldProblem(field="conversation_id", message="unknown conversation")],
    )


_Body = TypeVar("_Body", bound=BaseModel)

_MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "a JSON body is required"}


async def _read(request: Request, model: type[_Body]) -> _Body | None:
    """The request's JSON body validated strictly against ``model`` (``None`` when empty).

    Strict: a number is not accepted as a string, nor ``false`` as a number, so what the
    service accepts is exactly what its OpenAPI document describes.

    Raises
    ------
    RequestValidationError
        The body is not JSON or not valid; answered with a 422 problem naming the field.
    StarletteHTTPException
        The body is not declared as JSON (415).
    """
    raw = await request.body()
    if not raw.strip():
        return None
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise StarletteHTTPException(415, f"the body must be application/json, got {kind!r}")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _body_schema(model: type[BaseModel], *, required: bool) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def _field_problem(error: Mapping[str, Any]) -> FieldProblem:
    location = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        return FieldProblem(field="body", message=f"not valid JSON: {message}")
    if location in ((), ("body",)):
        if error.get("type") in ("model_type", "model_attributes_type", "dict_type"):
            message = "must be a JSON object"
        return FieldProblem(field="body", message=message)
    return FieldProblem(field=field_of(location), message=message)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_problem(e) for e in exc.errors()]
        first = errors[0] if errors else FieldProblem(field=None, message="invalid request")
        where = f"{first.field}: " if first.field else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(
            422, f"{where}{first.message}{more}", instance=request.url.path, errors=errors
        )

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return problem_response(
            422,
            str(exc),
            instance=request.url.path,
            errors=[FieldProblem(field=exc.field, message=exc.detail)],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            str(exc.detail),
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document: 4xx answers as problem details, docstring examples left out."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses.update(_PROBLEMS)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for model in (Problem, TurnRequest, EndRequest):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        if "Turn" in components:
            components["Turn"]["anyOf"] = _TURN_CONTENT
        turns = schema["paths"]["/v1/conversations/{conversation_id}/turns"]["post"]
        turns["responses"]["200"]["links"] = _LINKS
        _trim_examples(schema)
        app.openapi_schema = schema
        return schema

    return build


def app_from_env() -> FastAPI:
    """The app configured from the environment (:meth:`ServeConfig.from_env`): the
    factory each uvicorn worker calls."""
    return create_app(config=ServeConfig.from_env())
