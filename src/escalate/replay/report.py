"""Write a replay's metrics as JSON and as a self-contained HTML report.

The report is one HTML file with its plots inline (PNG, base64), so it can be mailed or
attached to a ticket as is; the same plots are also written beside it as PNG files.
Plots are drawn with matplotlib's Agg backend (no display needed):

* escalations by rule (first escalation per conversation, and every firing);
* timing: first escalation minus labelled turn, in user turns (with labels);
* the sweep of one threshold: deflection against recall, and cost against threshold;
* the confusion summary (escalated or not against the label).

Which threshold the report sweeps, unless told (:func:`report_sweep`): a rule on one of
the policy's learned scores, else the rule that fires most, over distinct thresholds;
a candidate whose curve is flat (no threshold changes a decision) is passed over for
the next. The conversation explorer (:mod:`escalate.replay.explorer`) is written beside
the report and linked from it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from escalate.policy import Policy
from escalate.policy.schema import Costs
from escalate.replay.runner import ConversationResult
from escalate.replay.sweep import SweepPoint, Threshold, sweep, sweep_values, thresholds

__all__ = ["render_html", "report_sweep", "sweep_figure", "write_json", "write_report"]

#: Significant digits of a swept threshold: values that print the same are one value.
_DIGITS = 4

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2430;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #dde3ea;padding-bottom:.3rem}
.meta{color:#5b6675;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #dde3ea;border-radius:8px;padding:.6rem .9rem;min-width:8.5rem}
.card .v{font-size:1.4rem;font-weight:600}.card .k{color:#5b6675;font-size:.8rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #dde3ea;
padding:.3rem .6rem;text-align:right}th{background:#f3f6f9}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eef1f4;border-radius:6px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
@media(max-width:800px){.grid{grid-template-columns:1fr}}
"""


