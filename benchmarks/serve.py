"""Service benchmark: ``escalate serve`` under schemathesis and under load, beside ``observe``.

Run from the project root::

    python benchmarks/serve.py [--requests 3000] [--clients 8] [--examples 150] [--write]

It starts a private Redis on a free port and ``escalate serve`` with two uvicorn workers
sharing sessions through it: the default policy, the shipped model with its text cache
off (``--affect-cache 0``, so every message is scored), history in memory, no access log.
Then:

* schemathesis runs every operation of the OpenAPI document with every check but
  ``positive_data_acceptance`` (see ``tests/serve/test_schemathesis.py``) and
  ``--max-examples`` per operation, and the number of requests, failures and 5xx is
  reported;
* one client posts the user turns of conversations made from the shipped examples one at
  a time (the latency of one turn, no queueing), in blocks of ``BLOCK`` turns that
  alternate with the same turns through an in-process ``Session.observe`` (same model and
  policy, one model thread as each worker has, no HTTP), so that both see the same load
  on the cores; alternating turn by turn instead, each path would find the other's copy
  of the model in the caches and both would run cold;
* then ``--clients`` clients post them at once (throughput, and latency under load);
* in process, the same turns through ``Session.observe`` with the model's encodings kept
  in the conversation state (the engine's way) and with a model that hands out none (the
  context messages encoded again each turn), beside the model alone on each message.

The clients are the standard library's ``http.client`` on kept-alive connections, about
as thin as the HTTP client of a bot in another language; ``httpx`` adds about 0.3 ms a
request of its own on this machine.

``--write`` replaces the "HTTP service" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from _results import replace_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve.servers import private_redis, running_service  # noqa: E402

import escalate  # noqa: E402
from escalate.affect import OnnxAffectModel  # noqa: E402

EXAMPLES = ROOT / "examples" / "conversations.jsonl"

#: Turns in a row through one path before ``side_by_side`` switches to the other.
BLOCK = 50


class Client:
    """One kept-alive HTTP/1.1 connection posting JSON turns."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def post_turn(self, conversation: str, text: str) -> int:
        body = json.dumps({"turn": {"role": "user", "text": text}})
        self.connection.request("POST", f"/v1/conversations/{conversation}/turns", body,
                                {"content-type": "application/json"})  # fmt: skip
        reply = self.connection.getresponse()
        reply.read()
        return reply.status

    def close(self) -> None:
        self.connection.close()


def user_texts() -> list[str]:
    texts = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        for turn in json.loads(line)["turns"]:
            if turn["role"] == "user" and turn.get("text"):
                texts.append(turn["text"])
    return texts


def workload(n: int, texts: list[str]) -> list[tuple[str, str]]:
    """``n`` user turns: conversations of four turns each, each message made unique by a
    number in front of it (in front, so that the message keeps its sentences: a number
    after a full stop would be one more sentence to score)."""
    cycle = itertools.cycle(texts)
    return [(f"bench-{i // 4}", f"({i}) {next(cycle)}") for i in range(n)]


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.array(latencies) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def post_all(url: str, turns: list[tuple[str, str]], clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    # one client per conversation stream, so a conversation's turns stay in order
    lanes = [turns[i::clients] for i in range(clients)] if clients > 1 else [turns]

    def run(lane: list[tuple[str, str]]) -> None:
        client = Client(url)
        try:
            for conversation, text in lane:
                start = time.perf_counter()
                status = client.post_turn(conversation, text)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(lane,)) for lane in lanes]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return {"rps": len(turns) / seconds, "statuses": statuses, **percentiles(latencies)}


