"""Replay on a Ray cluster, sharded input, history built in time order, resume and faults.

Every backend (one process, the local pool, Ray with any number of actors) must give the
same results and the same metrics, to the last bit.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.replay.conversations import corpus

from escalate.models import Conversation, Turn
from escalate.policy import parse_policy
from escalate.replay import Inputs, Runner, collect, compare, compute_metrics, sweep
from escalate.replay.features import extract_features, features_from_results
from escalate.replay.runner import ConversationResult

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A small local Ray cluster, started once for these tests."""
    import tests.replay.dying as dying
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(dying)  # the actors need not import the tests
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def with_customers(n: int = 40) -> list[Conversation]:
    """Conversations of a few customers, some on consecutive days, in shuffled order."""
    base = datetime(2026, 3, 1, 9, tzinfo=UTC)
    out: list[Conversation] = []
    for i, c in enumerate(corpus() * (n // 8)):
        when = base + timedelta(days=(i * 7) % 11, minutes=i)
        turns = [
            t.model_copy(update={"timestamp": when + timedelta(seconds=k)})
            for k, t in enumerate(c.turns)
        ]
        out.append(
            c.model_copy(update={"id": f"{c.id}-{i}", "customer_id": f"u{i % 5}", "turns": turns})
        )
    return out


def outcomes(items: list[ConversationResult]) -> list[tuple[Any, ...]]:
    return [
        (
            r.id,
            r.line,
            r.turns,
            r.score,
            r.all_rules,
            r.label,
            [(d.turn, d.action, d.rule, d.guard, d.score, d.signals) for d in r.decisions],
        )
        for r in items
    ]


def run(data: Any, **options: Any) -> tuple[list[ConversationResult], dict[str, Any]]:
    options.setdefault("affect", None)
    results, errors = collect(
        Runner("dialogue_only", chunk_size=3, shard_size=6, **options).run(data)
    )
    return results, compute_metrics(results, rejected=len(errors))


BACKENDS = [
    {"workers": 1},
    {"workers": 2},
    {"backend": "ray", "workers": 1},
    {"backend": "ray", "workers": 2},
    {"backend": "ray", "workers": 3},
]


def test_every_backend_gives_the_same_results_and_metrics(cluster: None) -> None:
    data = with_customers()
    first, metrics = run(data, **BACKENDS[0], keep_signals=True)
    assert [r.id for r in first] == [c.id for c in data]
    for options in BACKENDS[1:]:
        results, m = run(data, **options, keep_signals=True)
        assert outcomes(results) == outcomes(first), options
        assert m == metrics, options


HISTORY_POLICY = parse_policy(
    "version: 1\nrules:\n  - id: came-back\n    when: history.contacts_7d >= 1\n"
    "    then: {action: offer_human}\n"
)


def expected_repeats(data: list[Conversation]) -> dict[str, bool]:
    """Whether each conversation's customer had another one in the 7 days before it."""
    starts = {c.id: c.turns[0].timestamp for c in data}
    out: dict[str, bool] = {}
    for c in data:
        mine = starts[c.id]
        assert mine is not None
        out[c.id] = any(
            o.customer_id == c.customer_id
            and o.id != c.id
            and mine - timedelta(days=7) <= (starts[o.id] or mine) < mine
            for o in data
        )
    return out


def history_run(data: list[Conversation], **options: Any) -> list[ConversationResult]:
    runner = Runner(
        HISTORY_POLICY, affect=None, chunk_size=2, build_history=True, keep_signals="all", **options
    )
    return collect(runner.run(data))[0]


def test_building_history_sees_each_customers_earlier_conversations(cluster: None) -> None:
    data = with_customers()
    expected = expected_repeats(data)
    by_backend = [
        history_run(data, workers=1, partitions=4),
        history_run(data, workers=2, partitions=4),
        history_run(data, backend="ray", workers=2, partitions=4),
    ]
    for results in by_backend:
        assert {r.id: r.escalated for r in results} == expected
        assert outcomes(results) == outcomes(by_backend[0])
    # Within a partition a customer's conversations come in time order.
    stamps = {c.id: c.turns[0].timestamp for c in data}
    customer = {c.id: c.customer_id for c in data}
    seen: dict[str | None, datetime] = {}
    for r in by_backend[0]:
        when = stamps[r.id]
        assert when is not None
        assert seen.get(customer[r.id], when) <= when
        seen[customer[r.id]] = when


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(24)), partitions=st.integers(1, 6), workers=st.integers(1, 2))
def test_history_does_not_depend_on_input_order_or_partitions(
    order: list[int], partitions: int, workers: int
) -> None:
    data = with_customers(24)
    shuffled = [data[i] for i in order]
    results = history_run(shuffled, workers=workers, partitions=partitions)
    assert {r.id: r.escalated for r in results} == expected_repeats(data)
    by_id = {r.id: r.decisions for r in results}
    reference = {r.id: r.decisions for r in history_run(data, workers=1, partitions=3)}
    assert by_id == reference