def write_json(metrics: dict[str, Any], path: str | Path) -> Path:
    """Write ``metrics`` as indented JSON (``inf`` and NaN as ``null``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(metrics), indent=2) + "\n", encoding="utf-8")
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def _rules_figure(metrics: dict[str, Any]) -> bytes | None:
    first: dict[str, int] = metrics.get("rules_first") or {}
    every: dict[str, int] = metrics.get("rules_all") or {}
    rules = list(dict.fromkeys([*first, *every]))
    if not rules:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rules) + 1.4))
    ys = list(range(len(rules)))
    ax.barh(
        [y + 0.2 for y in ys],
        [every.get(r, 0) for r in rules],
        0.4,
        label="every firing",
        color="#9db4d3",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [first.get(r, 0) for r in rules],
        0.4,
        label="first escalation",
        color="#2f5d9b",
    )
    ax.set_yticks(ys, rules)
    ax.invert_yaxis()
    ax.set_xlabel("conversations / decisions")
    ax.set_title("Escalations by rule")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _timing_figure(metrics: dict[str, Any]) -> bytes | None:
    timing = metrics.get("timing") or {}
    histogram: dict[str, int] = timing.get("histogram_user_turns") or {}
    if not histogram:
        return None
    plt = _pyplot()
    xs = [int(k) for k in histogram]
    ys = list(histogram.values())
    colours = ["#d98c2b" if x < 0 else "#3c8d5a" if x == 0 else "#c0392b" for x in xs]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar(xs, ys, color=colours)
    ax.axvline(0, color="#1d2430", linewidth=0.8)
    ax.set_xlabel("first escalation − labelled turn (user turns; < 0 early, > 0 late)")
    ax.set_ylabel("conversations")
    ax.set_title("Timing against the labelled turn")
    return _png(fig)


def _confusion_figure(metrics: dict[str, Any]) -> bytes | None:
    confusion = metrics.get("confusion")
    if not confusion:
        return None
    plt = _pyplot()
    grid = [[confusion["tp"], confusion["fn"]], [confusion["fp"], confusion["tn"]]]
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ax.imshow(grid, cmap="Blues")
    total = max(sum(map(sum, grid)), 1)
    top = max(max(map(max, grid)), 1)
    for i in range(2):
        for j in range(2):
            v = grid[i][j]
            ax.text(
                j,
                i,
                f"{v:,}\n{v / total:.1%}",
                ha="center",
                va="center",
                color="white" if v > top / 2 else "#1d2430",
            )
    ax.set_xticks([0, 1], ["escalated", "deflected"])
    ax.set_yticks([0, 1], ["needed a person", "did not"])
    ax.set_title("Confusion summary")
    return _png(fig)


def sweep_figure(threshold: Threshold, points: Sequence[SweepPoint], rule: str) -> bytes:
    """Deflection against recall (left) and cost per 1,000 against threshold (right)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = [p.value for p in points]
    deflection = [p.metrics.get("deflection_rate") for p in points]
    recall = [p.metrics.get("recall") for p in points]
    if any(r is not None for r in recall):
        pairs = [
            (d, r, x)
            for d, r, x in zip(deflection, recall, xs, strict=True)
            if d is not None and r is not None
        ]
        left.plot([p[0] for p in pairs], [p[1] for p in pairs], "o-", color="#2f5d9b")
        for d, r, x in pairs:
            if math.isclose(x, threshold.value):
                left.plot(
                    [d],
                    [r],
                    "o",
                    color="#c0392b",
                    markersize=9,
                    label=f"policy ({threshold.value:g})",
                )
        left.set_xlabel("deflection rate")
        left.set_ylabel("recall (needed a person, got one)")
        left.legend(fontsize=8)
    else:
        left.plot(xs, deflection, "o-", color="#2f5d9b")
        left.set_xlabel(f"{threshold.signal} threshold")
        left.set_ylabel("deflection rate")
    left.set_title(f"Sweep of {rule}: {threshold.signal}")
    costs = [p.metrics.get("costs", {}).get("cost_per_1000") for p in points]
    if any(c is not None for c in costs):
        right.plot(xs, costs, "o-", color="#3c8d5a")
        right.set_ylabel("expected cost per 1,000 conversations")
    else:
        right.plot(xs, [p.metrics.get("escalation_rate") for p in points], "o-", color="#3c8d5a")
        right.set_ylabel("escalation rate (no cost model)")
    right.axvline(threshold.value, color="#c0392b", linewidth=0.8, linestyle="--")
    right.set_xlabel(f"{threshold.signal} threshold")
    right.set_title("Cost against threshold")
    fig.tight_layout()
    return _png(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p class='meta'>{html.escape(alt)}: nothing to plot.</p>"
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def render_html(
    metrics: dict[str, Any],
    *,
    title: str,
    plots: dict[str, bytes | None],
    sweep: tuple[str, Threshold, Sequence[SweepPoint]] | None = None,
    source: str | None = None,
    calibration: dict[str, float] | None = None,
    explorer: str | None = None,
) -> str:
    """The report as one self-contained HTML document; ``explorer`` is the relative link
    to the conversation explorer, when one was written."""
    cards = [
        ("conversations", metrics.get("conversations")),
        ("user turns", metrics.get("user_turns")),
        ("escalated", metrics.get("escalated")),
        ("escalation rate", metrics.get("escalation_rate")),
        ("deflection rate", metrics.get("deflection_rate")),
    ]
    if metrics.get("labelled"):
        cards += [
            (
                k.replace("_", " ").upper() if k.startswith("gt") else k.replace("_", " "),
                metrics.get(k),
            )
            for k in ("precision", "recall", "f1", "roc_auc", "gt_i", "gt_ii", "gt_iii")
        ]
    costs = metrics.get("costs")
    if costs:
        cards.append(("cost per 1,000", costs.get("cost_per_1000")))
    card_html = "".join(
        f"<div class='card'><div class='v'>{_fmt(v)}</div><div class='k'>{html.escape(k)}</div></div>"
        for k, v in cards
    )
    rules_rows = "".join(
        f"<tr><td>{html.escape(r)}</td><td>{_fmt(metrics.get('rules_first', {}).get(r, 0))}</td>"
        f"<td>{_fmt(metrics.get('rules_all', {}).get(r, 0))}</td></tr>"
        for r in dict.fromkeys([*metrics.get("rules_first", {}), *metrics.get("rules_all", {})])
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{html.escape(source or '')} · generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} · {_fmt(metrics.get('rejected', 0))} "
        "record(s) rejected</p>",
        f"<div class='cards'>{card_html}</div>",
        *(
            [
                f"<p><a href='{html.escape(explorer)}'>Explore every conversation</a>: filter by "
                "rule, by outcome and by text, and see why each one escalated or did not.</p>"
            ]
            if explorer
            else []
        ),
        "<h2>Escalations by rule</h2><div class='grid'><div>",
        _img(plots.get("rules"), "escalations by rule"),
        "</div><div><table><tr><th>rule</th><th>first escalation</th><th>every firing</th></tr>",
        rules_rows or "<tr><td colspan='3'>no escalation</td></tr>",
        "</table></div></div>",
    ]
    confusion = metrics.get("confusion")
    if confusion:
        timing = metrics.get("timing", {})
        parts += [
            "<h2>Against the labels</h2><div class='grid'><div>",
            _img(plots.get("confusion"), "confusion summary"),
            "</div><div><table>",
            "<tr><th></th><th>escalated</th><th>deflected</th></tr>",
            f"<tr><td>needed a person</td><td>{_fmt(confusion['tp'])}</td><td>{_fmt(confusion['fn'])}</td></tr>",
            f"<tr><td>did not</td><td>{_fmt(confusion['fp'])}</td><td>{_fmt(confusion['tn'])}</td></tr>",
            "</table><table><tr><th>timing (true positives with a labelled turn)</th><th></th></tr>",
            *(
                f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{_fmt(timing.get(k))}</td></tr>"
                for k in (
                    "count",
                    "early",
                    "on_time",
                    "late",
                    "mean_user_turns",
                    "median_user_turns",
                    "mean_turns",
                    "median_turns",
                )
            ),
            "</table></div></div>",
            "<h2>Timing</h2>",
            _img(plots.get("timing"), "timing histogram"),
        ]
    if sweep is not None:
        rule, threshold, points = sweep
        rows = "".join(
            f"<tr><td>{p.value:.{_DIGITS}g}</td><td>{_fmt(p.metrics.get('escalation_rate'))}</td>"
            f"<td>{_fmt(p.metrics.get('deflection_rate'))}</td><td>{_fmt(p.metrics.get('recall'))}</td>"
            f"<td>{_fmt(p.metrics.get('precision'))}</td>"
            f"<td>{_fmt((p.metrics.get('costs') or {}).get('cost_per_1000'))}</td></tr>"
            for p in points
        )
        parts += [
            f"<h2>Sweep: {html.escape(rule)} on {html.escape(threshold.signal)} "
            f"(policy: {threshold.value:g})</h2>",
            _img(plots.get("sweep"), "sweep curves"),
            "<table><tr><th>threshold</th><th>escalation rate</th><th>deflection rate</th>"
            f"<th>recall</th><th>precision</th><th>cost per 1,000</th></tr>{rows}</table>",
        ]
    if plots.get("reliability") is not None:
        eces = ", ".join(
            f"score.{html.escape(name)}: ECE {_fmt(ece)}"
            for name, ece in (calibration or {}).items()
        )
        parts += [
            "<h2>Calibration</h2>",
            "<p>Each conversation's highest score against the share of conversations in its "
            f"bin that needed a person; on the diagonal, the score is a probability. {eces}</p>",
            _img(plots.get("reliability"), "reliability diagram"),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    metrics: dict[str, Any],
    directory: str | Path,
    *,
    title: str = "Replay report",
    sweep: tuple[str, Threshold, Sequence[SweepPoint]] | None = None,
    source: str | None = None,
    scores: Mapping[str, tuple[Sequence[float], Sequence[bool]]] | None = None,
    explorer: str | Path | None = None,
) -> Path:
    """Write ``index.html`` (self-contained) and the plots as PNG files into ``directory``.

    ``sweep`` is ``(rule id, threshold, points)`` from :func:`~escalate.replay.sweep.sweep`;
    ``scores`` maps a policy score's name to each labelled conversation's highest score
    and label, for the reliability diagram; ``explorer`` is the conversation explorer's
    page (see :class:`~escalate.replay.explorer.ExplorerWriter`), linked from the report.
    Returns the path of ``index.html``.

    Examples
    --------
    >>> import tempfile
    >>> from escalate.replay.metrics import compute_metrics
    >>> path = write_report(compute_metrics([]), tempfile.mkdtemp())
    >>> path.name
    'index.html'
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, bytes | None] = {
        "rules": _rules_figure(metrics),
        "timing": _timing_figure(metrics),
        "confusion": _confusion_figure(metrics),
        "sweep": sweep_figure(sweep[1], sweep[2], sweep[0]) if sweep is not None else None,
        "reliability": None,
    }
    calibration: dict[str, float] = {}
    if scores:
        from escalate.replay.calibration import expected_calibration_error, reliability_figure

        name, (values, labels) = next(iter(scores.items()))
        if len(values) and len(set(labels)) == 2:
            plots["reliability"] = _png(reliability_figure(values, labels, title=f"score.{name}"))
            calibration = {
                n: expected_calibration_error(v, lab) for n, (v, lab) in scores.items() if len(v)
            }
    for name, png in plots.items():
        if png is not None:
            (out / f"{name}.png").write_bytes(png)
    page = out / "index.html"
    page.write_text(
        render_html(
            metrics,
            title=title,
            plots=plots,
            sweep=sweep,
            source=source,
            calibration=calibration,
            explorer=_relative(explorer, out) if explorer is not None else None,
        ),
        encoding="utf-8",
    )
    return page


def _relative(path: str | Path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


def _candidates(policy: Policy, metrics: Mapping[str, Any]) -> list[tuple[str, Threshold, int]]:
    """Thresholds worth sweeping, best first: ``(rule id, threshold, occurrence)``.

    Rules on a learned score (``score.*``) first, then the rules that involve a person
    by how often they fired (every firing; the policy's order breaks ties), each with
    its thresholds in text order.
    """
    fired: Mapping[str, int] = metrics.get("rules_all") or {}
    rules = [r for r in policy.rules if r.action != "continue"]
    if policy.explicit_request is not None:
        rules.append(policy.explicit_request)
    order = {rule.id: i for i, rule in enumerate(rules)}

    def rank(rule: Any) -> tuple[int, int, int]:
        on_score = any(t.signal.startswith("score.") for t in thresholds(rule))
        return (0 if on_score else 1, -fired.get(rule.id, 0), order[rule.id])

    out: list[tuple[str, Threshold, int]] = []
    for rule in sorted(rules, key=rank):
        seen: dict[str, int] = {}
        for threshold in thresholds(rule):
            occurrence = seen.get(threshold.signal, 0)
            seen[threshold.signal] = occurrence + 1
            out.append((rule.id, threshold, occurrence))
    return out


def _distinct(points: Sequence[SweepPoint], current: float) -> list[SweepPoint]:
    """One point per printed threshold (the policy's own value wins its tie)."""
    kept: dict[str, SweepPoint] = {}
    for point in points:
        key = f"{point.value:.{_DIGITS}g}"
        if key not in kept or math.isclose(point.value, current):
            kept[key] = point
    return sorted(kept.values(), key=lambda p: p.value)


def _flat(points: Sequence[SweepPoint]) -> bool:
    return len({p.metrics.get("escalated") for p in points}) <= 1


def report_sweep(
    policy: Policy,
    results: Sequence[ConversationResult],
    metrics: Mapping[str, Any],
    *,
    rule: str | None = None,
    signal: str | None = None,
    costs: Costs | None = None,
) -> tuple[str, Threshold, list[SweepPoint]] | None:
    """The sweep the report shows: ``(rule id, threshold, points)``, or ``None``.

    With ``rule`` (and ``signal`` when the rule has several thresholds), that threshold.
    Otherwise the first non-flat of: a rule on one of the policy's learned scores, then
    the rules that involve a person by how often they fired in ``metrics``; a curve is
    flat when no threshold changes how many conversations escalate. Thresholds are
    distinct as printed (four significant digits). ``results`` come from a replay with
    ``keep_signals=True``.

    Raises
    ------
    ValueError
        ``rule`` or ``signal`` names no threshold of the policy.

    Examples
    --------
    >>> from escalate.models import Conversation, Turn
    >>> from escalate.replay.metrics import compute_metrics
    >>> from escalate.replay.runner import Runner
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    >>> def chat(fallbacks: int) -> Conversation:
    ...     turns = [Turn(role="user", text="help")]
    ...     for j in range(fallbacks):
    ...         turns += [Turn(role="bot", event="fallback"), Turn(role="user", text=f"hello {j}")]
    ...     return Conversation(id=f"c{fallbacks}", turns=turns)
    >>> results = list(runner.run([chat(n) for n in range(4)]))
    >>> rule, threshold, points = report_sweep(runner.policy, results, compute_metrics(results))
    >>> rule, threshold.signal, [p.value for p in points]
    ('bot-stuck', 'dialogue.consecutive_fallbacks', [0.0, 1.0, 2.0, 3.0, 4.0])
    """
    if rule is not None:
        threshold, points = sweep(policy, results, rule, signal=signal, costs=costs)
        return rule, threshold, _distinct(points, threshold.value)
    first: tuple[str, Threshold, list[SweepPoint]] | None = None
    for rule_id, target, occurrence in _candidates(policy, metrics):
        values = (
            None
            if target.signal.startswith("score.")
            else sweep_values(results, target.signal, target.value)
        )
        threshold, points = sweep(
            policy,
            results,
            rule_id,
            values,
            signal=target.signal,
            occurrence=occurrence,
            costs=costs,
        )
        found = (rule_id, threshold, _distinct(points, threshold.value))
        if not _flat(found[2]):
            return found
        first = first or found
    return first
