"""Domains and leave-one-domain-out tuning: does a learned score transfer?"""

from __future__ import annotations

import io
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from escalate.cli.tune import tune as tune_command
from escalate.engine import Engine
from escalate.models import Conversation, Label, Turn
from escalate.policy import load_policy, parse_policy
from escalate.replay.features import TurnFeatures, extract_features
from escalate.replay.readers import iter_csv, iter_jsonl, open_conversations
from escalate.replay.tune import (
    DomainFigures,
    TuneWarning,
    fit_score,
    tuned_policy_text,
)

# ---------------------------------------------------------------------------------------
# Hand-built features: two signals, a base policy score, two domains
# ---------------------------------------------------------------------------------------


def two_domains(
    *, reversed_in_bank: bool, n: int = 240, seed: int = 0, base_knows_bank: bool = True
) -> TurnFeatures:
    """Conversations of "shop" and "bank" (half each), three user turns apiece.

    ``dialogue.failures`` rises in the conversations that needed a person in the shop; in the
    bank it rises in the ones that did not when ``reversed_in_bank`` (else as in the
    shop). ``dialogue.bot_turns`` is noise. The base policy's own escalation score follows the
    label in the bank when ``base_knows_bank`` and is noise elsewhere.
    """
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    domains = tuple("shop" if k < n // 2 else "bank" for k in range(n))
    rows, conv, user_turn, base = [], [], [], []
    for k in range(n):
        bank = domains[k] == "bank"
        direction = -1.0 if bank and reversed_in_bank else 1.0
        for u in range(3):
            signal = direction * (1.5 if labels[k] else 0.0) * u / 2 + rng.normal(0, 0.5)
            rows.append([signal + 2.0, rng.normal()])
            conv.append(k)
            user_turn.append(u)
            informed = bank and base_knows_bank
            base.append((1.0 if labels[k] else -1.0) * informed + rng.normal(0, 0.6) - 0.5)
    return TurnFeatures(
        names=("dialogue.failures", "dialogue.bot_turns"),
        values=np.asarray(rows),
        conversation=np.asarray(conv),
        user_turn=np.asarray(user_turn),
        ids=tuple(f"c{k}" for k in range(n)),
        labels=labels,
        label_turn=np.full(n, -1),
        domains=domains,
        base_score=np.asarray(base),
        base_escalated=np.zeros(n, dtype=bool),
    )


def fit_quietly(features: TurnFeatures, **options: object) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuned = fit_score(features, folds=3, **options)  # type: ignore[arg-type]
    return tuned, [str(w.message) for w in caught if issubclass(w.category, TuneWarning)]


def test_a_reversed_signal_is_held_out_and_warned_about() -> None:
    features = two_domains(reversed_in_bank=True)
    tuned, messages = fit_quietly(features, target_rate=0.3)
    lodo = {d.domain: d for d in tuned.cv.domains}  # type: ignore[attr-defined]
    assert list(lodo) == ["shop", "bank"]
    bank = lodo["bank"]
    assert bank.conversations == 120 and bank.positives == int(features.labels[120:].sum())
    # fitted on the shop alone, the score ranks the bank backwards; the base policy does not
    assert bank.roc_auc is not None and bank.roc_auc < 0.4
    assert bank.base_roc_auc is not None and bank.base_roc_auc > 0.8
    assert bank.signals and "dialogue.failures" in bank.signals
    assert bank.threshold is not None and bank.escalation_rate is not None
    assert any(
        "'bank'" in m
        and "worse than the base policy" in m
        and f"{bank.roc_auc:.3f}" in m
        and f"{bank.base_roc_auc:.3f}" in m
        for m in messages
    )
    assert any("'bank'" in m and "worse than chance" in m for m in messages)
    # pooled, the base policy ranks the conversations better too: said first
    cv = tuned.cv  # type: ignore[attr-defined]
    assert cv.base_roc_auc is not None and cv.roc_auc < cv.base_roc_auc
    assert len(cv.problems) == 1 and "worse than the base policy on folds" in cv.problems[0]
    assert messages == [*cv.problems, *(m for d in cv.domains for m in d.problems)]
    assert cv.as_dict()["warnings"] == cv.problems
    figures = tuned.cv.as_dict()["leave_one_domain_out"]  # type: ignore[attr-defined]
    assert [f["domain"] for f in figures] == ["shop", "bank"]
    assert figures[1]["warnings"] == list(bank.problems)
    json.dumps(figures)  # plain data


def test_a_signal_that_transfers_raises_no_warning() -> None:
    features = two_domains(reversed_in_bank=False, base_knows_bank=False)
    tuned, messages = fit_quietly(features, target_rate=0.3)
    assert messages == []
    cv = tuned.cv  # type: ignore[attr-defined]
    assert cv.base_roc_auc is not None and cv.roc_auc > cv.base_roc_auc and cv.problems == []
    for d in tuned.cv.domains:  # type: ignore[attr-defined]
        assert d.roc_auc is not None and d.roc_auc > 0.8
        assert d.base_roc_auc is not None and d.roc_auc > d.base_roc_auc
        assert d.problems == ()
        # the threshold was chosen on the other domain at the target rate
        assert d.escalation_rate is not None and abs(d.escalation_rate - 0.3) < 0.15


def test_the_held_out_domain_is_never_trained_on() -> None:
    """A domain's figures do not depend on its own labels."""
    features = two_domains(reversed_in_bank=True)
    tuned, _ = fit_quietly(features, target_rate=0.3)
    flipped_labels = features.labels.copy()
    flipped_labels[120:] = ~flipped_labels[120:]
    flipped = TurnFeatures(
        **{
            **{f: getattr(features, f) for f in features.__dataclass_fields__},
            "labels": flipped_labels,
        }
    )
    again, _ = fit_quietly(flipped, target_rate=0.3)
    bank, bank_again = tuned.cv.domains[1], again.cv.domains[1]  # type: ignore[attr-defined]
    assert bank_again.threshold == bank.threshold and bank_again.signals == bank.signals
    assert bank_again.roc_auc == pytest.approx(1 - bank.roc_auc)


def test_one_domain_or_none_changes_nothing() -> None:
    features = two_domains(reversed_in_bank=True)
    plain = features.with_domains(())
    one = features.with_domains(["shop"] * features.conversations)
    a, messages = fit_quietly(plain)
    b, _ = fit_quietly(one)
    assert a.cv.domains == () and b.cv.domains == ()  # type: ignore[attr-defined]
    assert messages == a.cv.problems  # type: ignore[attr-defined]  # no domain to warn about
    assert a.spec == b.spec and a.threshold == b.threshold  # type: ignore[attr-defined]
    assert a.cv.as_dict() == b.cv.as_dict()  # type: ignore[attr-defined]
    assert a.cv.as_dict()["leave_one_domain_out"] == []  # type: ignore[attr-defined]
    off, _ = fit_quietly(features, leave_one_domain_out=False)
    assert off.cv.domains == () and off.spec == a.spec  # type: ignore[attr-defined]


def test_a_domain_the_others_cannot_train_for_is_noted_not_held_out() -> None:
    features = two_domains(reversed_in_bank=False, n=240)
    # a third, tiny domain: the other two can train for it; it cannot train for them
    domains = list(features.domains)
    domains[:215] = ["big"] * 215
    tuned, _ = fit_quietly(features.with_domains(domains), target_rate=0.3)
    lodo = {d.domain: d for d in tuned.cv.domains}  # type: ignore[attr-defined]
    assert lodo["big"].note.startswith("not held out") and lodo["big"].roc_auc is None
    assert lodo["bank"].roc_auc is not None and not lodo["bank"].note


def test_the_written_policy_reports_each_domain_and_its_warning() -> None:
    features = two_domains(reversed_in_bank=True)
    tuned, _ = fit_quietly(features, target_rate=0.3)
    base = load_policy("dialogue_only", affect=False)
    text = tuned_policy_text(tuned, base)  # type: ignore[arg-type]
    head = text.split("version: 1")[0]
    assert "# Leave-one-domain-out" in head
    assert "#   bank (120 conversations" in head and "#   shop (120 conversations" in head
    assert "#     WARNING: the tuned score ranks it worse than the base policy" in head
    parse_policy(text, affect=False)
    # a domain name cannot break out of its comment line
    odd = features.with_domains(["a\nrules: [x]\x00"] * 120 + ["b\u2028c"] * 120)
    tuned, _ = fit_quietly(odd, target_rate=0.3)
    text = tuned_policy_text(tuned, base)  # type: ignore[arg-type]
    assert "#   a?rules: [x]? (120 conversations" in text and "#   b?c (120" in text
    assert [r.id for r in parse_policy(text, affect=False).rules] == ["asked-again", "learned"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    split=st.integers(60, 180),
    names=st.lists(st.text("abcxyz", min_size=1, max_size=4), min_size=2, max_size=2, unique=True),
)
def test_domain_figures_are_consistent(seed: int, split: int, names: list[str]) -> None:
    features = two_domains(reversed_in_bank=bool(seed % 2), seed=seed)
    domains = [names[0] if k < split else names[1] for k in range(features.conversations)]
    tuned, messages = fit_quietly(features.with_domains(domains))
    lodo = tuned.cv.domains  # type: ignore[attr-defined]
    assert [d.domain for d in lodo] == names
    assert sum(d.conversations for d in lodo) == features.conversations
    for d in lodo:
        warned = [m for m in messages if f"{d.domain!r}" in m]
        assert tuple(warned) == d.problems
        if d.roc_auc is not None:
            assert 0.0 <= d.roc_auc <= 1.0
            worse = d.base_roc_auc is not None and d.roc_auc < d.base_roc_auc
            assert bool(d.problems) == (worse or d.roc_auc < 0.5)


def test_problems_by_hand() -> None:
    assert DomainFigures("a", 100, 10, roc_auc=0.7, base_roc_auc=0.6).problems == ()
    assert len(DomainFigures("a", 100, 10, roc_auc=0.45, base_roc_auc=0.4).problems) == 1
    assert len(DomainFigures("a", 100, 10, roc_auc=0.45, base_roc_auc=0.6).problems) == 2
    assert DomainFigures("a", 100, 10, roc_auc=None, base_roc_auc=0.6).problems == ()


# ---------------------------------------------------------------------------------------
# Domains in data: the model, the readers, the features
# ---------------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=100))
def test_domain_round_trips_through_json_lines(domain: str) -> None:
    c = Conversation(id="c1", domain=domain, turns=[Turn(role="user", text="hi")])
    [record] = iter_jsonl(io.BytesIO(c.model_dump_json().encode()))
    assert record.conversation is not None and record.conversation.domain == domain


@given(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
        min_size=1,
        max_size=100,
    )
)
def test_domain_round_trips_through_csv(domain: str) -> None:
    out = io.StringIO()
    import csv

    writer = csv.writer(out)
    writer.writerow(["conversation_id", "role", "text", "domain"])
    writer.writerow(["c1", "user", "hi", domain])
    writer.writerow(["c1", "bot", "hello", ""])
    writer.writerow(["c2", "user", "hi", ""])
    records = list(iter_csv(io.BytesIO(out.getvalue().encode())))
    assert [r.conversation.domain for r in records if r.conversation] == [domain, None]


