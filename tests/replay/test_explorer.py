"""The conversation explorer: what it writes, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright
from tests.replay.conversations import corpus, make
from typer.testing import CliRunner

from escalate.cli import app
from escalate.models import Conversation
from escalate.replay.explorer import ExplorerWriter, conversation_record
from escalate.replay.runner import Runner, collect

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
cli = CliRunner()


def conversations() -> list[Conversation]:
    """The replay corpus, plus a message that tries to break out of the page."""
    return [
        *corpus(),
        make("sneaky", ["</script><script>alert(1)</script> where is my parcel"], escalate=False),
        make(
            "parcel-late",
            ["my parcel is late", "the parcel, where is it", "hello?"],
            escalate=True,
            turn=4,
            fallbacks=True,
        ),
        make("missed", ["I was charged twice", "can you check my bill"], escalate=True, turn=2),
    ]


def replayed() -> list[tuple[Conversation, Any]]:
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    results, errors = collect(runner.run(conversations()))
    assert errors == []
    return list(zip(conversations(), results, strict=True))


def load_script(path: Path) -> Any:
    """The data a shard script hands to the page."""
    text = path.read_text(encoding="utf-8")
    found = re.fullmatch(r"ESCALATE_\w+\((?:\d+,)?(.*)\);\n", text, flags=re.DOTALL)
    assert found, text[:200]
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_records_explain_each_decision_with_its_reasons() -> None:
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    pairs = replayed()
    stuck = conversation_record(runner.policy, *pairs[2])
    assert stuck["outcome"] == "TP" and stuck["label_turn"] == 1 and stuck["decision"] == 2
    turn, action, rule, guard, reasons = stuck["decisions"][2]
    assert (turn, action, rule, guard) == (4, "offer_human", "bot-stuck", None)
    assert reasons == ["bot-stuck: dialogue.consecutive_fallbacks=2 >= 2"]
    assert stuck["signals"]["dialogue.consecutive_fallbacks"] == [0.0, 1.0, 2.0]
    assert len(stuck["signals"]["score"]) == 3
    fine = conversation_record(runner.policy, *pairs[0])
    assert fine["outcome"] == "TN" and fine["decision"] is None
    assert [t[0] for t in fine["turns"]] == ["user", "bot", "user", "bot"]


def test_the_list_and_shards_hold_every_conversation(tmp_path: Path) -> None:
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    pairs = replayed()
    with ExplorerWriter(tmp_path, runner.policy, shard_size=3, text_shard_size=4) as explorer:
        for conversation, result in pairs:
            explorer.add(conversation, result)
    index = load_script(tmp_path / "data" / "index.js")
    assert index["count"] == len(pairs) == len(index["id"]) == len(index["outcome"])
    assert index["id"] == [c.id for c, _ in pairs]
    assert index["outcome"][:3] == "tpp"  # fine: TN, asks: TP, stuck: TP
    shards = sorted((tmp_path / "data").glob("conv-*.js"))
    texts = sorted((tmp_path / "data").glob("text-*.js"))
    assert len(shards) == 4 and len(texts) == 3  # 11 conversations
    records = [r for shard in shards for r in load_script(shard)]
    assert [r["id"] for r in records] == index["id"]
    sneaky = (tmp_path / "data" / "conv-00002.js").read_text()
    assert "</script>" not in sneaky and "<\\/script>" in sneaky
    assert (tmp_path / "explorer" / "explorer.js").is_file()
    with pytest.raises(ValueError, match="result of"):
        ExplorerWriter(tmp_path / "x", runner.policy).add(pairs[0][0], pairs[1][1])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    data = folder / "chats.jsonl"
    data.write_text("\n".join(c.model_dump_json() for c in conversations()) + "\n")
    out = folder / "report"
    result = cli.invoke(app, ["replay", str(data), "--policy", "dialogue_only", "--no-affect",
                              "--workers", "1", "--report", str(out), "--json", str(folder / "m.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "conversations.html" in (out / "index.html").read_text()
    return out / "conversations.html"


@pytest.fixture(scope="module")
def browser_page() -> Iterator[tuple[Page, list[str]]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        browser.close()


def shown(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#list tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
    )


def test_the_page_loads_filters_work_and_a_conversation_opens(
    report: Path, browser_page: tuple[Page, list[str]]
) -> None:
    page, errors = browser_page
    page.goto(report.as_uri())
    page.wait_for_function("document.body.dataset.ready === '1'")
    assert len(shown(page)) == len(conversations())
    assert page.inner_text("#status") == f"{len(conversations())} of {len(conversations())} shown"

    page.select_option("#outcome", "n")  # false negatives
    assert shown(page) == ["missed"]
    assert page.eval_on_selector_all("#list tbody .badge", "b => b.map(x => x.textContent)") == [
        "FN"
    ]
    page.select_option("#outcome", "")

    page.select_option("#rule", label="bot-stuck")
    assert set(shown(page)) == {"stuck", "parcel-late"}
    page.select_option("#rule", "")

    page.fill("#search", "parcel")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('3 of')")
    assert set(shown(page)) == {"fine", "sneaky", "parcel-late"}
    page.fill("#search", "")
    page.wait_for_function(
        f"document.getElementById('status').textContent.startsWith('{len(conversations())} of')"
    )

    page.click("#list tbody tr:has-text('parcel-late')")
    page.wait_for_selector("#detail-view svg[data-signal='score']")
    detail = page.inner_text("#detail-view")
    assert "Conversation parcel-late" in detail and "needed a person from turn 4" in detail
    assert "bot-stuck: dialogue.consecutive_fallbacks=2 >= 2" in detail
    assert page.locator(".transcript > li").count() == 6
    assert page.locator(".transcript > li.decided").get_attribute("data-turn") == "4"
    assert (
        page.locator("svg[data-signal='dialogue.consecutive_fallbacks'] .decision-mark").count()
        == 1
    )
    page.go_back()
    page.wait_for_selector("#list-view:not([hidden])")
    assert page.locator("#list tbody tr").count() == len(conversations())
    assert errors == []


def test_a_sneaky_message_stays_text(report: Path, browser_page: tuple[Page, list[str]]) -> None:
    page, errors = browser_page
    page.goto(report.as_uri() + "#c/8")
    page.wait_for_selector("#detail-view .transcript")
    assert "</script><script>alert(1)</script>" in page.inner_text("#detail-view .transcript")
    assert errors == []
