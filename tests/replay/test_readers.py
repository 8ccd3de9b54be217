import io
import json

from hypothesis import given
from hypothesis import strategies as st

from escalate.models import MAX_TEXT_CHARS
from escalate.replay.readers import iter_jsonl, read_jsonl


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


GOOD = {"id": "ok", "turns": [{"role": "user", "text": "hello"}]}


def test_bad_records_name_line_and_field_and_the_rest_survive() -> None:
    data = b"".join(
        [
            line(GOOD),
            b"{not json\n",
            line({"id": "r", "turns": [{"role": "customer", "text": "hi"}]}),
            line({"id": "e", "turns": [{"role": "user"}]}),
            line({"id": "big", "turns": [{"role": "user", "text": "x" * 1_048_576}]}),
            b'{"id": "u", "turns": [{"role": "user", "text": "caf\xe9"}]}\n',
            b"\n",
            b"[1, 2]\n",
            line({**GOOD, "id": "ok2"}),
        ]
    )
    records = list(iter_jsonl(io.BytesIO(data)))
    ok = [r.conversation.id for r in records if r.conversation]
    assert ok == ["ok", "ok2"]
    errors = {r.line: str(r.error) for r in records if r.error}
    assert set(errors) == {2, 3, 4, 5, 6, 8}
    assert errors[2].startswith("line 2: not valid JSON")
    assert errors[3].startswith("line 3: turns.0.role:") and "'customer'" in errors[3]
    assert errors[4].startswith("line 4: turns.0:") and "an intent or an event" in errors[4]
    assert errors[5].startswith(
        f"line 5: turns.0.text: String should have at most {MAX_TEXT_CHARS}"
    )
    assert "got 1,048,576" in errors[5] and "conversation 'big'" in errors[5]
    assert errors[6] == "line 6: not valid UTF-8 (at byte offset 51)"
    assert errors[8] == "line 8: expected a JSON object, got list"
    assert records[-1].line == 9


def test_read_jsonl_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.jsonl"
    path.write_bytes(line(GOOD) * 3)
    assert [r.line for r in read_jsonl(path)] == [1, 2, 3]


@given(st.lists(st.one_of(st.binary(max_size=60), st.just(line(GOOD).strip())), max_size=20))
def test_every_nonblank_line_is_counted_once(lines: list[bytes]) -> None:
    lines = [ln.replace(b"\n", b" ").replace(b"\r", b" ") for ln in lines]
    data = b"\n".join(lines) + b"\n"
    records = list(iter_jsonl(io.BytesIO(data)))
    expected = [i for i, ln in enumerate(lines, start=1) if ln.strip()]
    assert [r.line for r in records] == expected
    assert all((r.conversation is None) != (r.error is None) for r in records)


def test_json_that_breaks_the_parser_is_one_bad_line() -> None:
    deep = b"[" * 100_000
    huge = b'{"id": "n", "turns": [], "x": ' + b"7" * 5_000 + b"}"
    records = list(iter_jsonl(io.BytesIO(deep + b"\n" + huge + b"\n" + line(GOOD))))
    assert [r.line for r in records] == [1, 2, 3]
    assert str(records[0].error) == "line 1: not valid JSON: arrays or objects nested too deeply"
    assert str(records[1].error).startswith("line 2: not valid JSON: Exceeds the limit")
    assert records[2].conversation is not None
