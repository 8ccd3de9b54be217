"""Training and prediction with the torch network: batches, losses, the optimiser loop,
distillation of soft targets, and batched prediction for evaluation."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from escalate.affect.base import CONTEXT_HEADS, EMOTION_LABELS, SENTIMENT_LABELS
from escalate.affect.train.examples import Example
from escalate.affect.train.network import AffectNet

__all__ = [
    "Losses",
    "Predictions",
    "add_context_losses",
    "distill",
    "example_targets",
    "fit",
    "predict_torch",
]


@dataclass(frozen=True)
class Losses:
    """How the heads' losses are weighed (each averages over the rows with a target)."""

    emotion: float = 5.0
    human_request: float = 1.0
    human_request_positive: float = 4.0
    dissatisfaction: float = 2.0
    distress: float = 1.0
    distress_positive: float = 2.0


@dataclass(frozen=True)
class Predictions:
    """Logits from the torch network: sentiment ``(n, 3)``, emotions ``(n, 28)``, the
    context heads ``(n, 3)`` in :data:`CONTEXT_HEADS` order; and the embeddings."""

    sentiment: np.ndarray
    emotions: np.ndarray
    context: np.ndarray
    embedding: np.ndarray

    def head(self, name: str) -> np.ndarray:
        """One context head's logits, ``(n,)``."""
        return self.context[:, CONTEXT_HEADS.index(name)]

    @property
    def sentiment_probs(self) -> np.ndarray:
        z = np.exp(self.sentiment - self.sentiment.max(axis=1, keepdims=True))
        out: np.ndarray = z / z.sum(axis=1, keepdims=True)
        return out

    @property
    def emotion_probs(self) -> np.ndarray:
        out: np.ndarray = 1.0 / (1.0 + np.exp(-self.emotions))
        return out


