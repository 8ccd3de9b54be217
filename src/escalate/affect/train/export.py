"""From torch weights to the runtime model folder: ONNX graphs, int8 quantization.

The runtime folder holds two graphs, and may hold a third:

``model.onnx`` (int8)
    ``input_ids``, ``attention_mask`` in; ``sentiment_logits``, ``emotion_logits`` and
    ``embedding`` (the L2-normalised mean-pooled encoder state) out. One message at a time.
``context.onnx`` (fp32, about 1 MB)
    ``embedding`` (of the customer's message), ``context`` (the embeddings of the bot's
    previous message and the customer's previous message) and ``context_mask`` in;
    ``context_logits`` (human request, dissatisfaction, distress) out.
``emotions.onnx`` (fp32, optional, 45 kB)
    ``embedding`` in, ``emotion_logits`` out: an emotion head trained again on the
    runtime encoder's embeddings (:mod:`escalate.affect.train.head`); where present, its
    logits replace the encoder graph's.

Splitting the network this way lets the runtime encode every message once and keep its
embedding: the bot's message is encoded when it is sent, the customer's previous message
was encoded at its own turn, and a customer turn costs one encoder pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from escalate.affect.train.network import AffectNet, ContextHead, SplitContextHead

__all__ = [
    "CONTEXT_OUTPUTS",
    "MODEL_OUTPUTS",
    "QUANTIZATION",
    "build_runtime",
    "export_context_graph",
    "export_emotion_graph",
    "export_graphs",
    "quantize",
]

MODEL_OUTPUTS = ("sentiment_logits", "emotion_logits", "embedding")
CONTEXT_OUTPUTS = ("context_logits",)

#: How the exported encoder graph becomes the runtime model: whether attention, layer
#: norms and GELU are first fused into ONNX Runtime's transformer kernels, which operators
#: get int8 weights, whether each output channel of a weight matrix gets its own scale,
#: and the nodes (by a part of their name) whose weights stay fp32. Chosen on the dev
#: splits by closeness to the fp32 model (``benchmarks/quantization.py``; see the model
#: card): the first layer's feed-forward block, which turns the embeddings of rare and
#: misspelt words into the rest of the network's input, moves the most when quantized.
QUANTIZATION: dict[str, Any] = {
    "fused": False,
    "op_types": ["MatMul", "Gather"],
    "per_channel": True,
    "keep_fp32": ["/layer.0/intermediate/", "/layer.0/output/"],
}


class _Encoder(nn.Module):
    def __init__(self, model: AffectNet) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.model.pool(input_ids, attention_mask)
        return (
            self.model.sentiment(pooled),
            self.model.emotions(pooled),
            self.model.normalise(pooled),
        )


class _Context(nn.Module):
    def __init__(self, head: ContextHead | SplitContextHead) -> None:
        super().__init__()
        self.head = head

    def forward(
        self, embedding: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor
    ) -> torch.Tensor:
        out: torch.Tensor = self.head(embedding, context, context_mask)
        return out


def export_graphs(model: AffectNet, encoder_path: Path, context_path: Path) -> None:
    """Export the encoder graph and the context graph (fp32) of ``model`` (eval mode)."""
    model.eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "seq"},
        "attention_mask": {0: "batch", 1: "seq"},
    }
    axes.update({name: {0: "batch"} for name in MODEL_OUTPUTS})
    torch.onnx.export(
        _Encoder(model).eval(),
        (ids, torch.ones_like(ids)),
        str(encoder_path),
        input_names=["input_ids", "attention_mask"],
        output_names=list(MODEL_OUTPUTS),
        dynamic_axes=axes,
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )
    export_context_graph(model.context, context_path, model.sentiment.in_features)


def export_context_graph(head: ContextHead | SplitContextHead, path: Path, dim: int) -> None:
    """Export the context head (eval mode) as the fp32 context graph, for embeddings of
    size ``dim``."""
    head.eval()
    axes = {
        name: {0: "batch"} for name in ("embedding", "context", "context_mask", *CONTEXT_OUTPUTS)
    }
    torch.onnx.export(
        _Context(head).eval(),
        (torch.zeros(2, dim), torch.zeros(2, 2, dim), torch.ones(2, 2)),
        str(path),
        input_names=["embedding", "context", "context_mask"],
        output_names=list(CONTEXT_OUTPUTS),
        dynamic_axes=axes,
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


def export_emotion_graph(head: nn.Linear, path: Path) -> None:
    """Export a linear emotion head over embeddings as the fp32 emotion graph."""
    head.eval()
    torch.onnx.export(
        head,
        (torch.zeros(2, head.in_features),),
        str(path),
        input_names=["embedding"],
        output_names=["emotion_logits"],
        dynamic_axes={"embedding": {0: "batch"}, "emotion_logits": {0: "batch"}},
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


def fuse(fp32_path: Path, fused_path: Path, hidden: int = 384, heads: int = 12) -> None:
    """Fuse attention, layer norms and GELU into ONNX Runtime's transformer kernels."""
    from onnxruntime.transformers.optimizer import (  # type: ignore[import-untyped,unused-ignore]
        optimize_model,
    )

    optimized = optimize_model(
        str(fp32_path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    )
    optimized.save_model_to_file(str(fused_path))


def quantize(
    fp32_path: Path,
    int8_path: Path,
    *,
    op_types: Sequence[str] = ("MatMul", "Gather"),
    per_channel: bool = False,
    keep_fp32: Sequence[str] = (),
) -> None:
    """Dynamic int8 quantization of the weights with onnxruntime.

    ``op_types`` get int8 weights (activations are quantized per call); ``per_channel``
    gives each output channel of a weight matrix its own scale; nodes whose name contains
    one of ``keep_fp32`` keep fp32 weights. The heads are ``Gemm`` nodes, which dynamic
    quantization leaves in fp32.
    """
    import onnx
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        QuantType,
        quantize_dynamic,
    )

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    exclude = [n.name for n in graph.node if any(part in n.name for part in keep_fp32)]
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(op_types),
        per_channel=per_channel,
        nodes_to_exclude=exclude,
        # Shape inference cannot type the outputs of ONNX Runtime's fused kernels.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def build_runtime(fp32_path: Path, out_path: Path, settings: Mapping[str, Any]) -> None:
    """Turn the fp32 encoder graph at ``fp32_path`` into a runtime graph at ``out_path``.

    ``settings`` has the keys of :data:`QUANTIZATION`.
    """
    source = fp32_path
    fused = out_path.with_name(out_path.stem + "_fused.onnx")
    try:
        if settings.get("fused", False):
            fuse(fp32_path, fused)
            source = fused
        quantize(
            source,
            out_path,
            op_types=settings.get("op_types", ("MatMul", "Gather")),
            per_channel=bool(settings.get("per_channel", False)),
            keep_fp32=settings.get("keep_fp32", ()),
        )
    finally:
        fused.unlink(missing_ok=True)