def test_compare_sweep_and_tune_agree_across_backends(cluster: None) -> None:
    data = with_customers()
    answers = []
    for options in ({"workers": 1}, {"workers": 2}, {"backend": "ray", "workers": 2}):
        comparison = compare(
            "dialogue_only",
            "baseline_never",
            lambda: data,
            affect=None,
            chunk_size=3,
            shard_size=6,
            **options,
        )
        runner = Runner(
            "dialogue_only", affect=None, keep_signals=True, chunk_size=3, shard_size=6, **options
        )
        kept = collect(runner.run(data))[0]
        _, points = sweep(runner.policy, kept, "bot-stuck", [1, 2, 3])
        tuned = Runner(
            "dialogue_only", affect=None, keep_signals="all", chunk_size=3, shard_size=6, **options
        )
        features = features_from_results(tuned.run(data))
        answers.append(
            (
                comparison.to_dict(),
                [(p.value, p.metrics) for p in points],
                features.names,
                features.values.tobytes(),
                features.ids,
                features.labels.tolist(),
                features.label_turn.tolist(),
            )
        )
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]


def test_features_from_a_replay_equal_extract_features() -> None:
    from escalate.engine import Engine

    data = with_customers()
    engine = Engine.from_policy("dialogue_only", affect=None, history="memory://")
    direct = extract_features(data, engine)
    replayed = features_from_results(
        Runner("dialogue_only", affect=None, workers=1, keep_signals="all").run(data)
    )
    assert direct.names == replayed.names
    assert direct.values.tobytes() == replayed.values.tobytes()
    assert (direct.ids, direct.labels.tolist(), direct.label_turn.tolist()) == (
        replayed.ids,
        replayed.labels.tolist(),
        replayed.label_turn.tolist(),
    )


def write_archive(folder: Path, data: list[Conversation]) -> None:
    """Three files: plain JSON Lines, gzip JSON Lines, and gzip CSV (one turn per row)."""
    folder.mkdir(parents=True, exist_ok=True)
    third = len(data) // 3
    lines = [c.model_dump_json() for c in data]
    (folder / "a.jsonl").write_text("\n".join(lines[:third]) + "\n{broken\n")
    (folder / "b.jsonl.gz").write_bytes(gzip.compress("\n".join(lines[third : 2 * third]).encode()))
    rows = ["conversation_id,customer_id,role,text,event,timestamp,label,label_turn"]
    for c in data[2 * third :]:
        for k, t in enumerate(c.turns):
            label = "" if c.label is None or k else str(c.label.escalate).lower()
            at = "" if c.label is None or c.label.turn is None or k else str(c.label.turn)
            stamp = t.timestamp.isoformat() if t.timestamp else ""
            rows.append(
                f"{c.id},{c.customer_id},{t.role},{(t.text or '').replace(',', ';')},"
                f"{t.event or ''},{stamp},{label},{at}"
            )
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "c.csv.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))


def test_sharded_inputs_stream_from_a_folder(tmp_path: Path, cluster: None) -> None:
    data = with_customers()
    write_archive(tmp_path / "archive", data)
    source = Inputs(tmp_path / "archive")
    assert [p.name for p in source.files] == ["a.jsonl", "b.jsonl.gz", "c.csv.gz"]
    local, metrics = run(source, workers=2)
    on_ray, ray_metrics = run(Inputs(tmp_path / "archive"), backend="ray", workers=2)
    assert outcomes(on_ray) == outcomes(local)
    assert ray_metrics == metrics
    assert metrics["conversations"] == len(data) and metrics["rejected"] == 1
    assert source.bytes_read == source.total_bytes
    assert [p.name for p in Inputs(str(tmp_path / "archive" / "*.jsonl*")).files] == [
        "a.jsonl",
        "b.jsonl.gz",
    ]