def side_by_side(
    url: str, turns: list[tuple[str, str]], *, model: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each turn through HTTP (one client) and through an in-process ``Session.observe``
    (same policy, same model, cache off), in alternating blocks, so both see the same
    load."""
    engine = escalate.Engine.from_policy(
        "default" if model else "dialogue_only",
        affect=OnnxAffectModel.default(cache_size=0, threads=1) if model else None,
        history="memory://",
    )
    http: list[float] = []
    local: list[float] = []
    client = Client(url)
    start = time.perf_counter()
    try:
        for first in range(0, len(turns), BLOCK):
            block = turns[first : first + BLOCK]
            for conversation, text in block:
                began = time.perf_counter()
                status = client.post_turn(f"one-{conversation}", text)
                http.append(time.perf_counter() - began)
                if status != 200:
                    raise RuntimeError(f"the service answered {status}")
            for conversation, text in block:
                session = engine.session(f"local-{conversation}")
                began = time.perf_counter()
                session.observe(escalate.Turn(role="user", text=text))
                local.append(time.perf_counter() - began)
    finally:
        client.close()
    seconds = time.perf_counter() - start
    return {"rps": len(turns) / (seconds * sum(http) / (sum(http) + sum(local))),
            **percentiles(http)}, percentiles(local)  # fmt: skip


class ContextOnly:
    """The shipped model seen as a context model that hands out no encodings: the engine
    then encodes the context messages again on each customer turn (the text cache is
    off), as it did before encodings were kept in the conversation state."""

    def __init__(self, model: OnnxAffectModel) -> None:
        self.model = model

    def predict(self, texts: Sequence[str]) -> list[Any]:
        return self.model.predict(texts)

    def predict_in_context(self, texts: Sequence[str], contexts: Sequence[Any]) -> list[Any]:
        return self.model.predict_in_context(texts, contexts)

    def prepare(self, texts: Sequence[str]) -> None:
        self.model.prepare(texts)


def in_process(turns: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Per-turn latency of ``Session.observe`` with encodings kept and without, and of
    the model alone (one message, no context), alternately so all see the same load."""
    model = OnnxAffectModel.default(cache_size=0, threads=1)
    kept = escalate.Engine.from_policy("default", affect=model, history="memory://")
    again = escalate.Engine.from_policy(
        "default",
        affect=ContextOnly(model),
        history="memory://",  # type: ignore[arg-type]
    )
    times: dict[str, list[float]] = {"kept": [], "again": [], "model": []}
    for conversation, text in turns:
        for name, engine in (("kept", kept), ("again", again)):
            session = engine.session(f"{name}-{conversation}")
            began = time.perf_counter()
            session.observe(escalate.Turn(role="user", text=text))
            times[name].append(time.perf_counter() - began)
        began = time.perf_counter()
        model.predict_one(text)
        times["model"].append(time.perf_counter() - began)
    return {name: percentiles(values) for name, values in times.items()}


def schemathesis(url: str, examples: int) -> dict[str, Any]:
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
               "--checks", "all", "--exclude-checks", "positive_data_acceptance",
               "--max-examples", str(examples), "--seed", "20260505", "--workers", "1",
               "--suppress-health-check", "all"]  # fmt: skip
    with tempfile.TemporaryDirectory() as where:  # its cache stays out of the project
        result = subprocess.run(command, capture_output=True, text=True, timeout=3000, cwd=where)
    output = result.stdout + result.stderr
    generated = re.search(r"(\d[\d,]*) generated", output)
    operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    return {
        "exit": result.returncode,
        "generated": int(generated.group(1).replace(",", "")) if generated else 0,
        "operations": f"{operations.group(1)}/{operations.group(2)}" if operations else "?",
        "server_errors": len(re.findall(r"\[5\d\d\]", output)),
        "summary": output.strip().splitlines()[-1] if output.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--examples", type=int, default=150, help="schemathesis examples per operation"
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    texts = user_texts()
    warm = workload(200, texts)
    sequential = workload(min(args.requests, 1000), texts)
    loaded = workload(args.requests, texts)
    with private_redis() as redis_url:
        serve_args = ["--workers", "2", "--sessions", redis_url, "--history", "memory://",
                      "--affect-cache", "0", "--no-access-log"]  # fmt: skip
        with running_service(serve_args) as service:
            url = service.url
            post_all(url, [(f"warm-{c}", t) for c, t in warm], 2)
            one, engine = side_by_side(url, sequential)
            many = post_all(url, [(f"many-{c}", t) for c, t in loaded], args.clients)
            fuzz = schemathesis(url, args.examples)
        local = in_process(sequential)
        bare_args = ["--policy", "dialogue_only", "--no-affect", *serve_args]
        with running_service(bare_args) as service:
            bare_http, bare_local = side_by_side(service.url, sequential, model=False)
    load = os.getloadavg()[0]
    lines = [
        "## HTTP service",
        "",
        "`escalate serve` with 2 uvicorn workers sharing sessions through Redis, the default "
        "policy and the shipped model with its text cache off (every message scored), history "
        f"in memory. {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"shared with the load client and the machine's other work (load average "
        f"{load:.1f} at the end of the run); {datetime.now(UTC):%Y-%m-%d}. The clients are "
        "`http.client` on kept-alive connections; the HTTP turns and the in-process turns "
        f"alternate in blocks of {BLOCK}.",
        "",
        "| path | requests | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| in-process `Session.observe` (no HTTP) | {len(sequential):,} | – | "
        f"{engine['p50']:.2f} | {engine['p99']:.2f} |",
        f"| in-process, context messages encoded again each turn (no kept encodings) | "
        f"{len(sequential):,} | – | {local['again']['p50']:.2f} | {local['again']['p99']:.2f} |",
        f"| in-process, encodings kept in the state (second run) | {len(sequential):,} | – | "
        f"{local['kept']['p50']:.2f} | {local['kept']['p99']:.2f} |",
        f"| the model alone: one message, no context, 1 thread | {len(sequential):,} | – | "
        f"{local['model']['p50']:.2f} | {local['model']['p99']:.2f} |",
        f"| HTTP, 1 client, one turn at a time | {len(sequential):,} | {one['rps']:.0f} | "
        f"{one['p50']:.2f} | {one['p99']:.2f} |",
        f"| HTTP, {args.clients} clients at once | {len(loaded):,} | {many['rps']:.0f} | "
        f"{many['p50']:.2f} | {many['p99']:.2f} |",
        f"| `dialogue_only`, no model: in-process `Session.observe` | {len(sequential):,} | – | "
        f"{bare_local['p50']:.2f} | {bare_local['p99']:.2f} |",
        f"| `dialogue_only`, no model: HTTP, 1 client | {len(sequential):,} | "
        f"{bare_http['rps']:.0f} | {bare_http['p50']:.2f} | {bare_http['p99']:.2f} |",
        "",
        "A customer turn encodes its own message only: the encodings of the bot's and the "
        "customer's previous messages come from the conversation's state (without them, "
        f"{local['again']['p50']:.2f} ms at p50). The model alone, one message on one thread, "
        f"is the floor of a turn: {local['model']['p50']:.2f} ms at p50 on this machine.",
        "",
        "Without the model the service's own cost shows: HTTP, validation, the Redis "
        f"compare-and-set and the JSON answer add {bare_http['p50'] - bare_local['p50']:.2f} "
        "ms at p50. With the model a turn's time is mostly the model's, which depends on how "
        'busy the cores are ("Engine" gives it on a quiet machine).',
        f"Status codes under load: {json.dumps(many['statuses'])}.",
        "",
        f"Schemathesis {fuzz['operations']} operations, every check but "
        f"`positive_data_acceptance`, {args.examples} examples per operation: "
        f"{fuzz['generated']:,} generated requests, {fuzz['server_errors']} 5xx, exit "
        f"{fuzz['exit']} (`{fuzz['summary'].strip('= ')}`).",
        "",
        f"Command: `python benchmarks/serve.py --requests {args.requests} --clients "
        f"{args.clients} --examples {args.examples} --write`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section("## HTTP service", text)


if __name__ == "__main__":
    main()
