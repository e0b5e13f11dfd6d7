"""PE-array sweeps: the cycle model over many array shapes, in parallel; data only, no printing.

:func:`sweep` evaluates a profiled network (:func:`accel.model.profile`) on every
``rows x cols`` shape (and, optionally, every scan width ``K``), on local processes (``concurrent.futures``) or on a Dask /
Ray cluster, and returns one :class:`SweepPoint` per shape, sorted by PE count.
:func:`pareto_front` marks the shapes no other shape beats: in latency, energy and area
when all three are known, else in PEs and cycles.

Energy and area hooks: pass ``energy=callable`` mapping a :class:`accel.model.NetworkStats`
to picojoules per inference and ``area=callable`` mapping it to um^2 (or None where
unknown); module-level functions or partials of them, so that they pickle (``accel``
imports no energy code: the front end passes :func:`energy.built.energy_pj` and
:func:`energy.built.area_um2`).  The values land in ``SweepPoint.energy_pj`` and
``SweepPoint.area_um2`` and in every table and file; with both, the Pareto front is
taken over latency, energy and area.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import json
import os
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .config import ArrayConfig
from .errors import AccelError
from .model import MEMORIES, OPS, NetworkProfile, NetworkStats, evaluate


@dataclass(frozen=True)
class SweepPoint:
    """One array shape and scan width; every count is per inference (mean over the batch)."""

    rows: int
    cols: int
    pes: int
    scan: int  # K: channels the encoder reads per cycle (spike memory banks)
    cycles: float
    cycles_busy: float
    cycles_idle: float
    cycles_stalled: float
    latency_us: float
    pe_utilization: float
    weights_resident: bool
    sram_read_bits: dict[str, float] = field(default_factory=dict)
    sram_write_bits: dict[str, float] = field(default_factory=dict)
    ops: dict[str, float] = field(default_factory=dict)
    layer_cycles: dict[str, float] = field(default_factory=dict)
    energy_pj: float | None = None
    area_um2: float | None = None
    pareto: bool = False

    def flat(self) -> dict:
        """One flat dict (CSV row): nested counts become ``read_bits_<memory>`` etc."""
        d = {k: v for k, v in asdict(self).items() if not isinstance(v, dict)}
        for m in MEMORIES:
            d[f"read_bits_{m}"] = self.sram_read_bits.get(m, 0)
            d[f"write_bits_{m}"] = self.sram_write_bits.get(m, 0)
        for k in OPS:
            d[k] = self.ops.get(k, 0)
        for k, v in self.layer_cycles.items():
            d[f"cycles_{k}"] = v
        return d


def point(stats: NetworkStats, energy: Callable | None = None, area: Callable | None = None) -> SweepPoint:
    cfg, n = stats.config, stats.images
    sram = stats.sram_bits()
    return SweepPoint(
        rows=cfg.rows, cols=cfg.cols, pes=cfg.pes, scan=stats.plan.scan,
        cycles=stats.cycles / n,
        cycles_busy=stats.total("cycles_busy") / n,
        cycles_idle=stats.total("cycles_idle") / n,
        cycles_stalled=stats.total("cycles_stalled") / n,
        latency_us=stats.latency_s() * 1e6,
        pe_utilization=stats.pe_utilization,
        weights_resident=stats.weights_resident,
        sram_read_bits={m: r / n for m, (r, _) in sram.items()},
        sram_write_bits={m: w / n for m, (_, w) in sram.items()},
        ops={k: v / n for k, v in stats.ops().items()},
        layer_cycles={l.name: l.cycles / n for l in stats.layers},
        energy_pj=None if energy is None else float(energy(stats)),
        area_um2=None if area is None else area(stats),
    )


# ------------------------------------------------------------------ workers

#: seconds to wait for a cluster scheduler to answer before giving up
CLUSTER_TIMEOUT_S = 10

_PROFILE: NetworkProfile | None = None


def _init_worker(prof: NetworkProfile) -> None:
    global _PROFILE
    _PROFILE = prof
    # Ctrl-C reaches the whole process group: the parent alone handles it (cancels the
    # queue, waits for the shapes in flight), so workers never die mid-task with a traceback.
    # The parent forks with SIGINT blocked, so none arrives before it is ignored here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _eval_local(cfg: ArrayConfig, energy, area) -> SweepPoint:
    return point(evaluate(_PROFILE, cfg), energy, area)


def _eval_with(prof: NetworkProfile, cfg: ArrayConfig, energy, area) -> SweepPoint:
    return point(evaluate(prof, cfg), energy, area)


@contextlib.contextmanager
def _sigint_blocked():
    """Hold back SIGINT in this thread (a Ctrl-C meanwhile is delivered on exit)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def parse_shapes(rows, cols) -> list[tuple[int, int]]:
    """Every (rows, cols) pair of the two lists, validated."""
    for name, vals in (("rows", rows), ("cols", cols)):
        if not vals:
            raise AccelError(f"sweep: --{name} must list at least one size")
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise AccelError(f"sweep: --{name} sizes must be positive integers, not {v!r}")
    return [(r, c) for r in dict.fromkeys(rows) for c in dict.fromkeys(cols)]