def test_a_dying_worker_is_retried_and_nothing_counts_twice(tmp_path: Path, cluster: None) -> None:
    from tests.replay.dying import dying_affect

    data = with_customers()
    marked = Conversation(id="dies", turns=[Turn(role="user", text=f"die once {tmp_path}/m")])
    data.insert(len(data) // 2, marked)
    reference = None
    for options, marker in (({"workers": 2}, "pool"), ({"backend": "ray", "workers": 2}, "ray")):
        text = f"die once {tmp_path}/{marker}"
        batch = [
            c if c.id != "dies" else c.model_copy(update={"turns": [Turn(role="user", text=text)]})
            for c in data
        ]
        runner = Runner("default", affect=dying_affect, chunk_size=3, shard_size=6, **options)
        results, _ = collect(runner.run(batch))
        assert (tmp_path / marker).exists()  # it did die once
        assert [r.id for r in results] == [c.id for c in data]  # each once, in order
        got = [(r.id, [(d.action, d.rule) for d in r.decisions]) for r in results]
        if reference is None:
            reference = got
            assert runner.retries == 1  # the pool was replaced once
        assert got == reference


KILL_AT_HALF = textwrap.dedent(
    """
    import os, sys
    from escalate.replay import Inputs, Runner
    seen = 0
    runner = Runner("dialogue_only", affect=None, workers=1, chunk_size=3, shard_size=6,
                    checkpoint=sys.argv[2])
    for item in runner.run(Inputs(sys.argv[1])):
        seen += 1
        if seen == int(sys.argv[3]):
            os._exit(9)  # killed mid-run: no cleanup, no flush
    """
)


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_a_run_killed_at_half_resumes_with_the_same_metrics(
    tmp_path: Path, backend: str, cluster: None
) -> None:
    data = with_customers()
    write_archive(tmp_path / "archive", data)
    whole, metrics = run(Inputs(tmp_path / "archive"), workers=1)
    half = (len(data) + 1) // 2
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KILL_AT_HALF,
            str(tmp_path / "archive"),
            str(tmp_path / "ckpt"),
            str(half),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    finished = sorted((tmp_path / "ckpt").glob("shard-*.jsonl.gz"))
    assert 0 < len(finished) < (len(data) + 1 + 5) // 6
    options: dict[str, Any] = (
        {"workers": 2} if backend == "local" else {"backend": "ray", "workers": 2}
    )
    runner = Runner(
        "dialogue_only",
        affect=None,
        chunk_size=3,
        shard_size=6,
        checkpoint=tmp_path / "ckpt",
        **options,
    )
    results, errors = collect(runner.run(Inputs(tmp_path / "archive")))
    assert outcomes(results) == outcomes(whole)
    assert compute_metrics(results, rejected=len(errors)) == metrics
    # A folder of another run is refused, never mixed in.
    with pytest.raises(Exception, match="another run"):
        list(
            Runner("baseline_never", affect=None, checkpoint=tmp_path / "ckpt").run(
                Inputs(tmp_path / "archive")
            )
        )


def test_cli_cluster_and_resume(tmp_path: Path, cluster: None) -> None:
    from typer.testing import CliRunner

    from escalate.cli import app

    data = with_customers()
    write_archive(tmp_path / "archive", data)
    cli = CliRunner()
    outputs = []
    for extra in (
        [],
        ["--cluster", "ray"],
        ["--resume", str(tmp_path / "ck")],
        ["--resume", str(tmp_path / "ck")],
    ):
        done = cli.invoke(
            app,
            [
                "replay",
                str(tmp_path / "archive"),
                "--policy",
                "dialogue_only",
                "--no-affect",
                "--workers",
                "2",
                "--no-progress",
                "--json",
                str(tmp_path / "m.json"),
                *extra,
            ],
        )
        assert done.exit_code == 1, done.output  # the broken line
        m = json.loads((tmp_path / "m.json").read_text())
        m.pop("seconds")
        outputs.append(m)
    assert outputs[1] == outputs[0] == outputs[2] == outputs[3]
    assert outputs[0]["conversations"] == len(data)


def test_the_progress_bar_counts_against_the_input_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = with_customers()
    write_archive(tmp_path / "archive", data)
    source = Inputs(tmp_path / "archive")
    shown, _ = run(source, workers=1, progress=True)
    quiet, _ = run(Inputs(tmp_path / "archive"), workers=1, progress=False)
    assert outcomes(shown) == outcomes(quiet)
    screen = capsys.readouterr().err
    assert "100%" in screen and f"{len(data) + 1:,} conversations" in screen
