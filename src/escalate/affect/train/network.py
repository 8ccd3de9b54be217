"""The affect network: a sentence encoder, two message heads and a context head.

``encoder``
    all-MiniLM-L6-v2, mean-pooled over the message's tokens. Every message (the
    customer's and the bot's) is encoded on its own, so an encoding can be cached and
    reused at later turns: a conversation costs one encoder pass per message.
``sentiment``, ``emotions``
    Linear heads on the pooled state of the customer's message alone.
``context``
    :class:`ContextHead`: a small network over the L2-normalised embeddings of the
    customer's message, the bot's previous message and the customer's previous message
    (each present or not), with their element-wise products, which gives the three
    heads that depend on what came before: human request, dissatisfaction and distress.

Examples
--------
>>> import torch
>>> head = ContextHead(dim=8, hidden=4, outputs=3)
>>> message = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
>>> head(message, torch.zeros(2, 2, 8), torch.zeros(2, 2)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from escalate.affect.base import CONTEXT_HEADS, EMOTION_LABELS, SENTIMENT_LABELS

__all__ = ["AffectNet", "ContextHead", "SplitContextHead"]


class ContextHead(nn.Module):
    """Human request, dissatisfaction and distress from a message and its context.

    Inputs are L2-normalised embeddings: ``message`` ``(n, dim)``, ``context`` ``(n, 2,
    dim)`` (the bot's previous message, the customer's previous message) and
    ``context_mask`` ``(n, 2)`` (1 where that message exists). Embeddings are scaled by
    ``sqrt(dim)`` so their components, and the products, are of order one.
    """

    def __init__(self, dim: int, hidden: int, outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.scale = math.sqrt(dim)
        self.inner = nn.Linear(5 * dim + 2, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, outputs)

    def forward(
        self, message: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor
    ) -> torch.Tensor:
        m = message * self.scale
        bot = context[:, 0] * context_mask[:, 0:1] * self.scale
        user = context[:, 1] * context_mask[:, 1:2] * self.scale
        features = torch.cat([m, bot, user, m * bot, m * user, context_mask], dim=-1)
        out: torch.Tensor = self.out(self.dropout(self.act(self.inner(features))))
        return out


class SplitContextHead(nn.Module):
    """A :class:`ContextHead` whose named outputs come from heads of their own.

    ``branches`` maps a context head's name (:data:`~escalate.affect.base.CONTEXT_HEADS`)
    to a one-output :class:`ContextHead` that gives that column; the other columns are
    ``base``'s. Training a branch alone leaves the other heads' outputs exactly as they
    were (:func:`~escalate.affect.train.head.refit_context_head` with ``trunk=False``).
    """

    def __init__(self, base: ContextHead, branches: dict[str, ContextHead]) -> None:
        super().__init__()
        unknown = sorted(set(branches) - set(CONTEXT_HEADS))
        if unknown:
            raise ValueError(f"branches must be among {', '.join(CONTEXT_HEADS)}, got {unknown}")
        self.base = base
        self.branches = nn.ModuleDict(branches)

    def forward(
        self, message: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor
    ) -> torch.Tensor:
        shared = self.base(message, context, context_mask)
        columns = [
            self.branches[name](message, context, context_mask)
            if name in self.branches
            else shared[:, k : k + 1]
            for k, name in enumerate(CONTEXT_HEADS)
        ]
        return torch.cat(columns, dim=-1)


class AffectNet(nn.Module):
    """Encoder, sentiment and emotion heads on a message, and the :class:`ContextHead`."""

    def __init__(
        self, encoder: nn.Module, hidden: int, context_hidden: int = 128, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, len(SENTIMENT_LABELS))
        self.emotions = nn.Linear(hidden, len(EMOTION_LABELS))
        self.context = ContextHead(hidden, context_hidden, len(CONTEXT_HEADS), dropout)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the encoder's last hidden states over the real (unmasked) tokens."""
        hidden: torch.Tensor = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled: torch.Tensor = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return pooled

    @staticmethod
    def normalise(pooled: torch.Tensor) -> torch.Tensor:
        """The L2-normalised embedding of pooled states."""
        out: torch.Tensor = pooled / pooled.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return out

    def message_heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentiment and emotion logits of messages from their pooled states."""
        dropped = self.dropout(pooled)
        return self.sentiment(dropped), self.emotions(dropped)
