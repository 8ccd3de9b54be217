"""The affect model at run time: a tokenizer, ONNX Runtime sessions and numpy.

A model folder holds:

``model.onnx``
    The message encoder. Inputs ``input_ids`` and ``attention_mask`` (int64, batch x
    tokens); outputs ``sentiment_logits`` (batch x 3), ``emotion_logits`` (batch x 28) and
    ``embedding`` (batch x dim: the L2-normalised mean-pooled encoder state).
``context.onnx``
    The context head. Inputs ``embedding`` (batch x dim, the customer's message),
    ``context`` (batch x 2 x dim: the bot's previous message and the customer's previous
    message) and ``context_mask`` (batch x 2); output ``context_logits`` (batch x 3:
    human request, dissatisfaction, distress).
``emotions.onnx`` (optional)
    The emotion head trained again on the encoder's embeddings
    (:func:`~escalate.affect.train.head.refit_emotion_head`). Input ``embedding``
    (batch x dim); output ``emotion_logits`` (batch x 28), which replace the encoder's.
``tokenizer.json``
    A Hugging Face ``tokenizers`` file.
``config.json``
    Label lists, the calibration of every head, per-emotion thresholds, the maximum
    length, the pooling used, ``request_sentences`` (whether the sentences of a
    message are scored for a human request too), ``request_alone_margin`` (whether,
    and how much lower, a message is also scored for a request without its context),
    ``request_spelling`` (whether typos are corrected before the request is read) and
    ``distress_sentences`` (whether those sentences are read for distress too).

A folder without ``context.onnx`` whose ``model.onnx`` has a ``human_request_logit``
output (the format of earlier escalate models) loads too: it scores messages without
context and has no dissatisfaction or distress heads.

No torch, no network: loading reads these files and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from escalate.affect.base import (
    CONTEXT_HEADS,
    EMOTION_LABELS,
    SENTIMENT_LABELS,
    AffectScores,
    MessageContext,
)
from escalate.affect.segments import scored_sentences
from escalate.affect.spelling import Speller
from escalate.errors import AffectModelError

__all__ = ["AffectArrays", "OnnxAffectModel", "default_model"]

_REQUIRED_FILES = ("model.onnx", "tokenizer.json", "config.json")
_MESSAGE_OUTPUTS = ("sentiment_logits", "emotion_logits")
_EMBEDDING = "embedding"
_LEGACY_HUMAN = "human_request_logit"


@dataclass(frozen=True, slots=True)
class _Encoded:
    """One message through the encoder: raw logits and its embedding."""

    sentiment: np.ndarray
    emotions: np.ndarray
    embedding: np.ndarray | None
    human_request: float | None  # a legacy model's own human-request logit


@dataclass(frozen=True, slots=True)
class AffectArrays:
    """Calibrated probabilities for ``n`` texts: sentiment ``(n, 3)``, emotions ``(n, 28)``,
    and ``(n,)`` arrays for the other heads (``None`` for a model without the head)."""

    sentiment: np.ndarray
    emotions: np.ndarray
    human_request: np.ndarray
    dissatisfaction: np.ndarray | None
    distress: np.ndarray | None


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|
    return out


#: What a row of the context head's batch is for (see ``OnnxAffectModel._head_logits``).
_WHOLE, _CORRECTED, _SENTENCE, _ALONE = range(4)


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise AffectModelError(f"cannot load {path}: {str(exc).strip()}") from None


class OnnxAffectModel:
    """Scores customer messages: sentiment, the 28 GoEmotions emotions, human request and,
    read with the messages before them, dissatisfaction and distress.

    Instances are safe to share between threads: scoring keeps no per-call state on the
    object, the caches are locked, and ONNX Runtime sessions accept concurrent ``run``
    calls.

    Parameters
    ----------
    path:
        A model folder (see the module documentation).
    threads:
        Intra-op threads for ONNX Runtime; default ``min(4, cpu_count)``.
    batch_size:
        Largest batch sent to the encoder at once. The default, 1, encodes every text on
        its own (see Notes).
    cache_size:
        How many recent messages keep their encoding (least recently used go first): a
        message seen again ("yes", "thanks", the bot's "Sorry, I didn't get that") is not
        encoded twice, and the messages before a customer's turn (its context) are
        usually encoded already. ``0`` turns the cache off. Only used with
        ``batch_size=1``, where an encoding depends on its text alone.
    calibrated:
        Apply the calibration stored in ``config.json`` (the default); ``False`` gives the
        network's raw probabilities, for fitting a new calibration.
    request_sentences:
        Also score each sentence (of two words or more) of a message that has several
        for a human request and keep the highest score (a request is one sentence:
        "Sorry for the long message. Put me through to someone." asks as plainly as its
        second sentence). Default:
        ``request_sentences`` in ``config.json`` (on for the shipped model). Costs one
        more encoder call per scored sentence (:mod:`escalate.affect.segments`).
    request_alone_margin:
        Also read a message that has a context (and each of its scored sentences)
        without that context for a human request, its logit lowered by this margin,
        and keep the highest score. The context head learned that a message after a
        closing question ("Anything else?") is a closing answer, and reads "Put me
        through to a person now." there as no request; alone, the message is one. The
        margin keeps task answers that only look like requests out of context ("Find me
        someone else") below the threshold. Default: ``request_alone_margin`` in
        ``config.json`` (1.5 for the shipped model), else ``inf`` (never read alone).
        Costs no encoder call: only the small context head runs again.
    distress_sentences:
        Read distress in each sentence a message has scored for a request too (with
        the message's context) and keep the highest: a vulnerable customer's sentence
        keeps its weight after an answer to the bot ("Yes. My mum passed away last
        week and I need to close her account." after "Anything else?"). Default:
        ``distress_sentences`` in ``config.json``, else off. Costs no encoder call: the
        sentences are read for a request already (needs ``request_sentences``).
    request_spelling:
        Read a message for a human request with its typos corrected
        (:class:`~escalate.affect.spelling.Speller`: "Transfer me to a hmuan."); the
        other heads read it as written. Default: ``request_spelling`` in ``config.json``
        (on for the shipped model). Costs reading a dictionary once per process (about
        a second) and one more encoder call for a message that had a typo.

    Notes
    -----
    The shipped encoder is int8 with dynamic activation quantization: ONNX Runtime scales
    activations per call, so a text encoded inside a batch of other texts can differ from
    the same text encoded alone by quantization noise. With ``batch_size=1`` every score
    depends on its own text (and its context) only, so a replayed conversation gets
    exactly the scores it got live, and no later message can move an earlier score. The
    engine relies on this. The context head is fp32 and runs one message at a time.

    Every head is calibrated on dev data (temperature scaling for sentiment, Platt
    scaling for the others): a human request of 0.8 means that about 80 % of messages
    given 0.8 are requests, and a retrained model keeps that meaning.

    Examples
    --------
    >>> from escalate.affect import MessageContext, OnnxAffectModel
    >>> model = OnnxAffectModel.default()
    >>> model.predict_one("This is the third time I ask. Get me a person!").human_request > 0.5
    True
    >>> late = model.predict_in_context(["It's been four months."],
    ...                                 [MessageContext(bot="Refunds take 5-7 days.")])[0]
    >>> fact = model.predict_in_context(["It's been four months."],
    ...                                 [MessageContext(bot="How long have you had the device?")])[0]
    >>> late.dissatisfaction > fact.dissatisfaction
    True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        batch_size: int = 1,
        cache_size: int = 8192,
        calibrated: bool = True,
        request_sentences: bool | None = None,
        request_alone_margin: float | None = None,
        request_spelling: bool | None = None,
        distress_sentences: bool | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not self.path.is_dir():
            raise AffectModelError(f"affect model folder not found: {self.path}")
        for name in _REQUIRED_FILES:
            if not (self.path / name).is_file():
                raise AffectModelError(f"affect model folder {self.path} lacks {name}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an integer >= 0, got {cache_size!r}")
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _Encoded] = OrderedDict()
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
        #: Whether a message of several sentences also has each sentence scored for a
        #: human request, keeping the highest score (:mod:`escalate.affect.segments`).
        self.request_sentences = bool(
            self.config.get("request_sentences", False)
            if request_sentences is None
            else request_sentences
        )
        #: Whether distress is also read in each sentence scored for a request, keeping
        #: the highest.
        self.distress_sentences = bool(
            self.config.get("distress_sentences", False)
            if distress_sentences is None
            else distress_sentences
        )
        #: A message read in context is also read for a human request without it, its
        #: logit lowered by this margin (``inf``: read in context only).
        self.request_alone_margin = self._margin("request_alone_margin", request_alone_margin)
        spelling = (
            self.config.get("request_spelling", False)
            if request_spelling is None
            else request_spelling
        )
        #: Corrects typos before a message is read for a human request (``None``: off).
        self.speller: Speller | None = Speller.shared().load() if spelling else None
        #: Cosine similarity of two embeddings from which they are the same problem.
        self.topic_similarity = float(self.config.get("topic_similarity", 0.6))
        self._calibration: dict[str, Any] = (
            dict(self.config.get("calibration", {})) if calibrated else {}
        )

        try:
            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        except Exception as exc:
            raise AffectModelError(f"cannot read {self.path / 'tokenizer.json'}: {exc}") from None
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer = tokenizer
        pad = tokenizer.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0

        threads = threads or _default_threads()
        self._session = _session(self.path / "model.onnx", threads)
        names = {o.name for o in self._session.get_outputs()}
        missing = [n for n in _MESSAGE_OUTPUTS if n not in names]
        self._context = None
        if (self.path / "context.onnx").is_file():
            self._context = _session(self.path / "context.onnx", 1)
            if _EMBEDDING not in names:
                missing.append(_EMBEDDING)
        elif _LEGACY_HUMAN not in names:
            missing.append(f"{_LEGACY_HUMAN} (or a context.onnx)")
        if missing:
            raise AffectModelError(
                f"{self.path / 'model.onnx'} lacks the outputs {', '.join(missing)}"
            )
        self.has_embeddings = _EMBEDDING in names
        self._emotions = None
        if (self.path / "emotions.onnx").is_file():
            if not self.has_embeddings:
                raise AffectModelError(
                    f"{self.path / 'emotions.onnx'} reads embeddings, but "
                    f"{self.path / 'model.onnx'} has no {_EMBEDDING} output"
                )
            self._emotions = _session(self.path / "emotions.onnx", 1)
        self._context_dim: int | None = None
        if self._context is not None:
            (dim,) = [i.shape[-1] for i in self._context.get_inputs() if i.name == "embedding"]
            self._context_dim = int(dim) if isinstance(dim, int) else None
        self._outputs = [n for n in (*_MESSAGE_OUTPUTS, _LEGACY_HUMAN, _EMBEDDING) if n in names]

    def _margin(self, name: str, given: float | None) -> float:
        """A read-alone margin: ``given``, else the config's, else ``inf`` (off)."""
        margin = self.config.get(name) if given is None else given
        if margin is None:
            return math.inf
        if isinstance(margin, bool) or not isinstance(margin, int | float) or margin != margin:
            raise ValueError(f"{name} must be a number, got {margin!r}")
        return float(margin)

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

    @property
    def reads_context(self) -> bool:
        """True when the model scores a message with the messages before it."""
        return self._context is not None

    # ------------------------------------------------------------------ scoring

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        """Score ``texts`` on their own (no context); one :class:`AffectScores` per text.

        Raises
        ------
        AffectModelError
            When a text is not a string or the model fails.
        """
        return self.predict_in_context(texts, [None] * _length(texts))

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        """Score each of ``texts`` with what came before it (``contexts[i]``, or ``None``)."""
        return self._scores(self.predict_arrays(texts, contexts))

    def predict_encoded(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> tuple[list[AffectScores], list[bytes | None]]:
        """:meth:`predict_in_context`, and each text's encoding to hand back later in a
        :class:`~escalate.affect.base.MessageContext` (``None`` for a model without a
        context head)."""
        texts = _checked(texts)
        arrays, encoded = self._arrays(texts, contexts)
        return self._scores(arrays), [_packed(encoded[t]) for t in texts]

    def encode(self, texts: Sequence[str]) -> list[bytes | None]:
        """The encodings of ``texts`` (the bot's messages, as they are sent), to hand back
        in a :class:`~escalate.affect.base.MessageContext`; ``None`` for each text when
        the model has no context head."""
        texts = _checked(texts)
        if not self.reads_context:
            return [None] * len(texts)
        return [_packed(row) for row in self._encode(texts)]

    def _scores(self, arrays: AffectArrays) -> list[AffectScores]:
        out = []
        for i in range(len(arrays.human_request)):
            out.append(
                AffectScores(
                    sentiment={
                        k: float(v)
                        for k, v in zip(self.sentiment_labels, arrays.sentiment[i], strict=True)
                    },
                    emotions={
                        k: float(v)
                        for k, v in zip(self.emotion_labels, arrays.emotions[i], strict=True)
                    },
                    human_request=_unit(arrays.human_request[i]),
                    dissatisfaction=None
                    if arrays.dissatisfaction is None
                    else _unit(arrays.dissatisfaction[i]),
                    distress=None if arrays.distress is None else _unit(arrays.distress[i]),
                    emotion_labels=self.emotion_labels_above(arrays.emotions[i]),
                )
            )
        return out

    def predict_one(self, text: str, context: MessageContext | None = None) -> AffectScores:
        """Score one text, with its context when given."""
        return self.predict_in_context([text], [context])[0]

    def prepare(self, texts: Sequence[str]) -> None:
        """Encode ``texts`` now (the bot's messages, as they are sent) so that a customer
        turn that follows finds its context already encoded."""
        if self.reads_context and self.cache_size > 0 and self.batch_size == 1:
            self._encode([t for t in _checked(texts) if t])

    def predict_arrays(
        self,
        texts: Sequence[str],
        contexts: Sequence[MessageContext | None] | None = None,
    ) -> AffectArrays:
        """Calibrated probabilities of every head as arrays (see :class:`AffectArrays`)."""
        return self._arrays(_checked(texts), contexts)[0]

    def _arrays(
        self, texts: list[str], contexts: Sequence[MessageContext | None] | None
    ) -> tuple[AffectArrays, dict[str, _Encoded]]:
        n = len(texts)
        if contexts is None:
            contexts = [None] * n
        if len(contexts) != n:
            raise AffectModelError(f"{n} texts but {len(contexts)} contexts")
        reads = [self._request_reads(t) for t in texts]
        encoded = self._encoded(texts, contexts, reads)
        calibration = self._calibration
        sentiment = np.zeros((n, len(self.sentiment_labels)), dtype=np.float32)
        emotions = np.zeros((n, len(self.emotion_labels)), dtype=np.float32)
        temperature = float(calibration.get("sentiment", {}).get("temperature", 1.0))
        emo_cal = calibration.get("emotions", {})
        emo_scale = np.asarray(emo_cal.get("scale", 1.0), dtype=np.float32)
        emo_bias = np.asarray(emo_cal.get("bias", 0.0), dtype=np.float32)
        for i, text in enumerate(texts):
            row = encoded[text]
            sentiment[i] = _softmax(row.sentiment / temperature)
            emotions[i] = _sigmoid(row.emotions * emo_scale + emo_bias)
        logits = self._head_logits(encoded, texts, contexts, reads)
        if self._context is None:
            arrays = AffectArrays(
                sentiment, emotions, self._platt("human_request", logits[:, 0]), None, None
            )
            return arrays, encoded
        heads = {h: self._platt(h, logits[:, k]) for k, h in enumerate(CONTEXT_HEADS)}
        arrays = AffectArrays(
            sentiment, emotions, heads["human_request"], heads["dissatisfaction"], heads["distress"]
        )
        return arrays, encoded

    def logits(
        self,
        texts: Sequence[str],
        contexts: Sequence[MessageContext | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw logits before calibration: sentiment ``(n, 3)``, emotions ``(n, 28)`` and
        the context heads ``(n, 3)`` (:data:`~escalate.affect.base.CONTEXT_HEADS` order;
        a model without a context head gives its human-request logit and zeros)."""
        texts = _checked(texts)
        contexts = list(contexts) if contexts is not None else [None] * len(texts)
        if len(contexts) != len(texts):
            raise AffectModelError(f"{len(texts)} texts but {len(contexts)} contexts")
        reads = [self._request_reads(t) for t in texts]
        encoded = self._encoded(texts, contexts, reads)
        n = len(texts)
        sentiment = np.stack([encoded[t].sentiment for t in texts]) if n else np.zeros((0, 3))
        emotions = np.stack([encoded[t].emotions for t in texts]) if n else np.zeros((0, 28))
        return sentiment, emotions, self._head_logits(encoded, texts, contexts, reads)

    def _head_logits(
        self,
        encoded: dict[str, _Encoded],
        texts: list[str],
        contexts: Sequence[MessageContext | None],
        reads: list[list[str]],
    ) -> np.ndarray:
        """The context heads' logits ``(n, 3)``; the human-request logit is the highest
        over each message's ``reads`` (:meth:`_request_reads`), each read with the
        message's context and, less :attr:`request_alone_margin`, without it. A model
        without a context head fills the first column with its own human-request logit
        and leaves the others at zero."""
        out = np.zeros((len(texts), len(CONTEXT_HEADS)), dtype=np.float32)
        margin = self.request_alone_margin
        if self._context is None:
            for i, pieces in enumerate(reads):
                out[i, 0] = max(encoded[t].human_request or 0.0 for t in pieces)
            return out
        # Every read of every message goes through the context head in one call; each
        # row says what it is for: the message with its context (all heads), its
        # corrected read (replaces the request logit), a sentence (the highest request
        # logit counts), or a read without the context (the same, less the margin).
        rows: list[tuple[str, MessageContext | None]] = []
        uses: list[tuple[int, int]] = []
        for i, (text, context) in enumerate(zip(texts, contexts, strict=True)):
            read, *sentences = reads[i]
            rows.append((text, context))
            uses.append((i, _WHOLE))
            if read != text:
                rows.append((read, context))
                uses.append((i, _CORRECTED))
            rows.extend((sentence, context) for sentence in sentences)
            uses.extend((i, _SENTENCE) for _ in sentences)
            has_context = context is not None and bool(context.bot or context.user)
            if math.isfinite(margin) and has_context:
                rows.extend((piece, None) for piece in [read, *sentences])
                uses.extend((i, _ALONE) for _ in [read, *sentences])
        logits = self._context_logits(encoded, rows)
        distress = CONTEXT_HEADS.index("distress")
        for (i, use), row in zip(uses, logits, strict=True):
            if use == _WHOLE:
                out[i] = row
            elif use == _CORRECTED:
                out[i, 0] = row[0]
            else:
                out[i, 0] = max(out[i, 0], row[0] - (margin if use == _ALONE else 0.0))
                if use == _SENTENCE and self.distress_sentences:
                    out[i, distress] = max(out[i, distress], row[distress])
        return out

    def _request_reads(self, text: str) -> list[str]:
        """What is read of ``text`` for a human request: the message (its typos
        corrected, with :attr:`speller`), then, with :attr:`request_sentences`, the
        sentences of that."""
        read = self.speller.correct(text) if self.speller is not None else text
        return [read, *(scored_sentences(read) if self.request_sentences else [])]

    def _encoded(
        self,
        texts: list[str],
        contexts: Sequence[MessageContext | None],
        reads: list[list[str]],
    ) -> dict[str, _Encoded]:
        """Every text, its ``reads`` for a request and its context texts encoded, by
        text; a context message whose encoding came with it (and fits this model) is not
        encoded again."""
        needed: list[str] = []
        given: dict[str, _Encoded] = {}
        if self._context is not None:
            for c in contexts:
                if c is None:
                    continue
                for text, packed in ((c.bot, c.bot_encoding), (c.user, c.user_encoding)):
                    if not text:
                        continue
                    row = self._unpacked(packed)
                    if row is None:
                        needed.append(text)
                    else:
                        given.setdefault(text, row)
        extra = [x for t, pieces in zip(texts, reads, strict=True) for x in pieces if x != t]
        wanted = [*texts, *extra, *(t for t in needed if t not in given)]
        return {**given, **dict(zip(wanted, self._encode(wanted), strict=True))}

    def _unpacked(self, packed: bytes | None) -> _Encoded | None:
        """A context encoding handed back, or ``None`` when there is none or it does not
        fit this model (its size differs: another model's)."""
        if packed is None or self._context_dim is None or len(packed) != 4 * self._context_dim:
            return None
        vector = np.frombuffer(packed, dtype="<f4")
        return _Encoded(_NO_LOGITS, _NO_LOGITS, vector, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised sentence embeddings (n x dim, float32) from the model's encoder.

        Raises
        ------
        AffectModelError
            When the model has no ``embedding`` output (see :attr:`has_embeddings`).
        """
        if not self.has_embeddings:
            raise AffectModelError(f"{self.path / 'model.onnx'} has no embedding output")
        rows = self._encode(_checked(texts))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([r.embedding for r in rows if r.embedding is not None])

    def emotion_labels_above(self, emotions: np.ndarray) -> list[str]:
        """Labels whose probability reaches their threshold, highest first."""
        hits = np.flatnonzero(emotions >= self.emotion_thresholds)
        hits = hits[np.argsort(-emotions[hits], kind="stable")]
        return [self.emotion_labels[int(i)] for i in hits]

    # ------------------------------------------------------------------ internals

    def _platt(self, head: str, logits: np.ndarray) -> np.ndarray:
        params = self._calibration.get(head, {})
        scale = float(params.get("scale", 1.0))
        bias = float(params.get("bias", 0.0))
        return _sigmoid(np.asarray(logits, dtype=np.float32) * scale + bias)

    def _context_logits(
        self, encoded: dict[str, _Encoded], rows: Sequence[tuple[str, MessageContext | None]]
    ) -> np.ndarray:
        """The context head's logits ``(len(rows), 3)`` of each (text, context) row, in
        one call."""
        assert self._context is not None
        if not rows:
            return np.zeros((0, len(CONTEXT_HEADS)), dtype=np.float32)
        first = encoded[rows[0][0]].embedding
        assert first is not None
        dim = first.shape[0]
        message = np.zeros((len(rows), dim), dtype=np.float32)
        ctx = np.zeros((len(rows), 2, dim), dtype=np.float32)
        mask = np.zeros((len(rows), 2), dtype=np.float32)
        for r, (text, context) in enumerate(rows):
            vector = encoded[text].embedding
            assert vector is not None
            message[r] = vector
            if context is not None:
                for k, other in enumerate((context.bot, context.user)):
                    before = encoded[other].embedding if other else None
                    if before is not None:
                        ctx[r, k] = before
                        mask[r, k] = 1.0
        try:
            (logits,) = self._context.run(
                ["context_logits"], {"embedding": message, "context": ctx, "context_mask": mask}
            )
        except Exception as exc:
            raise AffectModelError(f"affect model failed: {str(exc).strip()}") from exc
        return np.asarray(logits, dtype=np.float32)

    def _encode(self, texts: Sequence[str]) -> list[_Encoded]:
        """Encode ``texts`` (each distinct text once), from the cache where possible."""
        n = len(texts)
        rows: list[_Encoded | None] = [None] * n
        cache = self.cache_size > 0 and self.batch_size == 1
        if cache:
            with self._cache_lock:
                for i, text in enumerate(texts):
                    row = self._cache.get(text)
                    if row is not None:
                        self._cache.move_to_end(text)
                        rows[i] = row
        todo = list(dict.fromkeys(texts[i] for i in range(n) if rows[i] is None))
        if todo:
            scored = dict(zip(todo, self._run(todo), strict=True))
            for i in range(n):
                if rows[i] is None:
                    rows[i] = scored[texts[i]]
            if cache:
                with self._cache_lock:
                    for text, row in scored.items():
                        self._cache[text] = row
                        self._cache.move_to_end(text)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return [r for r in rows if r is not None]

    def _run(self, texts: list[str]) -> list[_Encoded]:
        """Run the encoder over ``texts`` in length-sorted batches; one row per text."""
        out: list[_Encoded | None] = [None] * len(texts)
        # a few texts (a turn and its sentences) are quicker one by one than through
        # the tokenizer's parallel batch
        encodings = (
            [self._tokenizer.encode(t) for t in texts]
            if len(texts) <= 4
            else self._tokenizer.encode_batch(texts)
        )
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
                results = dict(
                    zip(
                        self._outputs,
                        self._session.run(
                            self._outputs, {"input_ids": ids, "attention_mask": mask}
                        ),
                        strict=True,
                    )
                )
            except Exception as exc:
                raise AffectModelError(f"affect model failed: {str(exc).strip()}") from exc
            sent = np.asarray(results["sentiment_logits"], dtype=np.float32)
            emo = np.asarray(results["emotion_logits"], dtype=np.float32)
            human = results.get(_LEGACY_HUMAN)
            emb = results.get(_EMBEDDING)
            if self._emotions is not None:
                emo = self._emotion_logits(np.asarray(emb, dtype=np.float32))
            for row, j in enumerate(idx):
                out[int(j)] = _Encoded(
                    sent[row],
                    emo[row],
                    None if emb is None else np.asarray(emb[row], dtype=np.float32),
                    None if human is None else float(np.asarray(human).reshape(-1)[row]),
                )
        return [r for r in out if r is not None]

    def _emotion_logits(self, embeddings: np.ndarray) -> np.ndarray:
        """The emotion head of ``emotions.onnx`` on a batch of embeddings."""
        assert self._emotions is not None
        try:
            (logits,) = self._emotions.run(["emotion_logits"], {"embedding": embeddings})
        except Exception as exc:
            raise AffectModelError(f"affect model failed: {str(exc).strip()}") from exc
        return np.asarray(logits, dtype=np.float32)

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


_NO_LOGITS = np.zeros(0, dtype=np.float32)


def _packed(row: _Encoded) -> bytes | None:
    """A message's embedding as the bytes a context hands back (little-endian float32,
    so a score from a handed-back encoding equals one from a fresh encoding exactly)."""
    if row.embedding is None:
        return None
    return np.ascontiguousarray(row.embedding, dtype="<f4").tobytes()


def _length(texts: Sequence[str]) -> int:
    if isinstance(texts, str):
        raise AffectModelError("expected a sequence of texts, got one str")
    return len(texts)


def _checked(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise AffectModelError("expected a sequence of texts, got one str")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise AffectModelError(f"text {i} is {type(t).__name__}, expected str")
    return list(texts)


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


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
