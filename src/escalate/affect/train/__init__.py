"""Train, export and calibrate the affect model (needs the ``train`` extra).

One multi-task network (:mod:`~escalate.affect.train.network`): the all-MiniLM-L6-v2
encoder with mean pooling, sentiment and emotion heads on the customer's message, and a
context head that reads the message with the bot's previous message and the customer's
previous message for human request, dissatisfaction and distress. The examples and their
sources are described in :mod:`~escalate.affect.train.examples`.

Training runs in two stages: a teacher pass on GoEmotions alone, whose sentiment and
emotion predictions become soft targets for every other example; then the multi-task
pass over everything, from the teacher's weights. After each epoch the fp32 network is
scored on the dev sets (:mod:`~escalate.affect.train.evaluate`). At the end the run is
exported (:func:`export_run`): the ONNX graphs, the int8 encoder, the calibration of
every head fitted on the dev sets with the int8 model's own scores, the emotion
thresholds and the topic similarity.

The run folder receives ``model.onnx``, ``context.onnx``, ``tokenizer.json`` and
``config.json`` (the runtime model), ``model_fp32.onnx`` and ``fp32/model.safetensors``
(the network before quantization), ``split.json`` (which dataset rows went where) and
``train_log.jsonl`` (one line of dev figures per epoch).

Everything torch-related is imported inside this package only, and only on first use of
a name that needs it: ``escalate.affect`` never imports it, and the torch-free modules
(:mod:`~escalate.affect.train.examples`, :mod:`~escalate.affect.train.evaluate`) serve the
benchmarks and tests without the ``train`` extra.

Examples
--------
>>> from escalate.affect.train import TrainConfig, train_affect  # doctest: +SKIP
>>> train_affect(TrainConfig(out_dir=Path("runs/affect")))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from escalate.affect.train.export import QUANTIZATION, build_runtime
    from escalate.affect.train.fit import predict_torch
    from escalate.affect.train.network import AffectNet
    from escalate.affect.train.run import (
        TrainConfig,
        base_model_path,
        export_run,
        load_torch_model,
        train_affect,
    )

__all__ = [
    "QUANTIZATION",
    "AffectNet",
    "TrainConfig",
    "base_model_path",
    "build_runtime",
    "export_run",
    "load_torch_model",
    "predict_torch",
    "train_affect",
]

_WHERE = {
    "QUANTIZATION": "export",
    "build_runtime": "export",
    "predict_torch": "fit",
    "AffectNet": "network",
    "TrainConfig": "run",
    "base_model_path": "run",
    "export_run": "run",
    "load_torch_model": "run",
    "train_affect": "run",
}


def __getattr__(name: str) -> Any:
    """Import the torch-based names on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
