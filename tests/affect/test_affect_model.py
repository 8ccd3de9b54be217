"""The shipped affect model: loading, ranking clear cases, shapes and errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalate._resources import shipped_dir
from escalate.affect import (
    EMOTION_LABELS,
    SENTIMENT_LABELS,
    AffectModel,
    AffectScores,
    MessageContext,
    OnnxAffectModel,
    default_model,
)
from escalate.errors import AffectModelError

SHIPPED = shipped_dir("models") / "affect"

TEXTS = [
    "This is absolutely ridiculous, I have been waiting three weeks and nobody answers!!",
    "Thank you so much, that fixed everything. You're wonderful.",
    "Can you put me through to a real human, please?",
    "My agent number is 42.",
    "Where is my parcel?",
    "",
    "   ",
    "😡😡😡",
    "a " * 500,
]


@pytest.fixture(scope="module")
def model() -> OnnxAffectModel:
    return OnnxAffectModel.default()


def test_shipped_folder_holds_only_the_runtime_files() -> None:
    names = sorted(p.name for p in SHIPPED.iterdir())
    assert names == ["config.json", "context.onnx", "emotions.onnx", "model.onnx", "tokenizer.json"]
    total = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert total <= 30 * 1024 * 1024


def test_loads_offline_without_torch() -> None:
    code = (
        "import sys\n"
        "from escalate.affect import OnnxAffectModel\n"
        "s = OnnxAffectModel.default().predict(['get me a real person', ''])\n"
        "assert len(s) == 2\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, escalate.affect; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_satisfies_the_protocol(model: OnnxAffectModel) -> None:
    assert isinstance(model, AffectModel)
    assert default_model() is default_model()


def test_furious_is_more_negative_than_thankful(model: OnnxAffectModel) -> None:
    furious, thankful = model.predict(TEXTS[:2])
    assert furious.sentiment["negative"] > thankful.sentiment["negative"]
    assert thankful.sentiment["positive"] > furious.sentiment["positive"]
    assert furious.sentiment["negative"] > 0.5
    assert thankful.sentiment["positive"] > 0.5
    assert "gratitude" in thankful.emotion_labels
    assert thankful.emotions["gratitude"] > furious.emotions["gratitude"]
    assert furious.emotions["annoyance"] > thankful.emotions["annoyance"]


@pytest.mark.parametrize(
    "text",
    [
        "get me a real person",
        "I want to talk to a human agent now",
        "Can you put me through to a real human, please?",
    ],
)
def test_human_requests_are_flagged(model: OnnxAffectModel, text: str) -> None:
    assert model.predict_one(text).human_request > 0.5


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "my agent number is 42",
            marks=pytest.mark.xfail(
                reason="0.51 on a CPU without AVX-512 VNNI: the int8 encoder was quantized "
                "with 8-bit weights, whose integer products differ by CPU",
                strict=False,
            ),
        ),
        "Where is my parcel?",
        "Thank you so much, that fixed everything.",
        "I love this song",
    ],
)
def test_other_messages_are_not_human_requests(model: OnnxAffectModel, text: str) -> None:
    assert model.predict_one(text).human_request < 0.5


def test_every_label_present_and_probabilities_valid(model: OnnxAffectModel) -> None:
    scores = model.predict(TEXTS)
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert isinstance(s, AffectScores)
        assert tuple(s.sentiment) == SENTIMENT_LABELS
        assert tuple(s.emotions) == EMOTION_LABELS
        assert abs(sum(s.sentiment.values()) - 1.0) < 1e-4
        for p in [*s.sentiment.values(), *s.emotions.values(), s.human_request]:
            assert 0.0 <= p <= 1.0
        assert set(s.emotion_labels) <= set(EMOTION_LABELS)
        for label in s.emotion_labels:
            assert s.emotions[label] >= model.config["emotion_thresholds"][label]


def test_batch_and_single_agree() -> None:
    # Dynamic int8 quantization scales activations per call, so a text inside a batch and the
    # same text alone differ by quantization noise: small on average, and never enough to
    # move a clear decision to the other side of 0.5 (a borderline text may cross it).
    batched = OnnxAffectModel.default(batch_size=32)
    alone = OnnxAffectModel.default(cache_size=0)
    pairs = [(alone.predict_one(t), b) for t, b in zip(TEXTS, batched.predict(TEXTS), strict=True)]
    gaps: dict[str, list[float]] = {"human_request": [], "sentiment": [], "emotions": []}
    for one, b in pairs:
        gaps["human_request"].append(abs(one.human_request - b.human_request))
        gaps["sentiment"] += [abs(one.sentiment[k] - b.sentiment[k]) for k in SENTIMENT_LABELS]
        gaps["emotions"] += [abs(one.emotions[k] - b.emotions[k]) for k in EMOTION_LABELS]
        if not 0.2 <= one.human_request <= 0.8:
            assert (one.human_request >= 0.5) == (b.human_request >= 0.5)
    for head, values in gaps.items():
        assert sum(values) / len(values) < 0.05, head


def test_batch_size_one_matches_single_exactly() -> None:
    exact = OnnxAffectModel.default(batch_size=1, cache_size=0)
    assert exact.predict(TEXTS) == [exact.predict_one(t) for t in TEXTS]


def test_cached_scores_are_the_scores_the_model_gives() -> None:
    # one encoding per text: no sentence of a longer message is encoded on its own
    cached = OnnxAffectModel.default(cache_size=3, request_sentences=False)
    uncached = OnnxAffectModel.default(cache_size=0, request_sentences=False)
    texts = [*TEXTS[:5], *TEXTS[:5], TEXTS[2], TEXTS[2]]
    assert cached.predict(texts) == uncached.predict(texts)
    assert list(cached._cache) == list(TEXTS[2:5])  # bounded: the oldest texts went first
    assert cached.predict([TEXTS[2]]) == uncached.predict([TEXTS[2]])  # a hit is used last
    cached.predict([TEXTS[0]])
    assert list(cached._cache) == [TEXTS[4], TEXTS[2], TEXTS[0]]
    assert cached.embed(texts).tolist() == uncached.embed(texts).tolist()


def test_batched_models_keep_no_cache() -> None:
    batched = OnnxAffectModel.default(batch_size=8)
    batched.predict(TEXTS)
    assert not batched._cache


def test_bad_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        OnnxAffectModel.default(cache_size=-1)


def test_embeddings_are_unit_vectors_that_match_paraphrases(model: OnnxAffectModel) -> None:
    assert model.has_embeddings
    vectors = model.embed(
        [
            "my parcel never arrived",
            "the package I ordered has not been delivered",
            "how do I reset my password",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    same, other = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > model.topic_similarity > other
    assert model.embed([]).shape[0] == 0


def test_single_text_is_deterministic(model: OnnxAffectModel) -> None:
    assert model.predict_one(TEXTS[0]) == model.predict_one(TEXTS[0])


def test_empty_inputs(model: OnnxAffectModel) -> None:
    assert model.predict([]) == []
    assert model.predict_one("").human_request < 0.5


def test_non_string_is_a_clear_error(model: OnnxAffectModel) -> None:
    with pytest.raises(AffectModelError, match="text 1 is int"):
        model.predict(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(AffectModelError, match="sequence of texts"):
        model.predict("a single string")


def test_thread_safe(model: OnnxAffectModel) -> None:
    expected = [model.predict_one(t) for t in TEXTS[:4]]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                got = [model.predict_one(t) for t in TEXTS[:4]]
                assert got == expected
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_any_text_scores(model: OnnxAffectModel, text: str) -> None:
    s = model.predict_one(text)
    assert 0.0 <= s.human_request <= 1.0
    assert len(s.emotions) == len(EMOTION_LABELS)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(AffectModelError, match=r"not found: .*nope"):
        OnnxAffectModel.from_path(missing)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "config.json"])
def test_missing_file_is_named(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "affect"
    shutil.copytree(SHIPPED, folder)
    (folder / name).unlink()
    with pytest.raises(AffectModelError, match=name.replace(".", r"\.")):
        OnnxAffectModel.from_path(folder)


@pytest.mark.parametrize(
    "name", ["model.onnx", "context.onnx", "emotions.onnx", "tokenizer.json", "config.json"]
)
def test_corrupt_file_is_named(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "affect"
    shutil.copytree(SHIPPED, folder)
    (folder / name).write_bytes(b"\x00garbage{")
    with pytest.raises(AffectModelError, match=name.replace(".", r"\.")):
        OnnxAffectModel.from_path(folder)


def _graph(path: Path, output: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([output], feeds)[0])


def test_the_emotion_graph_scores_the_emotions_from_the_embedding() -> None:
    model = OnnxAffectModel.default(cache_size=0)
    for text in TEXTS[:3]:
        (embedding,) = model.embed([text])
        expected = _graph(
            SHIPPED / "emotions.onnx", "emotion_logits", {"embedding": embedding[None]}
        )
        _, emotions, _ = model.logits([text])
        np.testing.assert_allclose(emotions[0], expected[0], rtol=0, atol=1e-6)


def test_without_the_emotion_graph_the_encoders_emotions_are_used(tmp_path: Path) -> None:
    folder = tmp_path / "affect"
    shutil.copytree(SHIPPED, folder)
    (folder / "emotions.onnx").unlink()
    bare = OnnxAffectModel.from_path(folder, cache_size=0)
    shipped = OnnxAffectModel.default(cache_size=0)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in TEXTS[:3]:
        ids = tokenizer.encode(text).ids
        feeds = {"input_ids": np.array([ids], dtype=np.int64),
                 "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}  # fmt: skip
        expected = _graph(folder / "model.onnx", "emotion_logits", feeds)
        _, emotions, _ = bare.logits([text])
        np.testing.assert_allclose(emotions[0], expected[0], rtol=0, atol=1e-6)
        assert not np.allclose(shipped.logits([text])[1][0], emotions[0], atol=1e-3)
    # the other heads do not read the emotion graph
    assert bare.predict_one(TEXTS[2]).human_request == shipped.predict_one(TEXTS[2]).human_request


def test_config_with_wrong_labels_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "affect"
    shutil.copytree(SHIPPED, folder)
    config = json.loads((folder / "config.json").read_text())
    config["emotion_labels"] = config["emotion_labels"][:-1]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(AffectModelError, match="emotion_labels"):
        OnnxAffectModel.from_path(folder)


@pytest.mark.parametrize(
    "text",
    [
        "Sorry for the long message. Can I have a word with a manager?",
        "Thanks in advance. Let me talk to someone who works there.",
        "lol I want someone to phone me.",
        "Get me a manager. Sorry for the long message.",
    ],
)
def test_a_request_among_other_sentences_is_a_request(text: str) -> None:
    whole = OnnxAffectModel.default(request_sentences=False).predict_one(text).human_request
    assert whole < 0.5  # the whole message alone dilutes the request
    assert OnnxAffectModel.default().predict_one(text).human_request > 0.5


def test_the_request_score_is_the_highest_of_the_message_and_its_sentences() -> None:
    from escalate.affect import MessageContext
    from escalate.affect.segments import scored_sentences

    on = OnnxAffectModel.default(cache_size=0)
    off = OnnxAffectModel.default(cache_size=0, request_sentences=False)
    assert on.request_sentences and not off.request_sentences
    context = MessageContext(bot="Is there anything else I can help you with?", user="Hi.")
    for text in ("Unbelievable. Put me through to a person now.", "Ugh. No. That's all."):
        parts = [text, *scored_sentences(text)]
        alone = off.predict_in_context(parts, [context] * len(parts))
        both = on.predict_in_context([text], [context])[0]
        assert both.human_request == pytest.approx(max(s.human_request for s in alone), abs=1e-6)
        assert both.dissatisfaction == alone[0].dissatisfaction  # other heads: the message
        assert both.sentiment == alone[0].sentiment


def test_a_message_of_one_sentence_scores_as_before() -> None:
    on, off = OnnxAffectModel.default(), OnnxAffectModel.default(request_sentences=False)
    for text in ("Put me through to a person now.", "my order never came"):
        assert on.predict_one(text) == off.predict_one(text)


CLOSING = "Is there anything else I can help you with?"


@pytest.mark.parametrize(
    "text", ["Put me through to a person now.", "Unbelievable. Put me through to a person now."]
)
def test_a_request_after_a_closing_question_is_read_without_it_too(text: str) -> None:
    from escalate.affect import MessageContext

    context = [MessageContext(bot=CLOSING)]
    in_context = OnnxAffectModel.default(request_alone_margin=math.inf)
    assert in_context.request_alone_margin == math.inf
    assert in_context.predict_in_context([text], context)[0].human_request < 0.5
    shipped = OnnxAffectModel.default()
    assert shipped.request_alone_margin == pytest.approx(1.5)
    assert shipped.predict_in_context([text], context)[0].human_request > 0.5


def test_the_read_without_context_counts_less_by_its_margin() -> None:
    from escalate.affect import MessageContext

    context = [MessageContext(bot=CLOSING, user="My parcel never came.")]
    text = "Put me through to a person now."
    scores = [
        OnnxAffectModel.default(request_alone_margin=m, calibrated=False)
        .predict_in_context([text], context)[0]
        .human_request
        for m in (0.0, 1.5, 3.0, math.inf)
    ]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    raw = OnnxAffectModel.default(calibrated=False)
    alone = raw.predict_one(text).human_request  # no context: the margin plays no part
    assert scores[0] == pytest.approx(alone, abs=1e-6)
    assert raw.predict_one(text) == OnnxAffectModel.default(
        request_alone_margin=math.inf, calibrated=False
    ).predict_one(text)


@pytest.mark.parametrize("margin", ["1.5", math.nan, True])
def test_request_alone_margin_must_be_a_number(margin: object) -> None:
    with pytest.raises(ValueError, match="request_alone_margin"):
        OnnxAffectModel.default(request_alone_margin=margin)  # type: ignore[arg-type]


GREETING = "Hi, I'm the virtual assistant. How can I help you today?"


VULNERABLE = [
    "My husband passed away last week and the account is in his name.",
    "I've lost my job and I can't pay this month's bill.",
]
BILLING = "I was charged twice for the same subscription this month"


@pytest.mark.parametrize(
    "context",
    [
        None,
        MessageContext(bot=GREETING),
        MessageContext(
            bot="Could you tell me the invoice number?", user="I need to close an account"
        ),
    ],
    ids=["alone", "after a greeting", "later in the conversation"],
)
def test_vulnerable_customers_read_as_distressed_wherever_they_say_it(
    model: OnnxAffectModel, context: MessageContext | None
) -> None:
    scores = model.predict_in_context([*VULNERABLE, BILLING], [context] * 3)
    assert [s.distress >= 0.8 for s in scores] == [True, True, False]


def test_distress_is_read_in_each_sentence_too() -> None:
    closing = MessageContext(
        bot="Is there anything else I can help with?", user="Thanks, that's great."
    )
    text = "Yes. My mum passed away last week and I need to close her account."
    shipped = OnnxAffectModel.default(cache_size=0)
    whole = OnnxAffectModel.default(cache_size=0, distress_sentences=False)
    assert shipped.distress_sentences and not whole.distress_sentences
    assert whole.predict_one(text, closing).distress < 0.5  # the answer "Yes." leads
    assert shipped.predict_one(text, closing).distress >= 0.8
    # a message of one sentence is read once: the option changes nothing
    one = "My mum passed away last week and I need to close her account."
    assert shipped.predict_one(one, closing) == whole.predict_one(one, closing)


def test_a_request_with_a_typo_is_read_with_the_typo_corrected() -> None:
    text = "Transfer me to a hmuan."
    as_written = OnnxAffectModel.default(request_spelling=False)
    assert as_written.speller is None
    assert as_written.predict_one(text).human_request < 0.5
    shipped = OnnxAffectModel.default()
    assert shipped.speller is not None
    on = shipped.predict_one(text)
    assert on.human_request > 0.5
    assert on.human_request == pytest.approx(
        shipped.predict_one("Transfer me to a human.").human_request, abs=1e-6
    )
    off = as_written.predict_one(text)  # the other heads read the message as written
    assert on.sentiment == off.sentiment and on.dissatisfaction == off.dissatisfaction