def _cluster_map(address: str, prof: NetworkProfile, cfgs, energy, area, progress):
    if address.startswith("ray://") or address == "ray":
        try:
            import ray
        except ImportError:
            raise AccelError(f"--cluster {address}: Ray is not installed (pip install 'ray[default]')") from None
        try:
            ray.init(address=None if address == "ray" else address, ignore_reinit_error=True)
        except (ConnectionError, OSError, TimeoutError, ValueError) as e:
            raise AccelError(f"--cluster {address}: cannot connect to Ray ({type(e).__name__}: {e})") from None
        ref = ray.put(prof)
        remote = ray.remote(_eval_with)
        pending = {remote.remote(ref, c, energy, area): i for i, c in enumerate(cfgs)}
        out = [None] * len(cfgs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for d in done:
                out[pending.pop(d)] = ray.get(d)
                if progress:
                    progress()
        return out
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise AccelError(f"--cluster {address}: Dask is not installed (pip install 'dask[distributed]'); "
                         "use ray://HOST:PORT for Ray") from None
    try:
        client = Client(address, timeout=CLUSTER_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - refused, timed out, or something that is no Dask scheduler answered
        raise AccelError(f"--cluster {address}: no Dask scheduler answered within {CLUSTER_TIMEOUT_S} s "
                         f"({type(e).__name__}: {str(e)[:200]})") from None
    with client:
        [pf] = client.scatter([prof], broadcast=True)
        futs = {client.submit(_eval_with, pf, c, energy, area, pure=False): i for i, c in enumerate(cfgs)}
        out = [None] * len(cfgs)
        for f in as_completed(futs):
            out[futs[f]] = f.result()
            if progress:
                progress()
        return out


def configurations(base: ArrayConfig, shapes, scans=None) -> list[ArrayConfig]:
    """``base`` with every ``(rows, cols)`` of ``shapes`` and every scan width of ``scans`` (default: the
    config's); scan widths that give the same ``K`` on a shape (``K`` is at least the rows) are kept once."""
    if scans is not None:
        if not scans:
            raise AccelError("sweep: --scan must list at least one width")
        for v in scans:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise AccelError(f"sweep: --scan widths must be positive integers, not {v!r}")
    out, seen = [], set()
    for r, c in shapes:
        for k in (scans if scans is not None else [base.scan]):
            cfg = base.with_shape(r, c, k)
            if (r, c, cfg.scan_banks) not in seen:
                seen.add((r, c, cfg.scan_banks))
                out.append(cfg)
    return out


def sweep(prof: NetworkProfile, base: ArrayConfig, shapes, *, workers: int | None = None,
          cluster: str | None = None, progress: Callable[[], None] | None = None,
          energy: Callable[[NetworkStats], float] | None = None,
          area: Callable[[NetworkStats], float | None] | None = None, scans=None) -> list[SweepPoint]:
    """Evaluate ``base`` with every ``(rows, cols)`` of ``shapes`` (and every scan width of ``scans``,
    see :func:`configurations`); sorted by PEs, then rows, then scan width.

    ``workers``: local processes (default: all cores; 1 runs in this process).
    ``cluster``: a Dask scheduler address (``tcp://host:8786``) or ``ray://host:port``.
    ``progress()`` is called once per finished configuration.
    """
    cfgs = configurations(base, shapes, scans)
    if not cfgs:
        return []
    evaluate(prof, cfgs[0])  # fail fast (memory too small, ...) with the user's error, in this process
    if cluster:
        points = _cluster_map(cluster, prof, cfgs, energy, area, progress)
    else:
        workers = (os.cpu_count() or 1) if workers is None else workers
        if workers < 1:
            raise AccelError(f"sweep: --workers must be >= 1, not {workers}")
        workers = min(workers, len(cfgs))
        if workers == 1:
            points = []
            for c in cfgs:
                points.append(_eval_with(prof, c, energy, area))
                if progress:
                    progress()
        else:
            points = [None] * len(cfgs)
            ex = cf.ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(prof,))
            try:
                with _sigint_blocked():  # workers start here
                    futs = {ex.submit(_eval_local, c, energy, area): i for i, c in enumerate(cfgs)}
                for f in cf.as_completed(futs):
                    points[futs[f]] = f.result()
                    if progress:
                        progress()
            finally:  # on an error or Ctrl-C: drop the queue, and leave no worker behind
                ex.shutdown(wait=True, cancel_futures=True)
    points.sort(key=lambda p: (p.pes, p.rows, p.scan))
    front = pareto_front(points)
    return [p if not f else _with(p, pareto=True) for p, f in zip(points, front)]


def _with(p: SweepPoint, **kw) -> SweepPoint:
    from dataclasses import replace

    return replace(p, **kw)


def objectives(points: list[SweepPoint]) -> tuple[str, ...]:
    """What the Pareto front is taken over: latency, energy and area when every point has them, else PEs and
    cycles."""
    if points and all(p.energy_pj is not None and p.area_um2 is not None for p in points):
        return ("latency_us", "energy_pj", "area_um2")
    return ("pes", "cycles")


def pareto_front(points: list[SweepPoint]) -> list[bool]:
    """True where no other point is as good in every objective (:func:`objectives`) and better in one."""
    keys = objectives(points)
    vals = [tuple(getattr(p, k) for k in keys) for p in points]
    return [not any(all(a <= b for a, b in zip(q, v)) and q != v for q in vals) for v in vals]


# ------------------------------------------------------------------ files


def write_csv(points: list[SweepPoint], path) -> Path:
    path = Path(path)
    rows = [p.flat() for p in points]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def write_json(points: list[SweepPoint], path, meta: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"format": "snnbits-sweep", "schema_version": 1, **meta,
                                "points": [asdict(p) for p in points]}, indent=1))
    return path


