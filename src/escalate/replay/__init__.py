"""Replay: the engine driven over stored conversations."""

from escalate.replay.readers import Record, iter_jsonl, read_jsonl

__all__ = ["Record", "iter_jsonl", "read_jsonl"]