def test_a_renamed_domain_column_and_a_bad_domain() -> None:
    data = b"chat,who,msg,market\nc1,user,hi,uk\n"
    [r] = open_conversations(
        io.BytesIO(data), "csv", conversation_id="chat", role="who", text="msg", domain="market"
    )
    assert r.conversation is not None and r.conversation.domain == "uk"
    bad = json.dumps({"id": "c", "domain": "", "turns": [{"role": "user", "text": "x"}]})
    [r] = iter_jsonl(io.BytesIO(bad.encode()))
    assert r.error is not None and r.error.field == "domain"


WORDS = ["order", "refund", "parcel", "address", "invoice", "account", "delivery", "card"]


def conversations(
    n: int, seed: int, *, reversed_: bool, domain: str | None = None
) -> list[Conversation]:
    """Fallbacks mark the conversations that needed a person, or (``reversed_``) the ones
    that did not."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bad = rng.random() < 0.3
        failing = bad != reversed_
        turns: list[Turn] = []
        for u in range(4):
            words = " ".join(rng.sample(WORDS, 3))
            turns.append(Turn(role="user", text=f"{words} {u} about order {seed}-{i}"))
            fallback = rng.random() < (0.6 if failing and u >= 1 else 0.05)
            turns.append(
                Turn(role="bot", event="fallback")
                if fallback
                else Turn(role="bot", text=f"here is your {words} {u} for order {seed}-{i}")
            )
        out.append(
            Conversation(id=f"{seed}-{i}", domain=domain, turns=turns, label=Label(escalate=bad))
        )
    return out


def test_features_carry_domains_and_the_base_policy(tmp_path: Path) -> None:
    engine = Engine.from_policy("dialogue_only", affect=None, history="memory://")
    data = conversations(30, 1, reversed_=False, domain="shop") + conversations(
        30, 2, reversed_=False
    )
    features = extract_features(data, engine)
    assert features.domains == ("shop",) * 30 + (None,) * 30
    assert features.domain_names == ("shop",)
    assert features.base_score is not None and features.base_score.shape == (240,)
    assert features.base_escalated is not None and features.base_escalated.any()
    # a conversation escalated by bot-stuck has a non-negative base score at some turn
    top = np.full(60, -np.inf)
    np.maximum.at(top, features.conversation, np.nan_to_num(features.base_score, nan=-np.inf))
    assert np.all(top[features.base_escalated] >= 0)
    loaded = TurnFeatures.load(features.save(tmp_path / "f.npz"))
    assert loaded.domains == features.domains
    assert loaded.base_escalated is not None and loaded.base_score is not None
    assert np.array_equal(loaded.base_escalated, features.base_escalated)
    assert np.array_equal(np.isnan(loaded.base_score), np.isnan(features.base_score))
    sub = features.subset(np.asarray([35, 2]))
    assert sub.domains == (None, "shop") and sub.base_escalated is not None
    assert sub.base_score is not None and sub.base_score.shape == (8,)
    # files saved before domains were kept still load
    old = tmp_path / "old.npz"
    np.savez(
        old,
        **{
            k: v
            for k, v in np.load(tmp_path / "f.npz").items()
            if k in ("names", "values", "conversation", "user_turn", "ids", "labels", "label_turn")
        },
    )
    legacy = TurnFeatures.load(old)
    assert legacy.domains == () and legacy.base_score is None and legacy.domain(0) is None


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------


def run_tune(  # type: ignore[type-arg]
    tmp_path: Path, files: dict[str, list[Conversation]], policy: str = "dialogue_only"
) -> tuple[str, dict]:
    app = typer.Typer()
    app.command()(tune_command)
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_text("\n".join(c.model_dump_json(exclude_none=True) for c in data))
        paths.append(str(path))
    figures = tmp_path / "cv.json"
    result = CliRunner().invoke(
        app,
        [
            *paths,
            "--policy",
            policy,
            "--no-affect",
            "--out",
            str(tmp_path / "t.yaml"),
            "--folds",
            "3",
            "--target-rate",
            "0.3",
            "--json",
            str(figures),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads(figures.read_text())


def test_cli_domains_from_file_names_and_the_warning(tmp_path: Path) -> None:
    output, figures = run_tune(
        tmp_path,
        {
            "shop.jsonl": conversations(120, 1, reversed_=False),
            "bank.jsonl": conversations(120, 2, reversed_=True),
        },
    )
    lodo = {d["domain"]: d for d in figures["leave_one_domain_out"]}
    assert list(lodo) == ["shop", "bank"]
    assert lodo["bank"]["roc_auc"] < 0.5
    assert "leave-one-domain-out" in output
    assert "warning: held-out domain 'bank'" in output and "worse than chance" in output
    policy = (tmp_path / "t.yaml").read_text()
    assert "#   bank (120 conversations" in policy and "WARNING" in policy


def test_cli_a_score_that_transfers_and_named_domains_win(tmp_path: Path) -> None:
    shop = conversations(120, 1, reversed_=False)
    mixed = conversations(60, 2, reversed_=False, domain="web") + conversations(
        60, 3, reversed_=False, domain="app"
    )
    # the base reads requests for a person only: the fitted score, on fallbacks, beats it
    output, figures = run_tune(
        tmp_path, {"shop.jsonl": shop, "other.jsonl": mixed}, policy="baseline_keyword"
    )
    lodo = {d["domain"]: d for d in figures["leave_one_domain_out"]}
    assert set(lodo) == {"shop", "web", "app"}  # a conversation's own domain wins over the file's
    assert all(d["roc_auc"] > 0.7 for d in lodo.values())
    assert all(d["warnings"] == [] for d in lodo.values()) and "warning:" not in output


def test_cli_one_file_without_domains_is_as_before(tmp_path: Path) -> None:
    output, figures = run_tune(tmp_path, {"all.jsonl": conversations(120, 1, reversed_=False)})
    assert figures["leave_one_domain_out"] == []
    assert "leave-one-domain-out" not in output


def test_the_command_defaults_are_the_library_defaults() -> None:
    import importlib
    import inspect

    cli = importlib.import_module("escalate.cli.tune")
    lib = importlib.import_module("escalate.replay.tune")

    assert (cli.DEFAULT_L2, cli.DEFAULT_MAX_FEATURES) == (lib.DEFAULT_L2, lib.DEFAULT_MAX_FEATURES)
    parameters = inspect.signature(fit_score).parameters
    assert parameters["l2"].default == lib.DEFAULT_L2 == 30.0
    assert parameters["max_features"].default == lib.DEFAULT_MAX_FEATURES == 6


def test_a_file_names_its_domain_without_its_extensions() -> None:
    from escalate.cli.tune import _stem

    assert _stem(Path("data/shop.jsonl")) == "shop"
    assert _stem(Path("bank.csv.gz")) == "bank"
    assert _stem(Path("uss_mwoz_dev.jsonl")) == "uss_mwoz_dev"
    assert _stem(Path("x" * 300 + ".jsonl")) == "x" * 100  # a domain holds 100 characters