def _encode(
    model: AffectNet, tokenizer: Any, texts: Sequence[str], max_length: int
) -> torch.Tensor:
    enc = tokenizer(
        [t or " " for t in texts],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    return model.pool(enc["input_ids"], enc["attention_mask"])


def _forward(
    model: AffectNet, tokenizer: Any, examples: Sequence[Example], max_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentiment, emotion and context logits, and the embeddings, of ``examples``.

    Every distinct text of the batch is encoded once. The customers' messages are encoded
    with gradients; texts that are only context (the bot's messages, earlier customer
    messages) without: at run time a context is an embedding the encoder made at an
    earlier turn, and training through it would cost a backward pass for each of them.
    """
    current = list(dict.fromkeys(e.text for e in examples))
    seen = set(current)
    context = [
        t
        for t in dict.fromkeys(t for e in examples for t in (e.bot, e.user) if t is not None)
        if t not in seen
    ]
    pooled = _encode(model, tokenizer, current, max_length)
    if context:
        with torch.no_grad():
            pooled = torch.cat([pooled, _encode(model, tokenizer, context, max_length)], dim=0)
    return _heads(model, pooled, {t: i for i, t in enumerate([*current, *context])}, examples)


def _heads(
    model: AffectNet, pooled: torch.Tensor, row: dict[str, int], examples: Sequence[Example]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every head of ``examples`` from the pooled states of their texts (``row`` gives
    each text's row of ``pooled``): sentiment, emotion and context logits, embeddings."""
    embedding = model.normalise(pooled)
    current = torch.tensor([row[e.text] for e in examples], dtype=torch.long)
    sentiment, emotions = model.message_heads(pooled[current])
    padded = torch.cat([embedding, torch.zeros(1, embedding.shape[1])], dim=0)
    missing = len(row)
    bot = torch.tensor([row[e.bot] if e.bot is not None else missing for e in examples])
    user = torch.tensor([row[e.user] if e.user is not None else missing for e in examples])
    context = torch.stack([padded[bot], padded[user]], dim=1)
    context_mask = torch.stack([bot != missing, user != missing], dim=1).to(embedding.dtype)
    logits = model.context(embedding[current], context, context_mask)
    return sentiment, emotions, logits, embedding[current]


def example_targets(examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    """The targets of ``examples`` and where each is given (``*_mask``), as tensors."""
    n = len(examples)
    out = {
        "sentiment": torch.zeros(n, len(SENTIMENT_LABELS)),
        "emotions": torch.zeros(n, len(EMOTION_LABELS)),
        "context": torch.zeros(n, len(CONTEXT_HEADS)),
        "sentiment_mask": torch.zeros(n),
        "emotions_mask": torch.zeros(n),
        "context_mask": torch.zeros(n, len(CONTEXT_HEADS)),
    }
    for i, e in enumerate(examples):
        if e.sentiment is not None:
            out["sentiment"][i] = torch.tensor(e.sentiment)
            out["sentiment_mask"][i] = 1
        if e.emotions is not None:
            out["emotions"][i] = torch.tensor(e.emotions)
            out["emotions_mask"][i] = 1
        for k, head in enumerate(CONTEXT_HEADS):
            value = getattr(e, head)
            if value is not None:
                out["context"][i, k] = value
                out["context_mask"][i, k] = 1
    return out


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def _loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    targets: dict[str, torch.Tensor],
    losses: Losses,
) -> torch.Tensor:
    sentiment, emotions, context, _ = outputs
    bce = nn.functional.binary_cross_entropy_with_logits
    total = _masked_mean(
        -(targets["sentiment"] * torch.log_softmax(sentiment, -1)).sum(-1),
        targets["sentiment_mask"],
    )
    emo = bce(emotions, targets["emotions"], reduction="none").mean(-1)
    total = total + losses.emotion * _masked_mean(emo, targets["emotions_mask"])
    return add_context_losses(total, context, targets["context"], targets["context_mask"], losses)


def add_context_losses(
    total: torch.Tensor,
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    losses: Losses,
    heads: Sequence[str] = CONTEXT_HEADS,
) -> torch.Tensor:
    """``total`` plus the weighed loss of each context head in ``heads`` (in
    :data:`CONTEXT_HEADS` order; each averages over the rows with a target, positives
    weighed up as :class:`Losses` says)."""
    weights = {
        "human_request": (losses.human_request, losses.human_request_positive),
        "dissatisfaction": (losses.dissatisfaction, 1.0),
        "distress": (losses.distress, losses.distress_positive),
    }
    bce = nn.functional.binary_cross_entropy_with_logits
    for k, head in enumerate(CONTEXT_HEADS):
        if head not in heads:
            continue
        weight, positive = weights[head]
        y = targets[:, k]
        per_row = bce(logits[:, k], y, reduction="none") * (1.0 + (positive - 1.0) * y)
        total = total + weight * _masked_mean(per_row, mask[:, k])
    return total


def _batches(
    examples: Sequence[Example], lengths: Sequence[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar length (less padding), in shuffled order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def fit(
    model: AffectNet,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    epochs: float,
    batch_size: int,
    lr: float,
    head_lr: float,
    weight_decay: float,
    warmup: float,
    max_length: int,
    seed: int,
    losses: Losses,
    name: str,
    progress: bool = True,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> None:
    """Train ``model`` on ``examples`` for ``epochs`` passes (AdamW, warm-up, linear decay)."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

    lengths = [len(ids) for ids in tokenizer([e.text for e in examples])["input_ids"]]
    total_steps = max(1, round(math.ceil(len(examples) / batch_size) * epochs))
    params = list(model.named_parameters())
    optim = torch.optim.AdamW(
        [
            {"params": [p for n, p in params if n.startswith("encoder.")], "lr": lr},
            {"params": [p for n, p in params if not n.startswith("encoder.")], "lr": head_lr},
        ],
        weight_decay=weight_decay,
    )
    warm = max(1, int(total_steps * warmup))

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    rng = random.Random(seed)
    step = epoch = 0
    while step < total_steps:
        epoch += 1
        model.train()
        batches = _batches(examples, lengths, batch_size, rng)[: total_steps - step]
        running = 0.0
        bar = tqdm(
            total=len(batches),
            disable=not progress,
            desc=f"{name} epoch {epoch}",
            unit="batch",
            dynamic_ncols=True,
        )
        for b_i, batch_idx in enumerate(batches):
            batch = [examples[i] for i in batch_idx]
            loss = _loss(
                _forward(model, tokenizer, batch, max_length), example_targets(batch), losses
            )
            optim.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call,unused-ignore]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            value = loss.item()
            running = 0.98 * running + 0.02 * value if b_i else value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}")
        bar.close()
        if on_epoch_end is not None:
            on_epoch_end(epoch, running)


@torch.no_grad()
def predict_torch(
    model: AffectNet,
    tokenizer: Any,
    examples: Sequence[Example] | Sequence[str],
    max_length: int,
    batch_size: int = 128,
) -> Predictions:
    """Probabilities of every head for ``examples`` (texts, or examples with context)."""
    model.eval()
    items = [e if isinstance(e, Example) else Example(e) for e in examples]
    texts = list(dict.fromkeys(t for e in items for t in (e.text, e.bot, e.user) if t is not None))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    pooled = torch.zeros(len(texts), model.sentiment.in_features)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        pooled[idx] = _encode(model, tokenizer, [texts[i] for i in idx], max_length)
    sentiment, emotions, logits, embedding = _heads(
        model, pooled, {t: i for i, t in enumerate(texts)}, items
    )
    return Predictions(sentiment.numpy(), emotions.numpy(), logits.numpy(), embedding.numpy())


def distill(
    model: AffectNet, tokenizer: Any, examples: Sequence[Example], max_length: int
) -> list[Example]:
    """Give examples without sentiment or emotion targets the model's own predictions.

    Only GoEmotions carries emotion labels. Training the encoder on requests, situations
    and task dialogues alone would push those messages into a region the emotion head
    never saw; scoring them with the emotion-trained teacher and training on its soft
    targets keeps sentiment and emotions sound on customer-service messages.
    """
    todo = sorted({e.text for e in examples if e.sentiment is None or e.emotions is None})
    predictions = predict_torch(model, tokenizer, todo, max_length)
    sentiment, emotions = predictions.sentiment_probs, predictions.emotion_probs
    by_text = {
        t: (tuple(sentiment[k].tolist()), tuple(emotions[k].tolist())) for k, t in enumerate(todo)
    }
    out = []
    for e in examples:
        if e.sentiment is None or e.emotions is None:
            soft_sentiment, soft_emotions = by_text[e.text]
            e = replace(
                e,
                sentiment=e.sentiment if e.sentiment is not None else soft_sentiment,
                emotions=e.emotions if e.emotions is not None else soft_emotions,
            )
        out.append(e)
    return out
