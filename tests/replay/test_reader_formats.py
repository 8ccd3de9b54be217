import gzip
import io
import json
import zlib
from pathlib import Path

import pytest

from escalate.errors import InputError
from escalate.replay.readers import CsvOptions, iter_csv, open_conversations

CSV = (
    "chat,who,msg,when,label,label_turn,cust\n"
    "c1,user,where is my order,2026-05-01T10:00:00Z,true,2,u9\n"
    "c1,bot,sorry I did not get that,,,,\n"
    'c1,user,"a person, please",,,,\n'
    "c2,user,hi,,false,,\n"
)
OPTIONS = {
    "conversation_id": "chat",
    "role": "who",
    "text": "msg",
    "timestamp": "when",
    "customer_id": "cust",
}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_csv_with_configured_columns(tmp_path: Path) -> None:
    records = list(open_conversations(write(tmp_path / "c.csv", CSV.encode()), **OPTIONS))
    assert [r.line for r in records] == [2, 5]
    c1 = records[0].conversation
    assert c1 is not None and c1.customer_id == "u9" and len(c1.turns) == 3
    assert c1.turns[2].text == "a person, please"
    assert c1.label is not None and c1.label.escalate and c1.label.turn == 2
    assert c1.turns[0].timestamp is not None
    c2 = records[1].conversation
    assert c2 is not None and c2.label is not None and not c2.label.escalate


