"""The affect model at run time: a tokenizer, one ONNX Runtime session and numpy.

A model folder holds three files:

``model.onnx``
    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x tokens); outputs
    ``sentiment_logits`` (batch x 3), ``emotion_logits`` (batch x 28),
    ``human_request_logit`` (batch x 1) and, optionally, ``embedding`` (batch x dim: the
    L2-normalised mean-pooled encoder state, used to match texts by topic).
``tokenizer.json``
    A Hugging Face ``tokenizers`` file.
``config.json``
    Label lists, per-emotion thresholds, the maximum length and the pooling used.

No torch, no network: loading reads these three files and nothing else.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from escalate.affect.base import EMOTION_LABELS, SENTIMENT_LABELS, AffectScores
from escalate.errors import AffectModelError

__all__ = ["OnnxAffectModel", "default_model"]

_REQUIRED_FILES = ("model.onnx", "tokenizer.json", "config.json")
_OUTPUTS = ("sentiment_logits", "emotion_logits", "human_request_logit")
_EMBEDDING = "embedding"

#: One text's raw outputs: sentiment, emotion and human-request probabilities, and the
#: embedding (``None`` for models without one).
_Row = tuple[np.ndarray, np.ndarray, float, np.ndarray | None]


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|
    return out


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class OnnxAffectModel:
    """Scores texts for sentiment, the 28 GoEmotions emotions and human request.

    Instances are safe to share between threads: ``predict`` keeps no per-call state on
    the object, and ONNX Runtime sessions accept concurrent ``run`` calls.

    Parameters
    ----------
    path:
        A model folder with ``model.onnx``, ``tokenizer.json`` and ``config.json``.
    threads:
        Intra-op threads for ONNX Runtime; default ``min(4, cpu_count)``.
    batch_size:
        Largest batch sent to the session at once; longer inputs are split. The default,
        1, scores every text on its own (see Notes).
    cache_size:
        How many recent texts keep their scores (least recently used go first); a text
        seen again ("yes", "thanks", "agent") is not scored twice. ``0`` turns the cache
        off. Only used with ``batch_size=1``, where a text's scores depend on the text
        alone, so a cached score is exactly the score the model would give again.

    Notes
    -----
    The shipped weights are int8 with dynamic activation quantization: ONNX Runtime scales
    activations per call, so a text scored inside a batch of other texts can differ from
    the same text scored alone by quantization noise (a few hundredths on average). With
    ``batch_size=1`` every score depends on its own text only, so a replayed conversation
    gets exactly the scores it got live, and no later message can move an earlier score.
    The engine relies on this. ``batch_size=32`` is about a quarter faster for bulk
    scoring of independent texts where that does not matter.

    When the model has an ``embedding`` output (the shipped one does), :meth:`embed` makes
    it a :class:`~escalate.affect.embedding.TextEmbedder`: the engine then matches a new
    contact's issue against earlier ones, and picks the packet's summary sentence, with
    the model's own encoder instead of hashed words.

    Examples
    --------
    >>> from escalate.affect import OnnxAffectModel
    >>> model = OnnxAffectModel.default()
    >>> scores = model.predict_one("This is the third time I ask. Get me a person!")
    >>> scores.human_request > 0.5
    True
    >>> sorted(scores.sentiment)
    ['negative', 'neutral', 'positive']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        batch_size: int = 1,
        cache_size: int = 8192,
    ) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not self.path.is_dir():
            raise AffectModelError(f"affect model folder not found: {self.path}")
        for name in _REQUIRED_FILES:
            if not (self.path / name).is_file():
                raise AffectModelError(f"affect model folder {self.path} lacks {name}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be an integer >= 0, got {cache_size!r}")
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _Row] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.config = self._read_config(self.path / "config.json")
        self.max_length = int(self.config.get("max_length", 64))
        self.sentiment_labels: tuple[str, ...] = tuple(self.config["sentiment_labels"])
        self.emotion_labels: tuple[str, ...] = tuple(self.config["emotion_labels"])
        thresholds = self.config.get("emotion_thresholds", {})
        self.emotion_thresholds = np.array(
            [float(thresholds.get(label, 0.5)) for label in self.emotion_labels],
            dtype=np.float32,
        )
        self.human_request_threshold = float(self.config.get("human_request_threshold", 0.5))
        #: Cosine similarity of two embeddings from which they are the same problem.
        self.topic_similarity = float(self.config.get("topic_similarity", 0.6))

        try:
            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        except Exception as exc:
            raise AffectModelError(f"cannot read {self.path / 'tokenizer.json'}: {exc}") from None
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer = tokenizer
        pad = tokenizer.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise AffectModelError(
                f"cannot load {self.path / 'model.onnx'}: {str(exc).strip()}"
            ) from None
        names = {o.name for o in self._session.get_outputs()}
        missing = [n for n in _OUTPUTS if n not in names]
        if missing:
            raise AffectModelError(
                f"{self.path / 'model.onnx'} lacks the outputs {', '.join(missing)}"
            )
        self.has_embeddings = _EMBEDDING in names
        self._outputs = [*_OUTPUTS, _EMBEDDING] if self.has_embeddings else list(_OUTPUTS)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], **kwargs: Any) -> OnnxAffectModel:
        """Load a model folder, e.g. the output of ``escalate train``."""
        return cls(path, **kwargs)

    @classmethod
    def default(cls, **kwargs: Any) -> OnnxAffectModel:
        """Load the model shipped with escalate."""
        from escalate._resources import shipped_dir

        try:
            folder = shipped_dir("models") / "affect"
        except FileNotFoundError as exc:
            raise AffectModelError(str(exc)) from None
        return cls(folder, **kwargs)

    # ------------------------------------------------------------------ scoring

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        """Score ``texts``; one :class:`AffectScores` per text, in order.

        Raises
        ------
        AffectModelError
            When a text is not a string or the session fails.
        """
        if isinstance(texts, str):
            raise AffectModelError("predict expects a sequence of texts, got one str")
        sent, emo, human = self.predict_arrays(texts)
        return [self._scores(sent[i], emo[i], float(human[i])) for i in range(len(texts))]

    def predict_one(self, text: str) -> AffectScores:
        """Score one text."""
        return self.predict([text])[0]

    def predict_arrays(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw probabilities: sentiment (n x 3), emotions (n x 28), human request (n,)."""
        sent, emo, human, _ = self._run(texts)
        return sent, emo, human

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised sentence embeddings (n x dim, float32) from the model's encoder.

        Raises
        ------
        AffectModelError
            When the model has no ``embedding`` output (see :attr:`has_embeddings`).
        """
        if not self.has_embeddings:
            raise AffectModelError(f"{self.path / 'model.onnx'} has no embedding output")
        _, _, _, embedding = self._run(texts)
        assert embedding is not None
        return embedding

    def _run(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        if isinstance(texts, str):
            raise AffectModelError("expected a sequence of texts, got one str")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise AffectModelError(f"text {i} is {type(t).__name__}, expected str")
        n = len(texts)
        rows: list[_Row | None] = [None] * n
        cache = self.cache_size > 0 and self.batch_size == 1
        if cache:
            with self._cache_lock:
                for i, text in enumerate(texts):
                    row = self._cache.get(text)
                    if row is not None:
                        self._cache.move_to_end(text)
                        rows[i] = row
        todo = [i for i in range(n) if rows[i] is None]
        if todo and cache:
            # Each distinct text is scored once; repeats within the call share its row.
            distinct = list(dict.fromkeys(texts[i] for i in todo))
            scored = dict(zip(distinct, self._score(distinct), strict=True))
            for i in todo:
                rows[i] = scored[texts[i]]
            with self._cache_lock:
                for text, row in scored.items():
                    self._cache[text] = row
                    self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        elif todo:
            for i, row in zip(todo, self._score([texts[i] for i in todo]), strict=True):
                rows[i] = row
        done = [r for r in rows if r is not None]
        sent = np.zeros((n, len(self.sentiment_labels)), dtype=np.float32)
        emo = np.zeros((n, len(self.emotion_labels)), dtype=np.float32)
        human = np.zeros(n, dtype=np.float32)
        for i, (s, e, h, _) in enumerate(done):
            sent[i], emo[i], human[i] = s, e, h
        embedding = None
        if self.has_embeddings:
            embedding = (
                np.stack([r[3] for r in done if r[3] is not None])
                if n
                else np.zeros((0, 0), dtype=np.float32)
            )
        return sent, emo, human, embedding

    def _score(self, texts: list[str]) -> list[_Row]:
        """Run the session over ``texts`` in length-sorted batches; one row per text."""
        out: list[_Row | None] = [None] * len(texts)
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        for idx in self._chunks(order, lengths):
            width = max(1, int(lengths[idx].max()))
            ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                tokens = encodings[j].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            try:
                results = self._session.run(
                    self._outputs, {"input_ids": ids, "attention_mask": mask}
                )
            except Exception as exc:
                raise AffectModelError(f"affect model failed: {str(exc).strip()}") from exc
            sent = _softmax(np.asarray(results[0], dtype=np.float32))
            emo = _sigmoid(np.asarray(results[1], dtype=np.float32))
            human = _sigmoid(np.asarray(results[2], dtype=np.float32).reshape(-1))
            emb = np.asarray(results[3], dtype=np.float32) if self.has_embeddings else None
            for row, j in enumerate(idx):
                out[int(j)] = (
                    sent[row],
                    emo[row],
                    float(human[row]),
                    emb[row] if emb is not None else None,
                )
        return [r for r in out if r is not None]

    def _chunks(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Split length-sorted indices into session batches with little padding.

        A batch closes at ``batch_size`` texts, or when padding every text to the next
        (longest) one would waste more than a quarter of the batch's tokens.
        """
        chunks: list[np.ndarray] = []
        start, tokens = 0, 0
        for pos, j in enumerate(order):
            size = pos - start
            width = int(lengths[j])
            if size and (size >= self.batch_size or (size + 1) * width > 1.25 * (tokens + width)):
                chunks.append(order[start:pos])
                start, tokens = pos, 0
            tokens += width
        chunks.append(order[start:])
        return chunks

    def emotion_labels_above(self, emotions: np.ndarray) -> list[str]:
        """Labels whose probability reaches their threshold, highest first."""
        hits = np.flatnonzero(emotions >= self.emotion_thresholds)
        hits = hits[np.argsort(-emotions[hits], kind="stable")]
        return [self.emotion_labels[int(i)] for i in hits]

    def _scores(self, sent: np.ndarray, emo: np.ndarray, human: float) -> AffectScores:
        return AffectScores(
            sentiment={k: float(v) for k, v in zip(self.sentiment_labels, sent, strict=True)},
            emotions={k: float(v) for k, v in zip(self.emotion_labels, emo, strict=True)},
            human_request=min(1.0, max(0.0, human)),
            emotion_labels=self.emotion_labels_above(emo),
        )

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _read_config(path: Path) -> dict[str, Any]:
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AffectModelError(f"cannot read {path}: {exc}") from None
        if not isinstance(config, dict):
            raise AffectModelError(f"{path} must hold a JSON object")
        problems = []
        for key, expected in (
            ("sentiment_labels", SENTIMENT_LABELS),
            ("emotion_labels", EMOTION_LABELS),
        ):
            value = config.get(key)
            if not isinstance(value, list) or sorted(value) != sorted(expected):
                problems.append(f"{key} must list {', '.join(expected)}")
        if problems:
            raise AffectModelError(f"{path}: " + "; ".join(problems))
        return config

    def __repr__(self) -> str:
        return f"OnnxAffectModel(path={str(self.path)!r})"


_DEFAULT: OnnxAffectModel | None = None
_DEFAULT_LOCK = threading.Lock()


def default_model() -> OnnxAffectModel:
    """The shipped model, loaded once per process and shared (it is thread-safe).

    Examples
    --------
    >>> from escalate.affect import default_model
    >>> default_model() is default_model()
    True
    """
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = OnnxAffectModel.default()
        return _DEFAULT
