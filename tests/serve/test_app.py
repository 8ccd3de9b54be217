"""The HTTP service in process: decisions, packets, ends, problems, failures, reload, replicas."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DIALOGUE_POLICY, KeywordAffect
from tests.stores.services import redis_sessions

import escalate
from escalate.errors import StoreError
from escalate.serve import ServeConfig, create_app
from escalate.serve.packets import MemoryPacketStore, RedisPacketStore
from escalate.stores.session import MemorySessionStore, SessionState


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"turn": {"role": "user", "text": text}, **extra}


@pytest.fixture
def client() -> Iterator[TestClient]:
    engine = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0))) as test_client:
        yield test_client


def test_a_conversation_hands_off_with_its_packet_and_ends(client: TestClient) -> None:
    first = client.post("/v1/conversations/c1/turns", json=user("Order 4481-2231 is late"))
    assert first.status_code == 200 and first.json()["action"] == "continue"
    bot = {"turn": {"role": "bot", "event": "fallback"}}
    assert client.post("/v1/conversations/c1/turns", json=bot).json()["turn"] == 1
    handoff = client.post("/v1/conversations/c1/turns", json=user("get me a human now")).json()
    assert (handoff["action"], handoff["rule"], handoff["turn"]) == (
        "handoff",
        "explicit_request",
        2,
    )
    assert handoff["packet"]["facts"][0]["value"] == "4481-2231"
    packet = client.get("/v1/conversations/c1/packet").json()
    assert packet == handoff["packet"]
    ended = client.post("/v1/conversations/c1/end", json={})
    assert ended.json() == {"conversation_id": "c1", "outcome": "handed_off"}
    assert client.post("/v1/conversations/c1/end").status_code == 404  # forgotten


def test_before_a_handoff_the_packet_is_the_conversation_so_far(client: TestClient) -> None:
    client.post("/v1/conversations/c2/turns", json=user("My refund of £89.99 never came"))
    packet = client.get("/v1/conversations/c2/packet").json()
    assert packet["rule"] is None and packet["transcript"][0]["role"] == "user"
    assert [f["value"] for f in packet["facts"]] == ["89.99 GBP"]
    assert client.post("/v1/conversations/c2/end", json={"outcome": "resolved"}).json() == {
        "conversation_id": "c2",
        "outcome": "resolved",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"turn": {"role": "shopkeeper", "text": "hi"}}, "turn.role"),
        ({"turn": {"role": "user"}}, "turn"),
        ({"turn": {"role": "user", "text": "hi", "confidence": 2}}, "turn.confidence"),
        ({"turn": {"role": "user", "text": "hi", "confidence": False}}, "turn.confidence"),
        ({"turn": {"role": "user", "text": "x" * 20_001}}, "turn.text"),
        ({"turn": {"role": "user", "text": "hi", "timestamp": "yesterday"}}, "turn.timestamp"),
        (
            {"turn": {"role": "user", "text": "hi"}, "customer": {"shoe_size": 9}},
            "customer.shoe_size",
        ),
        ({"turn": {"role": "user", "text": "hi"}, "colour": "red"}, "colour"),
        ({}, "turn"),
        ([1, 2], "body"),
    ],
)
def test_bad_requests_get_a_problem_naming_the_field(
    client: TestClient, body: Any, field: str
) -> None:
    reply = client.post("/v1/conversations/c3/turns", json=body)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Entity"
    assert problem["instance"] == "/v1/conversations/c3/turns"
    assert problem["errors"][0]["field"] == field
    assert problem["detail"].startswith(field)


def test_malformed_json_wrong_type_missing_body_and_methods(client: TestClient) -> None:
    broken = client.post(
        "/v1/conversations/c4/turns", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "body"
    assert "not valid JSON" in broken.json()["detail"]
    text = client.post(
        "/v1/conversations/c4/turns", content=b"hello", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415 and text.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/conversations/c4/turns").json()["errors"][0]["field"] == "body"
    wrong = client.delete("/v1/conversations/c4/turns")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    long_id = "x" * 201
    assert client.get(f"/v1/conversations/{long_id}/packet").json()["errors"][0]["field"] == (
        "conversation_id"
    )
    assert client.get("/v1/conversations/never/packet").status_code == 404
    assert client.get("/nowhere").json()["status"] == 404


def test_a_failing_model_yields_the_on_error_decision_not_a_500() -> None:
    engine = escalate.Engine.from_policy(
        "default", affect=KeywordAffect(fail=True), history="memory://"
    )
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0))) as client:
        reply = client.post("/v1/conversations/c5/turns", json=user("where is my parcel"))
        assert reply.status_code == 200
        decision = reply.json()
        assert (decision["action"], decision["guard"]) == ("offer_human", "on_error")
        assert "model exploded" in decision["reasons"][0]["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "model exploded" in ready.json()["checks"]["model"]


class BrokenSessions(MemorySessionStore):
    """A session store that is down."""

    def load(self, conversation_id: str) -> SessionState | None:
        raise StoreError("redis: load failed: ConnectionError: refused")

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        raise StoreError("redis: save failed: ConnectionError: refused")


def test_a_failing_session_store_yields_the_on_error_decision() -> None:
    policy = escalate.parse_policy(DIALOGUE_POLICY, affect=False)
    engine = escalate.Engine(policy, sessions=BrokenSessions(), history=None)
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0))) as client:
        decision = client.post("/v1/conversations/c6/turns", json=user("hello")).json()
        assert (decision["action"], decision["guard"]) == ("handoff", "on_error")
        assert "session store" in decision["reasons"][-1]["detail"]
        assert client.get("/v1/conversations/c6/packet").json() == decision["packet"]
        assert client.get("/v1/conversations/other/packet").status_code == 503
        ready = client.get("/readyz").json()
        assert ready["status"] == "unavailable" and "refused" in ready["checks"]["sessions"]
        assert client.get("/healthz").json() == {"status": "ok"}


def test_turns_that_waited_for_the_session_store_are_saved_once_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    import escalate.serve.app as app_module

    class Flaky(MemorySessionStore):
        down = False

        def load(self, conversation_id: str) -> SessionState | None:
            if self.down:
                raise StoreError("redis: load failed") from ConnectionRefusedError()
            return super().load(conversation_id)

    monkeypatch.setattr(app_module, "FLUSH_SECONDS", 0.05)
    store = Flaky()
    engine = escalate.Engine(
        escalate.parse_policy(DIALOGUE_POLICY, affect=False), sessions=store, history=None
    )
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0))) as client:
        client.post("/v1/conversations/c9/turns", json=user("hello"))
        store.down = True
        decision = client.post("/v1/conversations/c9/turns", json=user("anyone there?")).json()
        assert decision["guard"] == "on_error" and engine.pending_turns == 1
        store.down = False
        deadline = time.monotonic() + 10
        while engine.pending_turns and time.monotonic() < deadline:
            time.sleep(0.05)
        state = store.load("c9")
        assert state is not None and [t.text for t in state.turns] == ["hello", "anyone there?"]


def test_an_unexpected_failure_in_the_engine_becomes_the_on_error_decision(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: object, turn: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(escalate.Session, "observe", explode)
    decision = client.post("/v1/conversations/c7/turns", json=user("hello")).json()
    assert decision["action"] == "offer_human" and decision["rule"] == "on_error"
    assert decision["reasons"][0]["detail"] == "service: RuntimeError: bug"


def write_policy(path: Path, rule: str) -> None:
    path.write_text(
        f"version: 1\nrules:\n  - id: {rule}\n    when: dialogue.user_turns >= 2\n"
        "    then: {action: offer_human}\non_error: continue\n"
    )


def test_policy_reload_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write_policy(path, "second-turn")
    engine = escalate.Engine.from_policy(path, affect=None, history=None)
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0))) as client:
        assert client.get("/v1/policy").json()["rules"] == ["second-turn"]
        write_policy(path, "renamed")
        reloaded = client.post("/v1/policy/reload")
        assert reloaded.status_code == 200 and reloaded.json()["rules"] == ["renamed"]
        path.write_text("version: 1\nrules:\n  - id: x\n    when: nonsense >= 1\n")
        refused = client.post("/v1/policy/reload")
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert any("nonsense" in e["message"] for e in refused.json()["errors"])
        assert client.get("/v1/policy").json()["rules"] == ["renamed"]  # the old one stays


def test_every_worker_picks_up_an_edited_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write_policy(path, "before")
    engine = escalate.Engine.from_policy(path, affect=None, history=None)
    with TestClient(create_app(engine, config=ServeConfig(watch_seconds=0.05))) as client:
        write_policy(path, "after-edit")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
        deadline = time.monotonic() + 5
        while client.get("/v1/policy").json()["rules"] != ["after-edit"]:
            assert time.monotonic() < deadline, "the edited policy was not picked up"
            time.sleep(0.05)


def test_two_replicas_share_a_conversation_through_redis() -> None:
    with redis_sessions() as sessions:
        packets = RedisPacketStore(
            "redis://127.0.0.1:6379/0", prefix=sessions.prefix + "packet:", ttl_seconds=60
        )

        def replica() -> TestClient:
            engine = escalate.Engine.from_policy(
                "dialogue_only", affect=None, sessions=sessions, history="memory://"
            )
            return TestClient(
                create_app(engine, config=ServeConfig(watch_seconds=0), packets=packets)
            )

        with replica() as a, replica() as b:
            assert a.post("/v1/conversations/r1/turns", json=user("hello")).json()["turn"] == 0
            bot = {"turn": {"role": "bot", "text": "Hi! How can I help?"}}
            assert b.post("/v1/conversations/r1/turns", json=bot).json()["turn"] == 1
            decision = a.post("/v1/conversations/r1/turns", json=user("get me a human")).json()
            assert decision["turn"] == 2 and decision["action"] == "handoff"
            assert b.get("/v1/conversations/r1/packet").json() == decision["packet"]
            assert b.get("/readyz").json()["checks"]["packets"] == "ok"
        packets.close()


def test_memory_packets_keep_the_latest_and_drop_the_oldest() -> None:
    store = MemoryPacketStore(capacity=2)
    engine = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    for cid in ("a", "b", "c"):
        (decision,) = engine.decide(
            escalate.Conversation(id=cid, turns=[escalate.Turn(role="user", text="a human!")])
        )
        assert decision.packet is not None
        store.put(decision.packet)
    assert store.get("a") is None and store.get("c") is not None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=60),
    role=st.sampled_from(["user", "bot", "agent", "system", "robot", ""]),
    confidence=st.one_of(
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.text(max_size=3),
    ),
)
def test_any_turn_gets_a_decision_or_a_422_never_a_server_error(
    client: TestClient, text: str, role: str, confidence: object
) -> None:
    body = {"turn": {"role": role, "text": text, "confidence": confidence}}
    reply = client.post("/v1/conversations/prop/turns", json=body)
    assert reply.status_code in (200, 422)
    if reply.status_code == 422:
        assert reply.json()["errors"][0]["field"].startswith("turn")
    else:
        assert reply.json()["action"] in ("continue", "offer_human", "handoff", "offer_callback")