def test_column_suffix_spelling_and_unknown_option(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", CSV.encode())
    got = list(
        open_conversations(
            path, conversation_id_column="chat", role_column="who", text_column="msg"
        )
    )
    assert [r.conversation.id for r in got if r.conversation] == ["c1", "c2"]
    with pytest.raises(TypeError, match="unknown CSV option"):
        list(open_conversations(path, speaker="who"))


def test_missing_required_column_is_an_error() -> None:
    with pytest.raises(InputError, match="lacks the column"):
        list(iter_csv(io.BytesIO(b"id,text\nc1,hi\n")))


def test_csv_bad_rows_have_line_numbers_and_the_rest_survives() -> None:
    data = (
        b"conversation_id,role,text,label\n"
        b"a,user,hello,\n"
        b",user,orphan,\n"
        b"b,robot,hi,\n"
        b"c,user,fine,maybe\n"
        b"d,user,ok,1\n"
    )
    records = list(iter_csv(io.BytesIO(data)))
    ok = [r.conversation.id for r in records if r.conversation]
    assert ok == ["a", "d"]
    errors = {r.line: str(r.error) for r in records if r.error}
    assert set(errors) == {3, 4, 5}
    assert "conversation id is empty" in errors[3]
    assert errors[4].startswith("line 4: turns.0.role:")
    assert "label" in errors[5] and "'maybe'" in errors[5]


def test_non_contiguous_rows_are_reported_and_skipped() -> None:
    data = (
        b"conversation_id,role,text\na,user,one\nb,user,two\na,user,three\na,bot,four\nc,user,x\n"
    )
    records = list(iter_csv(io.BytesIO(data)))
    assert [(r.line, r.conversation.id if r.conversation else None) for r in records] == [
        (2, "a"),
        (3, "b"),
        (4, None),
        (6, "c"),
    ]
    assert "not contiguous" in str(records[2].error)
    assert len(records[0].conversation.turns) == 1  # type: ignore[union-attr]


def test_gzip_by_extension_and_by_magic_bytes(tmp_path: Path) -> None:
    line = json.dumps({"id": "g", "turns": [{"role": "user", "text": "hi"}]}).encode() + b"\n"
    by_ext = write(tmp_path / "a.jsonl.gz", gzip.compress(line * 2))
    by_magic = write(tmp_path / "archive.data", gzip.compress(line))
    csv_gz = write(tmp_path / "b.csv.gz", gzip.compress(b"conversation_id,role,text\nz,user,hi\n"))
    assert [r.line for r in open_conversations(by_ext)] == [1, 2]
    assert [r.conversation.id for r in open_conversations(by_magic) if r.conversation] == ["g"]
    assert [r.conversation.id for r in open_conversations(csv_gz) if r.conversation] == ["z"]


def test_format_is_sniffed_without_extension_and_can_be_forced(tmp_path: Path) -> None:
    path = write(tmp_path / "noext", b"conversation_id,role,text\nq,user,hi\n")
    assert [r.conversation.id for r in open_conversations(path) if r.conversation] == ["q"]
    forced = list(open_conversations(path, format="jsonl"))
    assert all(r.error is not None for r in forced)
    with pytest.raises(ValueError, match="format"):
        list(open_conversations(path, format="xml"))  # type: ignore[arg-type]


def test_tsv_and_semicolon_delimiters(tmp_path: Path) -> None:
    tsv = write(tmp_path / "t.tsv", b"conversation_id\trole\ttext\nt\tuser\thello, world\n")
    [r] = list(open_conversations(tsv))
    assert r.conversation is not None and r.conversation.turns[0].text == "hello, world"
    semi = write(tmp_path / "s.csv", b"conversation_id;role;text\ns;user;hi\n")
    [r] = list(open_conversations(semi, delimiter=";"))
    assert r.conversation is not None


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(open_conversations(tmp_path / "nope.jsonl"))


def test_reading_streams_lazily(tmp_path: Path) -> None:
    """The reader yields the first record before the rest of the file is read."""
    line = json.dumps({"id": "s", "turns": [{"role": "user", "text": "hi"}]}).encode() + b"\n"
    path = write(tmp_path / "big.jsonl", line * 50_000)
    stream = open_conversations(path)
    first = next(stream)
    assert first.line == 1
    stream.close()

    class Counting(io.BytesIO):
        lines = 0

        def __next__(self) -> bytes:
            Counting.lines += 1
            return super().__next__()

    counting = Counting(b"conversation_id,role,text\n" + b"x,user,hi\ny,user,hi\n" * 1000)
    records = iter_csv(counting, CsvOptions())
    next(records)
    assert Counting.lines < 10


GOOD_LINE = json.dumps({"id": "g", "turns": [{"role": "user", "text": "hi"}]}).encode() + b"\n"


@pytest.mark.parametrize(
    ("head", "found"),
    [
        (b"\x00\x01\x02" + bytes(range(256)) * 40, "the first NUL at offset 0"),
        (bytes(range(128, 256)) * 80, "bytes are NUL or not UTF-8"),
        (b"PK\x03\x04" + GOOD_LINE * 10, "a zip archive"),
        (b"\xff\xfe" + "{}".encode("utf-16-le") * 100, "UTF-16 text"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "a SQLite database"),
    ],
)
def test_binary_input_is_one_error_naming_the_file_and_what_was_found(
    tmp_path: Path, head: bytes, found: str
) -> None:
    path = write(tmp_path / "chats.jsonl", head)
    with pytest.raises(InputError) as caught:
        list(open_conversations(path))
    assert str(caught.value).startswith(f"cannot read {path}: ")
    assert found in str(caught.value)
    packed = write(tmp_path / "chats.jsonl.gz", gzip.compress(head))
    with pytest.raises(InputError, match=found):
        list(open_conversations(packed))


def test_a_few_bad_bytes_in_text_are_reported_on_their_lines(tmp_path: Path) -> None:
    latin = b'{"id": "l", "turns": [{"role": "user", "text": "caf\xe9"}]}\n'
    path = write(tmp_path / "chats.jsonl", GOOD_LINE * 20 + latin + GOOD_LINE)
    records = list(open_conversations(path))
    assert [r.line for r in records if r.error] == [21]
    assert sum(r.conversation is not None for r in records) == 21


def test_a_truncated_gzip_keeps_what_came_before_and_ends_with_one_error(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": f"message {i}"}]}).encode()
        for i in range(3_000)
    ]
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    path = write(tmp_path / "cut.jsonl.gz", whole[: len(whole) // 2])
    records = list(open_conversations(path))
    good = [r for r in records if r.conversation is not None]
    assert good and [r.conversation.id for r in good] == [f"c{i}" for i in range(len(good))]
    assert [r.error is not None for r in records].count(True) == 1
    last = records[-1]
    assert last.error is not None and last.line == len(good) + 1
    assert "cut short or corrupt" in str(last.error)


def test_corrupt_gzip_raises_only_input_errors(tmp_path: Path) -> None:
    whole = bytearray(gzip.compress(GOOD_LINE * 500))
    for offset in range(10, len(whole), max(1, len(whole) // 40)):
        damaged = bytearray(whole)
        damaged[offset] ^= 0x5A
        path = write(tmp_path / "bad.jsonl.gz", bytes(damaged))
        try:
            records = list(open_conversations(path))
        except InputError:
            continue
        assert all((r.conversation is None) != (r.error is None) for r in records)


def test_csv_bytes_that_are_not_utf8_reject_their_conversation(tmp_path: Path) -> None:
    data = (
        b"conversation_id,role,text\n"
        b"a,user,hello\n"
        b"b,user,caf\xe9 au lait\n"
        b"b,bot,sorry\n"
        b"c\xff,user,hi\n"
        b"d,user,fine\n"
    )
    records = list(open_conversations(write(tmp_path / "t.csv", data)))
    assert [r.conversation.id for r in records if r.conversation] == ["a", "d"]
    errors = [str(r.error) for r in records if r.error]
    assert errors == [
        "line 3: text: not valid UTF-8 (byte 0xe9 at character 3)",
        "line 5: conversation_id: not valid UTF-8 (byte 0xff at character 1)",
    ]


def test_an_open_stream_is_read_like_a_file() -> None:
    plain = io.BytesIO(GOOD_LINE * 2)
    assert [r.line for r in open_conversations(plain)] == [1, 2]
    assert not plain.closed  # the caller's stream stays open
    packed = io.BytesIO(gzip.compress(b"conversation_id,role,text\nz,user,hi\n"))
    assert [r.conversation.id for r in open_conversations(packed) if r.conversation] == ["z"]
    with pytest.raises(InputError, match="NUL"):
        list(open_conversations(io.BytesIO(b"\x00" * 64)))


def test_csv_lines_may_end_in_a_lone_carriage_return(tmp_path: Path) -> None:
    data = b'conversation_id,role,text\rc1,user,hello\rc1,bot,"two\rlines"\rc2,user,hi\r'
    records = list(open_conversations(write(tmp_path / "mac.csv", data)))
    assert [(r.line, r.conversation.id) for r in records if r.conversation] == [
        (2, "c1"),
        (5, "c2"),
    ]
    assert records[0].conversation is not None
    assert [t.text for t in records[0].conversation.turns] == ["hello", "two\rlines"]


def test_a_csv_header_that_cannot_be_parsed_is_an_input_error(tmp_path: Path) -> None:
    huge = b"conversation_id,role," + b"x" * 200_000 + b"\n"  # over the csv field limit
    with pytest.raises(InputError, match="not a valid CSV header"):
        list(open_conversations(write(tmp_path / "x.csv", huge)))
    assert list(open_conversations(write(tmp_path / "blank.csv", b"  \n"))) == []


def test_a_cut_gzip_keeps_the_lines_before_the_cut_even_when_short(tmp_path: Path) -> None:
    """GzipFile.read(n) drops what it decompressed when the stream ends early."""
    lines = [
        json.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": "hello there " * 20}]})
        for i in range(20)
    ]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(whole[:100])
    complete = readable.count(b"\n")
    assert 1 <= complete < 20
    records = list(open_conversations(write(tmp_path / "cut.jsonl.gz", whole[:100])))
    assert [r.conversation.id for r in records if r.conversation] == [
        f"c{i}" for i in range(complete)
    ]
    assert records[-1].error is not None and records[-1].line == complete + 1


def test_over_long_lines_are_reported_without_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalate.replay import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    long = b'{"id": "big", "turns": [{"role": "user", "text": "' + b"x" * 500 + b'"}]}'
    records = list(open_conversations(write(tmp_path / "a.jsonl", long + b"\n" + GOOD_LINE)))
    assert str(records[0].error) == f"line 1: line is {len(long) + 1} bytes, at most 100 allowed"
    assert records[1].conversation is not None and records[1].line == 2
    csv_data = b"conversation_id,role,text\nc1,user,hi\nc2,user," + b"y" * 500 + b"\nc3,user,x\n"
    records = list(open_conversations(write(tmp_path / "b.csv", csv_data)))
    assert [r.conversation.id for r in records if r.conversation] == ["c1"]
    assert str(records[-1].error) == "line 3: line is 509 bytes, at most 100 allowed"
