"""``train``: the one entry point of training. It reads the data and the model, then runs the paper's recipe
(LoRA over the whole backbone, :mod:`._trainer`) or, with ``TrainConfig(train_layers=N)``, the cheap mode for a
CPU (the top layers over cached lower-layer outputs, :mod:`._cached`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .._model.lens_model import LensModel
from ._cached import train_cached
from ._config import TrainConfig, TrainResult
from ._data import Example, load_examples
from ._trainer import amp_dtype, is_examples, train_lora

__all__ = ["train"]


def train(
    model: LensModel | str | Path,
    data: str | Path | Sequence[str | Path] | Sequence[Example],
    output_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = True,
    merge: bool = True,
    show_progress: bool = False,
    stop_after_step: int | None = None,
) -> TrainResult:
    """Fine-tune a LENS model with InfoNCE and LoRA; resume from ``output_dir``'s checkpoint if there is one.

    With ``config.train_layers`` set, only the top layers and the head train, over cached
    lower-layer outputs (the cheap mode for a CPU); ``adapter_dir`` is then ``output_dir/top``:
    the trained layers and head (fp16), the small part to keep.

    Writes ``output_dir/checkpoint`` (every ``save_every`` steps and at the end),
    ``output_dir/adapter`` (LoRA adapter + head + config, fp16: the small artifacts) and, with
    ``merge``, ``output_dir/model``: a plain LENS model that :class:`LensEncoder` loads like any other.
    ``stop_after_step`` pauses the run there (checkpoint written; the schedule still aims at the
    full length): call again with the same arguments to go on.
    """
    config = config or TrainConfig()
    output_dir = Path(output_dir)
    examples = list(data) if is_examples(data) else load_examples(data)  # type: ignore[arg-type]
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    amp = amp_dtype(config.precision, device)
    if not isinstance(model, LensModel):  # a folder, a hub id, or a name: "default", "default-wordnet-v1"...
        from .._model.default import resolve_model_name

        model = LensModel.from_pretrained(resolve_model_name(model))
    if config.attention is not None:
        model.config = model.config.replace(attention=config.attention)
    if config.center_head:  # on a resumed run the checkpoint's head replaces this anyway
        with torch.no_grad():
            model.head.weight -= model.head.weight.mean(dim=0, keepdim=True)
    if config.train_layers is not None:
        return train_cached(model, examples, output_dir, config, device, amp, resume=resume, merge=merge,
                            show_progress=show_progress, stop_after_step=stop_after_step)
    return train_lora(model, examples, output_dir, config, device, amp, resume=resume, merge=merge,
                      show_progress=show_progress, stop_after_step=stop_after_step)
