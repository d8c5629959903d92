"""Lower-layer hidden states on disk, computed once per distinct text and reused by every run that can.

Training only the top layers of a LENS model leaves the lower ones frozen, so their output for
a text never changes: :func:`fill_caches` runs them once per distinct token sequence and a
:class:`HiddenCache` keeps the result, unpadded, for every later step, epoch, arm and rerun.

A cache is a folder named by what decides its contents: the lower layers' weights (a hash of
the embeddings and layers ``0:layer`` in float32), the layer, the attention (bidirectional or
causal) and the storage dtype. Inside, entries are keyed by a hash of the token ids, which
covers the text, the instruction, the truncation length and the tokenizer. So a changed model
or text can never be served stale vectors: it looks in another folder, or for another key.

    cache/lower-<hash>/meta.json         what the folder holds (checked on open)
    cache/lower-<hash>/index.jsonl       one line per entry: key, shard, first row, rows
    cache/lower-<hash>/shard-00000.bin   raw rows of ``hidden`` values (bf16 / fp16 / fp32)

Shards are appended to and the index line is written after its rows are on disk, so a killed
build loses at most its last batch (a torn last index line is dropped); any other damage is a
:class:`LensModelError` that names the file and says to delete the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._errors import LensInputError, LensModelError
from .._model.lens_model import LensModel
from ._split import LowerStack, decoder_layers

__all__ = ["HiddenCache", "fill_caches", "lower_fingerprint", "sequence_key", "STORAGE_DTYPES"]

STORAGE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
_NUMPY = {"bf16": np.uint16, "fp16": np.float16, "fp32": np.float32}  # bf16 rows are kept as raw 16-bit words
_SHARD_BYTES = 1 << 31
_FORMAT = 1


def lower_fingerprint(model: LensModel, layer: int) -> str:
    """SHA-256 (24 hex digits) of the embeddings and decoder layers ``0:layer`` in float32, and the attention."""
    digest = hashlib.sha256(f"attention={model.config.attention};layer={layer}".encode())
    modules = [("embed", model.backbone.get_input_embeddings())]
    modules += [(f"layer{i}", block) for i, block in enumerate(list(decoder_layers(model.backbone))[:layer])]
    for prefix, module in modules:
        for name, tensor in module.state_dict().items():
            data = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
            digest.update(f"{prefix}.{name}:{tuple(data.shape)}".encode())
            digest.update(data.numpy().tobytes())
    return digest.hexdigest()[:24]


def sequence_key(ids: Sequence[int]) -> str:
    """The cache key of one token sequence (its ids decide the lower layers' output)."""
    return hashlib.sha1(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:20]


class HiddenCache:
    """The hidden states after ``layer`` decoder layers of one model, one entry per token sequence.

    Open it with the model (its lower layers are hashed; the folder under ``root`` follows), or
    let :func:`fill_caches` do both. ``get`` returns ``[tokens, hidden]`` tensors in the storage
    dtype; ``missing`` says which sequences still need computing.
    """

    def __init__(self, root: str | Path, model: LensModel, layer: int, *, storage: str = "bf16",
                 fingerprint: str | None = None) -> None:
        if storage not in STORAGE_DTYPES:
            raise LensInputError(f"storage must be one of {sorted(STORAGE_DTYPES)}, got {storage!r}.")
        self.layer, self.storage, self.hidden = layer, storage, model.config.hidden_size
        self.fingerprint = fingerprint or lower_fingerprint(model, layer)
        self.meta = {"format": _FORMAT, "fingerprint": self.fingerprint, "layer": layer, "storage": storage,
                     "hidden_size": self.hidden, "attention": model.config.attention}
        name = hashlib.sha256(json.dumps(self.meta, sort_keys=True).encode()).hexdigest()[:16]
        self.directory = Path(root) / f"lower-{name}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_meta()
        self._index: dict[str, tuple[int, int, int]] = {}
        self._maps: dict[int, np.memmap] = {}
        self._read_index()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, ids: Sequence[int]) -> bool:
        return sequence_key(ids) in self._index

    def _check_meta(self) -> None:
        path = self.directory / "meta.json"
        if not path.is_file():
            path.write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")
            return
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LensModelError(f"The hidden-state cache {path} is unreadable ({exc}); delete {self.directory} "
                                 "to rebuild it.") from exc
        if found != self.meta:
            raise LensModelError(f"The hidden-state cache {self.directory} was made for {found}, not {self.meta}; "
                                 "delete the folder to rebuild it.")

    def _read_index(self) -> None:
        path = self.directory / "index.jsonl"
        if not path.is_file():
            return
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        if lines and lines[-1] != b"":  # a torn last line: the build was killed while writing it
            lines = lines[:-1]
            self._truncate_index(path, len(raw) - len(raw.rsplit(b"\n", 1)[-1]))
        sizes: dict[int, int] = {}
        row_bytes = self.hidden * np.dtype(_NUMPY[self.storage]).itemsize
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                entry = json.loads(line)
                key, shard, start, rows = entry["k"], int(entry["s"]), int(entry["o"]), int(entry["n"])
            except (ValueError, KeyError, TypeError) as exc:
                raise LensModelError(f"Line {number} of the hidden-state cache index {path} is corrupt ({exc}); "
                                     f"delete {self.directory} to rebuild the cache.") from None
            if shard not in sizes:
                shard_path = self._shard_path(shard)
                sizes[shard] = shard_path.stat().st_size // row_bytes if shard_path.is_file() else 0
            if start < 0 or rows < 1 or start + rows > sizes[shard]:
                raise LensModelError(f"The hidden-state cache {self.directory} is corrupt: line {number} of its index "
                                     f"points past the end of {self._shard_path(shard).name}; delete the folder to "
                                     "rebuild the cache.")
            self._index[key] = (shard, start, rows)

    @staticmethod
    def _truncate_index(path: Path, size: int) -> None:
        with path.open("r+b") as handle:
            handle.truncate(size)

    def _shard_path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:05d}.bin"

    def missing(self, sequences: Sequence[Sequence[int]]) -> list[int]:
        """Positions in ``sequences`` whose hidden states are not stored yet (each distinct one once)."""
        seen: set[str] = set()
        todo = []
        for position, ids in enumerate(sequences):
            key = sequence_key(ids)
            if key not in self._index and key not in seen:
                seen.add(key)
                todo.append(position)
        return todo

    def put(self, sequences: Sequence[Sequence[int]], hidden: Sequence[Tensor]) -> None:
        """Store ``[tokens, hidden]`` states for each sequence (rows on disk first, then the index lines)."""
        if not sequences:
            return
        itemsize = np.dtype(_NUMPY[self.storage]).itemsize
        shard = max((s for s, _, _ in self._index.values()), default=0)
        path = self._shard_path(shard)
        if path.is_file() and path.stat().st_size >= _SHARD_BYTES:
            shard, path = shard + 1, self._shard_path(shard + 1)
        entries: list[tuple[str, int, int, int]] = []
        row_bytes = self.hidden * itemsize
        with path.open("ab") as handle:
            size = path.stat().st_size
            start = size // row_bytes
            if size % row_bytes:
                handle.truncate(start * row_bytes)  # a partial row left by a killed write
            for ids, states in zip(sequences, hidden):
                if states.shape != (len(ids), self.hidden):
                    raise LensInputError(f"Hidden states of shape {tuple(states.shape)} for {len(ids)} tokens; "
                                         f"expected ({len(ids)}, {self.hidden}).")
                data = states.detach().to("cpu", STORAGE_DTYPES[self.storage]).contiguous()
                if self.storage == "bf16":
                    data = data.view(torch.int16)
                handle.write(data.numpy().tobytes())
                entries.append((sequence_key(ids), shard, start, len(ids)))
                start += len(ids)
            handle.flush()
            os.fsync(handle.fileno())
        self._maps.pop(shard, None)
        with (self.directory / "index.jsonl").open("a") as index:
            index.write("".join(json.dumps({"k": k, "s": s, "o": o, "n": n}) + "\n" for k, s, o, n in entries))
        for key, shard_, first, rows in entries:
            self._index[key] = (shard_, first, rows)

    def get(self, ids: Sequence[int]) -> Tensor:
        """The stored ``[tokens, hidden]`` states of ``ids`` (a :class:`KeyError` names a missing one)."""
        key = sequence_key(ids)
        if key not in self._index:
            raise KeyError(f"No hidden states for this {len(ids)}-token sequence in {self.directory}; "
                           "run fill_caches first.")
        shard, start, rows = self._index[key]
        if rows != len(ids):
            raise LensModelError(f"The hidden-state cache {self.directory} holds {rows} rows for a {len(ids)}-token "
                                 "sequence: it is corrupt; delete the folder to rebuild it.")
        array = self._map(shard)[start : start + rows]
        tensor = torch.from_numpy(np.array(array))
        return tensor.view(torch.bfloat16) if self.storage == "bf16" else tensor

    def _map(self, shard: int) -> np.memmap:
        if shard not in self._maps:
            path = self._shard_path(shard)
            rows = path.stat().st_size // (self.hidden * np.dtype(_NUMPY[self.storage]).itemsize)
            self._maps[shard] = np.memmap(path, dtype=_NUMPY[self.storage], mode="r", shape=(rows, self.hidden))
        return self._maps[shard]


