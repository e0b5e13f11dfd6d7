"""Host side of the PE array: the tile jobs (weight rows, descriptor, events, expected outputs).

Pure NumPy (no Amaranth): what the host, or in a full accelerator the address
generator and zero-skipping encoder, feeds :class:`rtl.array.PEArray`.  Tiles and
input bounding boxes come from :func:`accel.model.tiling`, so the events the RTL
sees are exactly the events the cycle model counts.

For each tile of each image:

* **weight rows**: one row per input of the tile's bounding boxes (sources in the
  layer's order, inputs in C order), lane ``p`` = effective integer weight from that
  input to PE ``p``'s neuron (terms reading the same source are summed; 0 where not
  connected or the PE is unmapped);
* **events**: per active Horner position, the inputs of the boxes that spike at that
  step (first one with ``shift``), or one null event (``shift`` only) if none;
  ``last`` on the final event;
* **descriptor**: per lane ``S`` and ``init``, ``pad``, ``n_fire = T``, ``readout``
  for the output layer;
* **expected**: the golden spikes ``(T, P)`` and membrane after accumulation ``(P,)``.

Only small layers: the effective weight matrix is built densely (inputs x outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.errors import AccelError
from accel.model import LayerProfile, tiling
from golden.convert import IntLayer, IntNetwork, signed_bits
from golden.simulate import SimResult, apply_term


@dataclass
class TileJob:
    layer: str
    image: int
    tile: int
    S: np.ndarray  # (P,)
    init: np.ndarray  # (P,)
    pad: int
    n_fire: int
    readout: bool
    rows: np.ndarray  # (R_rows, P) int64 weight rows
    events: np.ndarray  # (E, 4) int64: addr, shift, add, last
    spikes: np.ndarray  # (n_fire, P) uint8 (zeros for unmapped lanes / readout)
    membrane: np.ndarray  # (P,) int64 (0 for unmapped lanes)
    mapped: np.ndarray  # (P,) bool

    @property
    def acc_cycles(self) -> int:
        return len(self.events)


def effective_weights(inet: IntNetwork, layer: IntLayer, source: str) -> np.ndarray:
    """Dense ``(neurons, source inputs)`` integer matrix of all terms of ``layer`` reading ``source``."""
    shape = inet.source_shape(source)
    M_in = int(np.prod(shape))
    if M_in * int(np.prod(layer.out_shape)) > 50_000_000:
        raise AccelError(f"rtl host: layer {layer.name!r} is too large for a dense weight matrix "
                         f"({M_in} inputs x {int(np.prod(layer.out_shape))} neurons)")
    eye = np.eye(M_in, dtype=np.int64).reshape((M_in,) + shape)
    M = 0
    for term in layer.terms:
        if term.source == source:
            M = M + apply_term(term, eye).reshape(M_in, -1)
    return np.asarray(M).T.copy()


def layer_jobs(inet: IntNetwork, res: SimResult, lp: LayerProfile, rows: int, cols: int) -> list[TileJob]:
    """Every tile job of one layer for every image of ``res``, tiles in C order, images outer."""
    layer = lp.layer
    if any(st.mac for st in lp.sources):
        raise AccelError(f"rtl host: layer {layer.name!r} reads multi-bit pixels (MACs); the RTL array is "
                         "accumulate-only: convert with bitplanes=True")
    til = tiling(inet, layer, rows, cols)
    P = rows * cols
    mats = {st.source: effective_weights(inet, layer, st.source) for st in lp.sources}
    C = layer.out_shape[0]
    per_ch = int(np.prod(layer.out_shape[1:])) if len(layer.out_shape) > 1 else 1
    N = res.pixels.shape[0]
    T = res.T
    mem = res.membrane[layer.name].reshape(N, -1)
    spk = None if layer.is_output else res.spikes[layer.name].reshape(T, N, -1)
    jobs = []
    grids = [[np.broadcast_to(a, til.grid).reshape(-1) for ax in (b.ch, b.row, b.col) for a in ax] for b in til.boxes]
    for k in range(til.tiles):
        neurons = til.neurons(k)
        mapped = neurons >= 0
        ch = np.where(mapped, neurons // per_ch, 0)
        S = np.where(mapped, layer.S[np.minimum(ch, C - 1)], 1)
        init = np.where(mapped, layer.init[np.minimum(ch, C - 1)], 0)
        # weight rows: inputs of every source box
        inputs = []  # (source index, flat input indices)
        wrows = []
        for si, (st, g) in enumerate(zip(lp.sources, grids)):
            c0, c1, r0, r1, q0, q1 = (int(a[k]) for a in g)
            Cv, Hv, Wv = st.events.shape[2:]
            cc, rr, qq = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1), np.arange(q0, q1 + 1), indexing="ij")
            idx = ((cc * Hv + rr) * Wv + qq).reshape(-1)
            inputs.append(idx)
            Mt = mats[st.source][np.where(mapped, neurons, 0)][:, idx] * mapped[:, None]
            wrows.append(Mt.T)
        wr = np.concatenate(wrows) if wrows else np.zeros((0, P), np.int64)
        offs = np.cumsum([0] + [len(i) for i in inputs])
        for n in range(N):
            ev = []
            for pos in range(lp.n_pos):
                step = []
                for si, st in enumerate(lp.sources):
                    p = lp.first_pos + pos - st.start
                    if 0 <= p < st.events.shape[0]:
                        hit = np.nonzero(st.events[p, n].reshape(-1)[inputs[si]])[0]
                        step.extend(int(offs[si] + h) for h in hit)
                if step:
                    ev.extend([a, int(i == 0), 1, 0] for i, a in enumerate(step))
                else:
                    ev.append([0, 1, 0, 0])
            ev[-1][3] = 1
            m = np.where(mapped, mem[n, np.where(mapped, neurons, 0)], 0)
            s = (np.zeros((T, P), np.uint8) if spk is None
                 else np.where(mapped, spk[:, n, np.where(mapped, neurons, 0)], 0).astype(np.uint8))
            jobs.append(TileJob(layer.name, n, k, S.astype(np.int64), init.astype(np.int64), lp.pad, T,
                                layer.is_output, wr, np.array(ev, np.int64), s, m.astype(np.int64), mapped))
    return jobs


def array_widths(inet: IntNetwork, jobs: list[TileJob]) -> dict[str, int]:
    """Widths and depth a :class:`rtl.array.PEArray` needs to run ``jobs`` of ``inet`` exactly."""
    wmax = max((int(np.abs(j.rows).max(initial=0)) for j in jobs), default=1)
    layers = {j.layer for j in jobs}
    acc = max(inet.layer(n).acc_bits for n in layers)
    return {
        "weight_width": signed_bits(-wmax, wmax),
        "acc_width": acc,
        "s_width": max(int(j.S.max()).bit_length() for j in jobs),
        "bits": inet.bits,
        "max_pad": max(1, max(j.pad for j in jobs)),
        "depth": max(2, max(len(j.rows) for j in jobs)),
    }
