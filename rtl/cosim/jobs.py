"""Tile jobs as a case file for the array benches (``jobs.npz``, no pickles), and lane packing.

pytest builds the jobs with :mod:`rtl.host`, adds the cycle model's per-tile cycles
and writes them here; the cocotb bench (and the amaranth.sim bench) read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1


def pack(values, width: int) -> int:
    """Lanes (lane 0 in the least significant bits), two's complement ``width`` bits each."""
    out, mask = 0, (1 << width) - 1
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack(word: int, width: int, n: int, signed: bool = True) -> list[int]:
    mask = (1 << width) - 1
    vals = [(word >> (i * width)) & mask for i in range(n)]
    return [v - (1 << width) if signed and v >> (width - 1) else v for v in vals]


@dataclass
class Jobs:
    """Concatenated tile jobs; ``*_off`` index into ``rows``/``events`` (length tiles + 1)."""

    meta: np.ndarray  # (J, 6): pad, n_fire, readout, image, tile, model cycles
    label: np.ndarray  # (J,) layer names
    S: np.ndarray  # (J, P)
    init: np.ndarray  # (J, P)
    mapped: np.ndarray  # (J, P)
    spikes: np.ndarray  # (J, T, P)
    membrane: np.ndarray  # (J, P)
    rows: np.ndarray  # (sum rows, P)
    rows_off: np.ndarray
    events: np.ndarray  # (sum events, 4)
    events_off: np.ndarray

    def __len__(self) -> int:
        return len(self.meta)

    @staticmethod
    def from_tiles(tiles, model_cycles) -> "Jobs":
        T = max(j.n_fire for j in tiles)
        P = len(tiles[0].S)
        sp = np.zeros((len(tiles), T, P), np.uint8)
        for i, j in enumerate(tiles):
            sp[i, : j.n_fire] = j.spikes
        return Jobs(
            meta=np.array([[j.pad, j.n_fire, int(j.readout), j.image, j.tile, c] for j, c in zip(tiles, model_cycles)],
                          np.int64),
            label=np.array([j.layer for j in tiles]),
            S=np.stack([j.S for j in tiles]), init=np.stack([j.init for j in tiles]),
            mapped=np.stack([j.mapped for j in tiles]), spikes=sp, membrane=np.stack([j.membrane for j in tiles]),
            rows=np.concatenate([j.rows for j in tiles]), rows_off=np.cumsum([0] + [len(j.rows) for j in tiles]),
            events=np.concatenate([j.events for j in tiles]),
            events_off=np.cumsum([0] + [len(j.events) for j in tiles]),
        )

    def save(self, path) -> Path:
        np.savez(path, schema_version=SCHEMA_VERSION, **self.__dict__)
        return Path(path)

    @staticmethod
    def load(path) -> "Jobs":
        with np.load(path, allow_pickle=False) as f:
            if int(f["schema_version"]) != SCHEMA_VERSION:
                raise ValueError(f"{path}: schema_version must be {SCHEMA_VERSION}")
            return Jobs(**{k: f[k] for k in Jobs.__dataclass_fields__})

    def tile_rows(self, i: int) -> np.ndarray:
        return self.rows[self.rows_off[i]: self.rows_off[i + 1]]

    def tile_events(self, i: int) -> np.ndarray:
        return self.events[self.events_off[i]: self.events_off[i + 1]]

    def where(self, i: int) -> str:
        return f"layer {self.label[i]} image {self.meta[i, 3]} tile {self.meta[i, 4]}"