def fill_caches(model: LensModel, caches: Sequence[HiddenCache], sequences: Sequence[Sequence[int]], *,
                dtype: torch.dtype | None = None, batch_tokens: int = 4096,
                progress: Callable[[int, int], object] | None = None) -> int:
    """Compute and store, in one pass per batch, every sequence missing from any of ``caches``.

    The caches may stop at different layers of one model (e.g. 26, 28 and 30): each batch runs the
    lower layers once, saving the states at each cache's layer on the way up. Sequences are
    batched by length (``batch_tokens`` padded tokens a batch) so little is spent on padding.
    ``dtype`` is the forward's dtype (bf16 where the CPU has native bf16). Returns how many
    sequences were computed. ``progress(done, total)`` is called after each batch.
    """
    caches = sorted(caches, key=lambda c: c.layer)
    todo = sorted({p for cache in caches for p in cache.missing(sequences)}, key=lambda p: -len(sequences[p]))
    if not todo:
        return 0
    stacks, start = [], 0
    for cache in caches:
        stacks.append(LowerStack(model, cache.layer, start=start, dtype=dtype))
        start = cache.layer
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else model.tokenizer.eos_token_id
    done, position = 0, 0
    while position < len(todo):
        count = max(1, batch_tokens // max(1, len(sequences[todo[position]])))  # longest first
        chunk = todo[position : position + count]
        width = max(len(sequences[p]) for p in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, p in enumerate(chunk):
            ids[row, : len(sequences[p])] = torch.as_tensor(sequences[p])
            mask[row, : len(sequences[p])] = 1
        hidden = None
        ids, mask = ids.to(model.head.weight.device), mask.to(model.head.weight.device)
        for stack, cache in zip(stacks, caches):
            hidden = stack(ids if stack.start == 0 else None, mask, hidden)
            wanted = [row for row, p in enumerate(chunk) if sequences[p] not in cache]
            cache.put([sequences[chunk[r]] for r in wanted],
                      [hidden[r, : len(sequences[chunk[r]])] for r in wanted])
        position += len(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, len(todo))
    return done