def _front(points: list[SweepPoint], key) -> list[SweepPoint]:
    """Points not dominated in (PEs, key), sorted by PEs."""
    return sorted((p for p in points if not any(
        q.pes <= p.pes and key(q) <= key(p) and (q.pes < p.pes or key(q) < key(p)) for q in points)),
        key=lambda p: p.pes)


def plot(points: list[SweepPoint], path, title: str = "") -> Path:
    """PNG: cycles per inference against PE count (log-log) with its front; with energy and area, also
    energy against area and latency against area, the points of the latency-energy-area Pareto front marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    three = objectives(points) == ("latency_us", "energy_pj", "area_um2")
    panels = [("PEs (rows x cols)", lambda p: p.pes, "cycles per inference", lambda p: p.cycles, False)]
    if three:
        panels += [("area (mm^2)", lambda p: p.area_um2 / 1e6, "energy per inference (nJ)", lambda p: p.energy_pj / 1e3,
                    True),
                   ("area (mm^2)", lambda p: p.area_um2 / 1e6, "latency (us)", lambda p: p.latency_us, True)]
    elif points and all(p.energy_pj is not None for p in points):
        panels.append(("PEs (rows x cols)", lambda p: p.pes, "energy per inference (nJ)", lambda p: p.energy_pj / 1e3,
                       False))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), dpi=120, squeeze=False)
    for ax, (xl, xk, yl, yk, marked) in zip(axes[0], panels):
        ax.scatter([xk(p) for p in points], [yk(p) for p in points], s=18, c="0.6", label="array shape")
        front = [p for p in points if p.pareto] if marked else _front(points, yk)
        front.sort(key=xk)
        ax.plot([xk(p) for p in front], [yk(p) for p in front], "o" if marked else "o-", c="C3", ms=5,
                label="Pareto front (latency, energy, area)" if marked else "Pareto front")
        many = len({p.scan for p in points}) > 1
        for p in front:
            ax.annotate(f"{p.rows}x{p.cols}" + (f" K{p.scan}" if many else ""), (xk(p), yk(p)),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log", base=2 if not marked else 10)
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "PE array sweep")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
