"""The accelerator top: runs a whole converted network for one image, with no host in the loop.

Generated per compiled program (``accel.program``): the memory sizes and the
descriptor layout come from the program's manifest (:class:`MachineParams`),
the memory contents from its images.  This module imports nothing from the
model code; ``docs/architecture.md`` describes the machine and its timing.

Pipeline (one op per cycle, in order, no bubbles inside a layer)::

    S0  sequencer + zero-skipping encoder: walks layers, tiles, Horner positions,
        terms and scan units (K channels of one raw row, one word from each of the
        K spike memory banks, read the cycle before); issues ACC ops (one per set
        bit; a unit with no set bit issues one that adds zero), then FINISH,
        READOUT (last layer), FIRE x T (hidden layers)
    S1  address generator: weight element address per bank, lane kernel column,
        parameter word, spike write address per bank; the weight banks' read
        enables only on an ACC op that carries a spike, the parameter banks'
        only on FINISH and FIRE (``weight_ren``, ``param_ren``)
    S2  the PE array (rtl.array.PEArray: the bank's unaligned weight window,
        lane selection, parameter lanes, the R x C LeanPEs), spike write-back
        (one word per bank, bit enables), the logits beat

The only stall is a READOUT op whose logits beat is not taken (``logits.ready``
low): the whole pipeline then holds for that cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .array import PEArray
from .pe import PEOp, check_shifts, check_width

__all__ = ["MachineParams", "Accelerator", "OpKind", "FAULTS"]

#: fault injections for the test benches (never use them otherwise)
FAULTS = ("gt", "fire_late", "ignore_ready", "drop_tile", "drop_event")


def _w(v: int) -> int:
    """Width of an unsigned signal holding 0 .. v."""
    return max(1, int(v).bit_length())


def _log2(v: int) -> int:
    return (v - 1).bit_length()


class OpKind(enum.Enum, shape=unsigned(3)):
    """What an op of the S0 -> S1 -> S2 pipeline does."""

    NOP = 0
    ACC = 1  #: add one event's weights (or zero), with the Horner shift on a position's first op
    FINISH = 2  #: u <- (u << pad) + init
    READOUT = 3  #: the membranes go out on the logits stream
    FIRE = 4  #: compare, reset, write the spikes of step t


class AccKind(enum.Enum, shape=unsigned(2)):
    LOAD = 0  #: first op of a tile
    SHIFT_ADD = 1  #: first op of a Horner position
    ADD = 2


@dataclass(frozen=True)
class MachineParams:
    """Generation parameters of the top (the ``hardware`` section of a program's manifest).

    ``rows x cols`` PEs; ``scan`` (K, a power of two >= rows): channels read per
    cycle = spike memory banks; ``lanes`` (V, a power of two): weight elements a
    bank delivers per event; ``weight_width``, ``acc_width``; ``pixel_bits`` (P) and
    ``bits`` (B); ``max_pad``, ``max_T``; ``shifts`` (the per-term weight shifts the program uses); ``weight_words[r]`` (even + odd halves),
    ``param_words``; ``layers``; ``tensors``: dicts with ``id, view, planes,
    image, depths, word_bits``; ``fields``: the descriptor layout
    (``{"layer": [[name, width, 1]...], "term": [[name, width, count]...], "max_terms"}``);
    ``out_tiles``: tiles of the last layer; ``streamed``: the weights stream in per image
    (``regions`` regions of ``region_words`` words per bank), else they are resident.
    """

    rows: int
    cols: int
    scan: int
    lanes: int
    weight_width: int
    acc_width: int
    pixel_bits: int
    bits: int
    max_pad: int
    max_T: int
    weight_words: tuple[int, ...]
    param_words: int
    layers: int
    tensors: tuple[dict, ...]
    fields: dict
    out_tiles: int
    streamed: bool = False
    regions: int = 0
    region_words: int = 0
    shifts: tuple[int, ...] = (0,)

    @classmethod
    def from_dict(cls, d: dict) -> "MachineParams":
        names = {f for f in cls.__dataclass_fields__}
        missing = names - set(d) - {"streamed", "regions", "region_words", "shifts"}
        if missing:
            raise ValueError(f"machine parameters: missing {sorted(missing)}")
        kw = {k: d[k] for k in names if k in d}
        kw["weight_words"] = tuple(int(v) for v in d["weight_words"])
        kw["tensors"] = tuple(dict(t) for t in d["tensors"])
        if "shifts" in d:
            kw["shifts"] = tuple(d["shifts"])
        return cls(**kw)

    def __post_init__(self):
        for name in ("rows", "cols", "scan", "lanes", "weight_width", "acc_width", "pixel_bits", "bits",
                     "param_words", "layers", "out_tiles", "max_T"):
            check_width(name, getattr(self, name))
        check_width("max_pad", self.max_pad, minimum=0)
        object.__setattr__(self, "shifts", check_shifts(self.shifts))
        for name in ("scan", "lanes"):
            v = getattr(self, name)
            if v & (v - 1):
                raise ValueError(f"{name} must be a power of two, not {v!r}")
        if self.scan < self.rows:
            raise ValueError(f"scan must be >= rows ({self.rows}), not {self.scan!r}")
        if self.lanes < self.cols:
            raise ValueError(f"lanes must be >= cols ({self.cols}), not {self.lanes!r}")
        if len(self.weight_words) != self.rows:
            raise ValueError(f"weight_words must list {self.rows} banks, not {len(self.weight_words)}")
        if self.streamed and self.regions not in (1, 2):
            raise ValueError(f"regions must be 1 or 2 when the weights are streamed, not {self.regions!r}")
        need = {"flat", "hidden", "last", "out", "G", "HO", "X", "OV", "WO", "T", "pad", "npos", "pbase", "pslots"}
        have = {f[0] for f in self.fields["layer"]}
        if need - have:
            raise ValueError(f"descriptor layout: missing layer fields {sorted(need - have)}")


def descriptor_layout(fields: dict) -> data.StructLayout:
    """The layer descriptor as a ``lib.data`` layout: layer fields, then ``max_terms`` term records."""
    term = data.StructLayout({name: data.ArrayLayout(unsigned(w), n) if name == "wbase" else unsigned(w)
                              for name, w, n in fields["term"]})
    layer = {name: data.ArrayLayout(unsigned(w), n) if name == "wwords" else unsigned(w)
             for name, w, n in fields["layer"]}
    return data.StructLayout({**layer, "terms": data.ArrayLayout(term, fields["max_terms"])})


class Accelerator(wiring.Component):
    """Runs a compiled network: image in, logits out.

    Ports
    -----
    image : In(stream.Signature(ArrayLayout(unsigned(P), W)))
        One row of pixel codes per beat, rows in C order ``(c, y)`` of the image
        memory's view (a vector input: rows of ``cols`` pixels).  Taken while the
        machine waits for an image (``image.ready``).
    logits : Out(stream.Signature({"u": ArrayLayout(signed(acc_width), R*C), "tile", "last"}))
        One beat per tile of the last layer: the membranes of PE ``r*C + c``
        (``docs/architecture.md`` maps lanes to logits); ``last`` on the image's
        last beat.  A beat not taken stalls the machine.
    trace : Out(Signature({"valid": Out(1), "payload": Out(...)}))
        Monitor of the spike memory writes (no back-pressure): one beat per FIRE
        op (layer, tile, step ``t``, tensor, per bank: enable, address, data, bit mask).
    weights : In(stream.Signature(unsigned(lanes * weight_width)))
        Only when the weights are streamed: per image, layer by layer, bank by
        bank, the layer's words (``accel.program.Program.stream_words``).  Layer
        ``j`` is taken into region ``j mod regions`` once layer ``j - regions`` has
        finished; a layer starts once its weights are in.
    busy : Out(1)
        From the first image beat to the image's last op.
    done : Out(1)
        One cycle, when the image's last op completes.

    Parameters
    ----------
    params : MachineParams
    weights : list of ``(even, odd)`` word lists per bank
    param_words : list of word lists per bank
    program : list of packed layer descriptors
    fault : str, optional
        One of :data:`FAULTS` (test benches only).
    """

    def __init__(self, *, params: MachineParams, weights, param_words, program, fault: str | None = None):
        if not isinstance(params, MachineParams):
            raise TypeError(f"params must be a MachineParams, not {params!r}")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS} or None, not {fault!r}")
        if len(program) != params.layers:
            raise ValueError(f"program must hold {params.layers} descriptors, not {len(program)}")
        self.hp = hp = params
        self.fault = fault
        self._weights = [(list(e), list(o)) for e, o in weights]
        self._params = [list(p) for p in param_words]
        self._program = list(program)
        self.desc_layout = descriptor_layout(hp.fields)
        if self.desc_layout.size != hp.fields["width"]:
            raise ValueError(f"descriptor layout is {self.desc_layout.size} bits, the program says {hp.fields['width']}")
        R, C, K = hp.rows, hp.cols, hp.scan
        img = hp.tensors[0]
        self.image_width = img["view"][2]
        spikes = hp.tensors[1:]
        self.spike_word = max([t["word_bits"] for t in spikes] + [1])
        self.word_pad = 1 << _log2(max([t["view"][2] for t in hp.tensors] + [1]))
        self.addr_width = max(_w(max(max(t["depths"]) - 1, 0)) for t in hp.tensors)
        tiles_max = self.max_tiles = hp.out_tiles
        self.logits_layout = data.StructLayout({
            "u": data.ArrayLayout(signed(hp.acc_width), R * C),
            "tile": unsigned(_w(tiles_max - 1)),
            "last": unsigned(1),
        })
        self.trace_layout = data.StructLayout({
            "layer": unsigned(_w(hp.layers - 1)),
            "tile": unsigned(self._tile_width()),
            "t": unsigned(_w(hp.max_T + 1)),
            "tensor": unsigned(_w(len(hp.tensors) - 1)),
            "en": unsigned(K),
            "addr": data.ArrayLayout(unsigned(self.addr_width), K),
            "data": data.ArrayLayout(unsigned(self.spike_word), K),
            "mask": data.ArrayLayout(unsigned(self.spike_word), K),
        })
        ports = {}
        if hp.streamed:
            ports["weights"] = In(stream.Signature(unsigned(hp.lanes * hp.weight_width)))
        super().__init__({
            **ports,
            "image": In(stream.Signature(data.ArrayLayout(unsigned(hp.pixel_bits), self.image_width))),
            "logits": Out(stream.Signature(self.logits_layout)),
            "trace": Out(wiring.Signature({"valid": Out(1), "payload": Out(self.trace_layout)})),
            "busy": Out(1),
            "done": Out(1),
        })

    def _tile_width(self) -> int:
        f = {name: w for name, w, _ in self.hp.fields["layer"]}
        return f["G"] + f["HO"] + f["X"]

    @property
    def timing(self) -> dict[str, int]:
        """Fixed cycles (``accel.machine.Timing`` must equal these): image row beat, layer setup, drain,
        and the cycle (after the image's first row) the weight loader takes its first beat."""
        return {"image_row": 1, "setup": 1, "drain": self.pipeline_depth, "loader_start": 1}

    @property
    def pipeline_depth(self) -> int:
        """Cycles from an op's issue (S0) to its completion (S2 write): 2."""
        return 2

    # ------------------------------------------------------------------ elaboration

    def elaborate(self, platform):
        m = Module()
        hp = self.hp
        R, C, K, V = hp.rows, hp.cols, hp.scan, hp.lanes
        lK, lV = _log2(K), _log2(V)
        A, Wt = hp.acc_width, hp.weight_width
        Wp = self.word_pad
        lWp = _log2(Wp)
        MT = hp.fields["max_terms"]
        L = hp.layers
        fw = {name: w for name, w, _ in hp.fields["layer"]}
        tw = {name: w for name, w, _ in hp.fields["term"]}

        # ---------------------------------------------------------- memories
        m.submodules.program = prog = memory.Memory(shape=unsigned(hp.fields["width"]), depth=L, init=self._program)
        prog_rd = prog.read_port()
        desc = Signal(self.desc_layout)
        nxt = Signal(range(max(L, 2)))
        m.d.comb += prog_rd.addr.eq(nxt)

        wrd = []  # per bank (even port, odd port)
        wwp = {}  # per bank [even write port, odd write port] (streamed weights)
        for r, (even, odd) in enumerate(self._weights):
            pair = []
            for half, words in (("even", even), ("odd", odd)):
                depth = max(1, hp.weight_words[r] // 2)
                mem = memory.Memory(shape=unsigned(V * Wt), depth=depth, init=[] if hp.streamed else words)
                m.submodules[f"weights_r{r}_{half}"] = mem
                pair.append(mem.read_port())
                if hp.streamed:
                    wwp.setdefault(r, []).append(mem.write_port())
            wrd.append(pair)
        prd = []
        for r, words in enumerate(self._params):
            mem = memory.Memory(shape=unsigned(C * A), depth=max(1, hp.param_words), init=words)
            m.submodules[f"params_r{r}"] = mem
            prd.append(mem.read_port())
        tmem = []  # per tensor: per bank (read port, write port) or None
        for t in hp.tensors:
            banks = []
            for b, depth in enumerate(t["depths"]):
                if depth == 0:
                    banks.append(None)
                    continue
                mem = memory.Memory(shape=unsigned(t["word_bits"]), depth=depth, init=[])
                m.submodules[f"{'image' if t['image'] else 'spikes_' + str(t['id'])}_b{b}"] = mem
                wp = mem.write_port(granularity=None if t["image"] else 1)
                banks.append((mem.read_port(), wp))
            tmem.append(banks)

        # ---------------------------------------------------------- global control
        op1 = Signal(self._op_layout(), name="op1")
        op2 = Signal(self._op2_layout(), name="op2")
        stall = Signal()
        go = Signal()
        if self.fault == "ignore_ready":
            m.d.comb += stall.eq(0)
        else:
            m.d.comb += stall.eq((op2.kind == OpKind.READOUT) & ~self.logits.ready)
        m.d.comb += go.eq(~stall)

        loaded, computed, image_start = Signal(_w(L)), Signal(_w(L)), Signal()
        if hp.streamed:
            self._loader(m, prog, wwp, loaded, computed, image_start)
        self._s0(m, desc, prog_rd, nxt, tmem, op1, go, fw, tw, loaded, computed, image_start)
        self._s1(m, desc, op1, op2, wrd, prd, go)
        self._s2(m, op2, wrd, prd, tmem, go)
        return m

    # ------------------------------------------------------------------ layouts

    def _op_layout(self):
        hp = self.hp
        f = {name: w for name, w, _ in hp.fields["layer"]}
        t = {name: w for name, w, _ in hp.fields["term"]}
        cw = max(t["Cs"], t["chi0"]) + 1
        return data.StructLayout({
            "kind": OpKind, "acc": AccKind, "ev": unsigned(1),
            "ti": unsigned(_w(hp.fields["max_terms"] - 1)),
            "c": unsigned(cw), "cw": unsigned(cw), "row": unsigned(max(t["kh"], t["Hp"]) + 1),
            "xi": unsigned(_log2(self.word_pad) or 1), "xb": signed(max(t["Wp"], f["WO"] + t["sw"]) + 4),
            "g": unsigned(f["G"]), "gq": unsigned(f["G"]), "gr": unsigned(_w(hp.cols - 1)),
            "y": unsigned(f["HO"]), "xc": unsigned(f["X"]), "tile": unsigned(self._tile_width()),
            "last_tile": unsigned(1), "t": unsigned(_w(hp.max_T + 1)),
            "layer": unsigned(_w(hp.layers - 1)),
        })

    def _op2_layout(self):
        hp = self.hp
        R, C, K, V = hp.rows, hp.cols, hp.scan, hp.lanes
        return data.StructLayout({
            "kind": OpKind, "acc": AccKind,
            "par": unsigned(R), "off": data.ArrayLayout(unsigned(_log2(V) or 1), R),
            "kx": data.ArrayLayout(unsigned(_log2(V) or 1), C), "lv": unsigned(C), "rv": unsigned(R),
            "flat": unsigned(1), "gr": unsigned(_w(C - 1)), "pad": unsigned(_w(hp.max_pad)),
            "shift": unsigned(_w(max(hp.shifts))),
            "out": unsigned(_w(len(hp.tensors) - 1)), "wen": unsigned(K),
            "waddr": data.ArrayLayout(unsigned(self.addr_width), K),
            "wrow": data.ArrayLayout(unsigned(_w(max(R - 1, 1))), K),
            "x0": unsigned(_w(self.spike_word)), "lmask": unsigned(C),
            "t": unsigned(_w(hp.max_T + 1)), "tile": unsigned(self._tile_width()), "last_tile": unsigned(1),
            "layer": unsigned(_w(hp.layers - 1)), "last": unsigned(1),
        })

    # ------------------------------------------------------------------ S0: sequencer and encoder

    def _s0(self, m, desc, prog_rd, nxt, tmem, op1, go, fw, tw, loaded, computed, image_start):
        hp = self.hp
        R, C, K = hp.rows, hp.cols, hp.scan
        lK = _log2(K)
        Wp = self.word_pad
        lWp = _log2(Wp)
        MT = hp.fields["max_terms"]
        L = hp.layers
        terms = [desc.terms[i] for i in range(MT)]
        chw = max(tw["Cs"], tw["chi0"]) + 2  # channel values (incl. one block beyond)
        roww = max(tw["kh"], tw["Hp"]) + 2
        posw = max(fw["npos"], 1) + 1

        # --- state
        class S(enum.Enum, shape=unsigned(4)):
            BOOT = 0
            IDLE = 1
            IMAGE = 2
            SETUP = 3
            SCAN = 4
            FIN = 5
            RD = 6
            FIRE = 7
            DRAIN1 = 8
            DRAIN2 = 9

        state = Signal(S, init=S.BOOT)
        boot = Signal(2)
        layer = Signal(range(max(L, 2)))
        self._debug = {"state": state, "layer": layer, "nxt": nxt}
        t_fire = Signal(_w(hp.max_T + 1))
        layer_done = Signal()

        # --- tile state (the tile the scan cursor is in)
        g = Signal(fw["G"])
        gq = Signal(fw["G"])
        gr = Signal(_w(C - 1))
        gR = Signal(fw["G"] + _w(R))
        y = Signal(fw["HO"])
        xc = Signal(fw["X"])
        tile = Signal(self._tile_width())
        rlo = [Signal(tw["og"] + 1, name=f"rlo{i}") for i in range(MT)]
        clo = [Signal(chw, name=f"clo{i}") for i in range(MT)]
        rhi = [Signal(tw["og"] + 1, name=f"rhi{i}") for i in range(MT)]
        chi = [Signal(chw, name=f"chi{i}") for i in range(MT)]
        is_last_tile = Signal()
        m.d.comb += is_last_tile.eq((g == desc.G - 1) & (y == desc.HO - 1) & (xc == desc.X - 1))

        def layer_init():
            stmts = [g.eq(0), gq.eq(0), gr.eq(0), gR.eq(0), y.eq(0), xc.eq(0), tile.eq(0)]
            for i in range(MT):
                stmts += [rlo[i].eq(0), clo[i].eq(0), rhi[i].eq(terms[i].rh0), chi[i].eq(terms[i].chi0)]
            return stmts

        def tile_advance():
            """Move the tile state to the next tile (C order over G, HO, X); call inside a sync context."""
            m.d.sync += tile.eq(tile + 1)
            with m.If(xc + 1 < desc.X):
                m.d.sync += xc.eq(xc + 1)
            with m.Elif(y + 1 < desc.HO):
                m.d.sync += [xc.eq(0), y.eq(y + 1)]
            with m.Else():
                m.d.sync += [xc.eq(0), y.eq(0), g.eq(g + 1), gR.eq(gR + R),
                             gr.eq(Mux(gr == C - 1, 0, gr + 1)), gq.eq(Mux(gr == C - 1, gq + 1, gq))]
                for i in range(MT):
                    tm = terms[i]
                    rl = rlo[i] + tm.rstep
                    cl = rl >= tm.og
                    rh = rhi[i] + tm.rstep
                    ch = rh >= tm.og
                    m.d.sync += [rlo[i].eq(Mux(cl, rl - tm.og, rl)), clo[i].eq(clo[i] + tm.cstep + Mux(cl, tm.cg, 0)),
                                 rhi[i].eq(Mux(ch, rh - tm.og, rh)), chi[i].eq(chi[i] + tm.cstep + Mux(ch, tm.cg, 0))]

        # --- per-term windows of the cursor's tile
        def active(i, pos):
            tm = terms[i]
            return tm.en & (pos >= tm.start) & (pos < tm.start + tm.steps)

        win = []
        x0 = Signal(fw["X"] + _w(C), name="x0")
        x1 = Signal(signed(fw["WO"] + 2), name="x1")
        m.d.comb += [x0.eq(xc * C), x1.eq(Mux(x0 + C < desc.WO, x0 + C, desc.WO) - 1)]
        ones = Const((1 << Wp) - 1, Wp)
        for i, tm in enumerate(terms):
            top = Signal(signed(fw["HO"] + tw["sh"] + 2), name=f"top{i}")
            pylo = Signal(signed(roww + 1), name=f"pylo{i}")
            pyhi = Signal(signed(roww + 1), name=f"pyhi{i}")
            xb = Signal(signed(fw["X"] + _w(C) + tw["sw"] + 2), name=f"xb{i}")
            pxlo = Signal(signed(xb.shape().width + 1), name=f"pxlo{i}")
            pxhi = Signal(signed(xb.shape().width + tw["kw"] + 2), name=f"pxhi{i}")
            a = Signal(_w(Wp) + 1, name=f"ma{i}")
            b = Signal(_w(Wp) + 1, name=f"mb{i}")
            mask = Signal(Wp, name=f"mask{i}")
            chi_eff = Signal(chw, name=f"chieff{i}")
            rowlo = Signal(roww, name=f"rowlo{i}")
            empty = Signal(name=f"empty{i}")
            cempty = Signal(name=f"cempty{i}")
            with m.If(tm.conv):
                m.d.comb += [
                    top.eq(y * tm.sh - tm.ph),
                    pylo.eq(Mux(top > 0, top, 0)),
                    pyhi.eq(Mux(top + tm.kh - 1 < tm.Hp - 1, top + tm.kh - 1, tm.Hp - 1)),
                    rowlo.eq(pylo - top),
                    xb.eq(x0 * tm.sw - tm.pw),
                    pxlo.eq(Mux(xb > 0, xb, 0)),
                    pxhi.eq(Mux(x1 * tm.sw - tm.pw + tm.kw - 1 < tm.Wp - 1, x1 * tm.sw - tm.pw + tm.kw - 1,
                                tm.Wp - 1)),
                ]
            with m.Else():
                m.d.comb += [pylo.eq(0), pyhi.eq(tm.Hp - 1), rowlo.eq(0), xb.eq(0), pxlo.eq(0), pxhi.eq(tm.Wp - 1)]
            m.d.comb += [
                empty.eq(pylo > pyhi),
                cempty.eq(pxlo > pxhi),
                a.eq(pxlo << tm.pswl),
                b.eq((pxhi << tm.pswl) + tm.pkw - 1),
                mask.eq(Mux(cempty, 0, (~(ones << (b + 1)))[:Wp] & (ones << a)[:Wp])),
                chi_eff.eq(Mux(chi[i] < tm.Cs, chi[i], tm.Cs)),
            ]
            win.append(dict(pylo=pylo, pyhi=pyhi, rowlo=rowlo, empty=empty, mask=mask, chi=chi_eff, xb=xb))

        # --- scan units
        U = data.StructLayout({"pos": unsigned(posw), "ti": unsigned(_w(MT - 1)), "c0": unsigned(chw),
                               "py": unsigned(roww), "dy": unsigned(tw["pkh"] + 1), "yi": unsigned(tw["Hs"] + 1),
                               "row": unsigned(roww), "pseudo": unsigned(1), "noterm": unsigned(1),
                               "end": unsigned(1)})

        def first_of_term(out, i, pos):
            w_ = win[i]
            tm = terms[i]
            return [out.pos.eq(pos), out.ti.eq(i), out.c0.eq(clo[i]), out.py.eq(w_["pylo"]), out.dy.eq(0),
                    out.yi.eq(w_["pylo"] << tm.pshl), out.row.eq(w_["rowlo"]), out.pseudo.eq(w_["empty"]),
                    out.noterm.eq(0), out.end.eq(0)]

        def first_of_pos(out, pos):
            """The first unit of Horner position ``pos`` (or ``end`` past the last position)."""
            with m.If(pos >= desc.npos):
                m.d.comb += [out.eq(0), out.end.eq(1), out.pos.eq(pos)]
            with m.Else():
                m.d.comb += [out.eq(0), out.pos.eq(pos), out.pseudo.eq(1), out.noterm.eq(1)]
                for i in reversed(range(MT)):
                    with m.If(active(i, pos)):
                        m.d.comb += first_of_term(out, i, pos)

        # the unit loaded into meta this cycle (on an advance) and its successor
        src_u = Signal(U, name="src_u")
        nxt_u = Signal(U, name="nxt_u")
        first_u = Signal(U, name="first_u")
        cursor = Signal(U, name="cursor")
        tile_start = Signal()
        first_of_pos(first_u, Const(0, posw))
        m.d.comb += src_u.eq(Mux(tile_start, first_u, cursor))

        # next(src_u)
        si = src_u.ti
        tm_s = Array(terms)[si]
        ws = {k: Array([w_[k] for w_ in win])[si] for k in ("pyhi", "pylo", "rowlo", "chi")}
        after_term = Signal(U, name="after_term")
        first_of_pos(after_term, src_u.pos + 1)
        later = Signal(U, name="later")
        m.d.comb += later.eq(after_term)
        for i in reversed(range(MT)):
            with m.If(~src_u.noterm & (si < i) & active(i, src_u.pos)):
                m.d.comb += first_of_term(later, i, src_u.pos)
        with m.If(~src_u.pseudo & (src_u.dy + 1 < tm_s.pkh)):
            m.d.comb += [nxt_u.eq(src_u), nxt_u.dy.eq(src_u.dy + 1), nxt_u.yi.eq(src_u.yi + 1)]
        with m.Elif(~src_u.pseudo & (src_u.py + 1 <= ws["pyhi"])):
            m.d.comb += [nxt_u.eq(src_u), nxt_u.py.eq(src_u.py + 1), nxt_u.dy.eq(0),
                         nxt_u.yi.eq((src_u.py + 1) << tm_s.pshl), nxt_u.row.eq(src_u.row + 1)]
        with m.Elif(~src_u.pseudo & (src_u.c0 + K < ws["chi"])):
            m.d.comb += [nxt_u.eq(src_u), nxt_u.c0.eq(src_u.c0 + K), nxt_u.py.eq(ws["pylo"]), nxt_u.dy.eq(0),
                         nxt_u.yi.eq(ws["pylo"] << tm_s.pshl), nxt_u.row.eq(ws["rowlo"])]
        with m.Else():
            m.d.comb += nxt_u.eq(later)

        # read of src_u's words: bank b holds channel c = c0 + ((b - c0) mod K)
        tsrc = Signal(posw, name="tsrc")
        m.d.comb += tsrc.eq(src_u.pos - tm_s.start)
        c0q = src_u.c0 >> lK
        c0r = src_u.c0[:lK] if lK else Const(0, 1)
        raddr = []
        bvalid = Signal(K, name="bvalid")
        rbase = Signal(self.addr_width + 8, name="rbase")
        m.d.comb += rbase.eq(tsrc * tm_s.pstride + c0q * tm_s.Hs + src_u.yi)
        for bnk in range(K):
            wrap = (Const(bnk, lK + 1) < c0r) if lK else Const(0, 1)  # bank b holds channel (c0q + wrap)*K + b
            addr = Signal(self.addr_width + 8, name=f"raddr{bnk}")
            m.d.comb += [
                addr.eq(rbase + Mux(wrap, tm_s.Hs, 0)),
                bvalid[bnk].eq(~src_u.pseudo & ~src_u.end & ((((c0q + wrap) << lK) | bnk) < ws["chi"])),
            ]
            raddr.append(addr)
        read = Signal(name="read")  # this cycle loads src_u into meta and reads its words
        for tid, banks in enumerate(tmem):
            for bnk, ports in enumerate(banks):
                if ports is None:
                    continue
                rp, _ = ports
                m.d.comb += [rp.addr.eq(raddr[bnk]), rp.en.eq(read & (tm_s.src == tid) & go)]

        # --- meta: the unit being encoded
        M = data.StructLayout({"u": U, "tsrc": unsigned(posw), "src": unsigned(_w(len(tmem) - 1)),
                               "bvalid": unsigned(K), "mask": unsigned(Wp), "clo": unsigned(chw),
                               "xb": signed(win[0]["xb"].shape().width)})
        meta = Signal(M, name="meta")
        tinfo = data.StructLayout({"g": unsigned(fw["G"]), "gq": unsigned(fw["G"]), "gr": unsigned(_w(C - 1)),
                                   "y": unsigned(fw["HO"]), "xc": unsigned(fw["X"]), "tile": unsigned(self._tile_width()),
                                   "last": unsigned(1)})
        mtile = Signal(tinfo, name="mtile")
        fresh = Signal()
        rest = Signal(K * Wp)
        tile_started = Signal()
        pos_started = Signal()

        def load_meta():
            ws_mask = Array([w_["mask"] for w_ in win])[si]
            return [meta.u.eq(src_u), meta.tsrc.eq(tsrc), meta.src.eq(tm_s.src), meta.bvalid.eq(bvalid),
                    meta.mask.eq(ws_mask), meta.clo.eq(Array(clo)[si]),
                    meta.xb.eq(Array([w_["xb"] for w_ in win])[si]),
                    cursor.eq(nxt_u), fresh.eq(1)]

        # --- encoder: the current unit's word
        mc0r = meta.u.c0[:lK] if lK else Const(0, 1)
        mc0q = meta.u.c0 >> lK
        words = []
        for bnk in range(K):
            dat = Signal(Wp, name=f"rd{bnk}")
            sel = []
            for tid, banks in enumerate(tmem):
                t = self.hp.tensors[tid]
                ports = banks[bnk]
                if ports is None:
                    continue
                rp, _ = ports
                v = rp.data.word_select(meta.tsrc, t["view"][2]) if t["image"] else rp.data
                sel.append((tid, v))
            with m.Switch(meta.src):
                for tid, v in sel:
                    with m.Case(tid):
                        m.d.comb += dat.eq(v)
            words.append(Mux(meta.bvalid[bnk], dat & meta.mask, 0))
        fresh_word = Cat(*words)
        word = Signal(K * Wp, name="word")
        m.d.comb += word.eq(Mux(meta.u.pseudo, 0, Mux(fresh, fresh_word, rest)))
        low = Signal(K * Wp, name="low")
        m.d.comb += low.eq(word & (~word + 1))
        idx = Signal(_w(K * Wp - 1), name="idx")
        for k in range(idx.shape().width):
            m.d.comb += idx[k].eq(Cat(*[low[i] for i in range(K * Wp) if (i >> k) & 1]).any())
        multi = Signal()
        m.d.comb += multi.eq((word & (word - 1)).any())
        ev = Signal()
        m.d.comb += ev.eq(word.any())
        if self.fault == "drop_event":
            ev_eff = ev & ~(fresh & multi)
        else:
            ev_eff = ev
        bsel = idx >> lWp
        xi = idx[:lWp] if lWp else Const(0, 1)
        ev_c = Signal(chw, name="ev_c")
        m.d.comb += ev_c.eq(((mc0q + (bsel < mc0r)) << lK) | bsel if lK else mc0q)

        # --- image loader
        img = self.hp.tensors[0]
        iC, iH, iW = img["view"]
        ic = Signal(range(max(iC, 2)))
        iy = Signal(range(max(iH, 2)))
        img_last = Signal()
        m.d.comb += img_last.eq((ic == iC - 1) & (iy == iH - 1))
        P = hp.pixel_bits
        planes = Cat(*[Cat(*[self.image.payload[x][P - 1 - t] for x in range(iW)]) for t in range(P)])
        for bnk, ports in enumerate(tmem[0]):
            if ports is None:
                continue
            _, wp = ports
            m.d.comb += [wp.addr.eq((ic >> lK) * iH + iy), wp.data.eq(planes),
                         wp.en.eq(self.image.valid & self.image.ready & ((ic & (K - 1)) == bnk))]

        def take_pixel_row():
            return [iy.eq(Mux(iy == iH - 1, 0, iy + 1)), ic.eq(Mux(iy == iH - 1, Mux(ic == iC - 1, 0, ic + 1), ic))]

        # --- issue: op1 (registered)
        issue = Signal(self._op_layout(), name="issue")
        m.d.comb += [issue.tile.eq(mtile.tile), issue.last_tile.eq(mtile.last), issue.g.eq(mtile.g),
                     issue.gq.eq(mtile.gq), issue.gr.eq(mtile.gr), issue.y.eq(mtile.y), issue.xc.eq(mtile.xc),
                     issue.layer.eq(layer), issue.ti.eq(meta.u.ti), issue.xb.eq(meta.xb)]
        with m.If(go):
            m.d.sync += op1.eq(issue)

        m.d.comb += self.busy.eq(~((state == S.IDLE) & ~self.image.valid) & (state != S.BOOT))
        with m.If(go):
            with m.Switch(state):
                with m.Case(S.BOOT):
                    # the program memory answers a cycle after reset; then the first descriptor is taken
                    m.d.sync += boot.eq(boot + 1)
                    with m.If(boot == 1):
                        m.d.sync += [desc.eq(prog_rd.data), nxt.eq(1 % max(L, 1)), layer.eq(0)]
                    with m.If(boot == 2):
                        m.d.sync += layer_init()
                        m.d.sync += state.eq(S.IDLE)
                with m.Case(S.IDLE, S.IMAGE):
                    m.d.comb += self.image.ready.eq(1)
                    with m.If(self.image.valid):
                        m.d.comb += image_start.eq(state == S.IDLE)
                        m.d.sync += take_pixel_row()
                        with m.If(img_last):
                            m.d.sync += state.eq(S.SETUP)
                        with m.Else():
                            m.d.sync += state.eq(S.IMAGE)
                with m.Case(S.SETUP):
                    with m.If(Const(not self.hp.streamed) | (loaded > layer)):  # its weights are in
                        m.d.comb += [tile_start.eq(1), read.eq(1)]
                        m.d.sync += load_meta()
                        m.d.sync += [mtile.g.eq(g), mtile.gq.eq(gq), mtile.gr.eq(gr), mtile.y.eq(y),
                                     mtile.xc.eq(xc), mtile.tile.eq(tile), mtile.last.eq(is_last_tile),
                                     tile_started.eq(0), pos_started.eq(0), state.eq(S.SCAN)]
                with m.Case(S.SCAN):
                    acc = Mux(~tile_started, AccKind.LOAD, Mux(~pos_started, AccKind.SHIFT_ADD, AccKind.ADD))
                    m.d.comb += [issue.kind.eq(OpKind.ACC), issue.acc.eq(acc), issue.ev.eq(ev_eff),
                                 issue.c.eq(ev_c), issue.cw.eq(ev_c - meta.clo), issue.row.eq(meta.u.row),
                                 issue.xi.eq(xi)]
                    m.d.sync += [tile_started.eq(1), pos_started.eq(1), fresh.eq(0), rest.eq(word & ~low)]
                    with m.If(~multi):  # this op finishes the unit
                        with m.If(cursor.end):
                            m.d.sync += state.eq(S.FIN)
                        with m.Else():
                            m.d.comb += read.eq(1)
                            m.d.sync += load_meta()
                            m.d.sync += pos_started.eq(cursor.pos == meta.u.pos)
                with m.Case(S.FIN):
                    m.d.comb += issue.kind.eq(OpKind.FINISH)
                    last = is_last_tile
                    if self.fault == "drop_tile":
                        last = last | (tile + 2 == desc.G * desc.HO * desc.X)
                    m.d.sync += [layer_done.eq(last), t_fire.eq(1)]
                    tile_advance()
                    m.d.sync += state.eq(Mux(desc.last, S.RD, S.FIRE))
                with m.Case(S.RD, S.FIRE):
                    in_rd = state == S.RD
                    n_fire = desc.T + (1 if self.fault == "fire_late" else 0)
                    m.d.comb += [issue.kind.eq(Mux(in_rd, OpKind.READOUT, OpKind.FIRE)), issue.t.eq(t_fire)]
                    tail_end = Mux(in_rd, ~desc.hidden, t_fire == n_fire)
                    with m.If(~in_rd):
                        m.d.sync += t_fire.eq(t_fire + 1)
                    with m.If(in_rd & desc.hidden):
                        m.d.sync += state.eq(S.FIRE)
                    with m.If(tail_end):
                        with m.If(layer_done):
                            m.d.sync += state.eq(S.DRAIN1)
                        with m.Else():
                            m.d.comb += [tile_start.eq(1), read.eq(1)]
                            m.d.sync += load_meta()
                            m.d.sync += [mtile.g.eq(g), mtile.gq.eq(gq), mtile.gr.eq(gr), mtile.y.eq(y),
                                         mtile.xc.eq(xc), mtile.tile.eq(tile), mtile.last.eq(is_last_tile),
                                         tile_started.eq(0), pos_started.eq(0), state.eq(S.SCAN)]
                with m.Case(S.DRAIN1):
                    m.d.sync += [desc.eq(prog_rd.data), layer.eq(nxt), nxt.eq(Mux(nxt == L - 1, 0, nxt + 1)),
                                 state.eq(S.DRAIN2)]
                with m.Case(S.DRAIN2):
                    m.d.sync += layer_init()
                    m.d.sync += computed.eq(computed + 1)
                    with m.If(layer == 0):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += state.eq(S.IDLE)
                    with m.Else():
                        m.d.sync += state.eq(S.SETUP)

    # ------------------------------------------------------------------ weight loader (streamed weights)

    def _loader(self, m, prog, wwp, loaded, computed, image_start):
        """Takes the ``weights`` stream: layer ``lj`` bank by bank into region ``lj mod regions``,
        once layer ``lj - regions`` has finished.  ``loaded``/``computed``: layers of this image
        whose weights are in / that have finished (both restart with the image)."""
        hp = self.hp
        R, L = hp.rows, hp.layers
        rd = prog.read_port()
        ldesc = Signal(self.desc_layout, name="ldesc")
        lj = Signal(range(max(L, 2)), name="lj")
        lr = Signal(range(max(R, 2)), name="lr")
        li = Signal(_w(hp.region_words), name="li")
        active = Signal(name="lactive")
        m.d.comb += [rd.addr.eq(lj), ldesc.eq(rd.data)]
        free = Signal(name="lfree")
        m.d.comb += free.eq((lj < hp.regions) | (computed + hp.regions > lj))
        wwords = Array([ldesc.wwords[r] for r in range(R)])[lr]
        base = (lj[0] if hp.regions == 2 else Const(0, 1)) * hp.region_words
        word = Signal(_w(2 * hp.region_words + 2), name="lword")
        m.d.comb += [word.eq(base + li), self.weights.ready.eq(active & free)]
        take = self.weights.valid & self.weights.ready
        for r, (even, odd) in wwp.items():
            for half, wp in ((0, even), (1, odd)):
                m.d.comb += [wp.addr.eq(word >> 1), wp.data.eq(self.weights.payload),
                             wp.en.eq(take & (lr == r) & (word[0] == half))]
        with m.If(image_start):
            m.d.sync += [active.eq(1), loaded.eq(0), computed.eq(0)]
        with m.Elif(take):
            with m.If(li + 1 < wwords):
                m.d.sync += li.eq(li + 1)
            with m.Elif(lr + 1 < R):
                m.d.sync += [li.eq(0), lr.eq(lr + 1)]
            with m.Else():
                m.d.sync += [li.eq(0), lr.eq(0), loaded.eq(loaded + 1), lj.eq(Mux(lj == L - 1, 0, lj + 1))]
                with m.If(lj == L - 1):
                    m.d.sync += active.eq(0)

    # ------------------------------------------------------------------ S1: address generation

    def _s1(self, m, desc, op1, op2, wrd, prd, go):
        hp = self.hp
        R, C, K, V = hp.rows, hp.cols, hp.scan, hp.lanes
        lK, lV = _log2(K), _log2(V)
        MT = hp.fields["max_terms"]
        tm = Array([desc.terms[i] for i in range(MT)])[op1.ti]
        nxt = Signal(self._op2_layout(), name="s1")
        m.d.comb += [nxt.kind.eq(op1.kind), nxt.acc.eq(op1.acc), nxt.flat.eq(desc.flat), nxt.gr.eq(op1.gr),
                     nxt.pad.eq(desc.pad), nxt.shift.eq(tm.shift), nxt.out.eq(desc.out), nxt.t.eq(op1.t), nxt.tile.eq(op1.tile),
                     nxt.last_tile.eq(op1.last_tile), nxt.layer.eq(op1.layer), nxt.last.eq(desc.last)]
        # weights of one event
        px = Signal(op1.xi.shape().width, name="px")
        dx_ok = Signal(name="dx_ok")
        m.d.comb += [px.eq(op1.xi >> tm.pswl),
                     dx_ok.eq((op1.xi & ((Const(1, 8) << tm.pswl) - 1)) < tm.pkw)]
        eoff = Signal(40, name="eoff")
        m.d.comb += eoff.eq(op1.g * tm.gstride + op1.cw * tm.cistride + op1.row * tm.kystride
                            + Mux(tm.conv, 0, px * C))
        ev = (op1.kind == OpKind.ACC) & op1.ev & dx_ok
        # read enables follow the events: a weight bank (both halves) reads on an ACC op that carries a
        # spike, a parameter bank on FINISH and FIRE; a port not enabled holds its last word, which the
        # PEs do not take (lv is low on an ACC op without a spike, no other op adds a weight or parameter)
        wren = Signal(2 * R, name="weight_ren")
        pren = Signal(R, name="param_ren")
        wgate = go & (op1.kind == OpKind.ACC) & op1.ev
        pgate = go & ((op1.kind == OpKind.FINISH) | (op1.kind == OpKind.FIRE))
        m.d.comb += [wren.eq(Mux(wgate, (1 << (2 * R)) - 1, 0)), pren.eq(Mux(pgate, (1 << R) - 1, 0))]
        for r in range(R):
            e = Signal(40, name=f"e{r}")
            a = Signal(40, name=f"a{r}")
            m.d.comb += [e.eq(tm.wbase[r] + eoff), a.eq(e >> lV),
                         nxt.par[r].eq(a[0]), nxt.off[r].eq(e[:lV] if lV else 0),
                         wrd[r][0].addr.eq((a + 1) >> 1), wrd[r][1].addr.eq(a >> 1),
                         wrd[r][0].en.eq(wren[2 * r]), wrd[r][1].en.eq(wren[2 * r + 1]),
                         nxt.rv[r].eq(op1.g * R + r < desc.OV)]
        kx_prev = None
        for c in range(C):
            kx = Signal(signed(op1.xb.shape().width + 8), name=f"kx{c}")
            m.d.comb += kx.eq(px - op1.xb if kx_prev is None else kx_prev - tm.sw)  # px - xb - c*sw
            kx_prev = kx
            with m.If(tm.conv):
                m.d.comb += [nxt.kx[c].eq(kx), nxt.lv[c].eq(ev & (kx >= 0) & (kx < tm.kw))]
            with m.Else():
                m.d.comb += [nxt.kx[c].eq(c), nxt.lv[c].eq(ev)]
        # parameters: slot 0 (init) for FINISH, slot t for FIRE
        slot = Mux(op1.kind == OpKind.FIRE, op1.t, 0)
        paddr = desc.pbase + Mux(desc.flat, op1.g, op1.gq) * desc.pslots + slot
        for r in range(R):
            m.d.comb += [prd[r].addr.eq(paddr), prd[r].en.eq(pren[r])]
        # spike write-back: bank b takes row (b - g*R) mod K, channel g*R + row
        gR = Signal(op1.g.shape().width + _w(R), name="gR")
        m.d.comb += gR.eq(op1.g * R)
        cr_out = (desc.OV + K - 1) >> lK
        x0 = Signal(_w(self.spike_word) + 8, name="wx0")
        m.d.comb += [x0.eq(op1.xc * C), nxt.x0.eq(x0)]
        for c in range(C):
            m.d.comb += nxt.lmask[c].eq(x0 + c < desc.WO)
        for b in range(K):
            row = Signal(lK + 1, name=f"wrow{b}")
            m.d.comb += row.eq((b - gR)[:lK] if lK else 0)
            o = gR + row
            m.d.comb += [nxt.wrow[b].eq(row), nxt.wen[b].eq((row < R) & (o < desc.OV)),
                         nxt.waddr[b].eq(((op1.t - 1) * cr_out + (o >> lK)) * desc.HO + op1.y)]
        with m.If(go):
            m.d.sync += op2.eq(nxt)

    # ------------------------------------------------------------------ S2: lanes, PEs, write-back

    def _s2(self, m, op2, wrd, prd, tmem, go):
        hp = self.hp
        R, C, K, V = hp.rows, hp.cols, hp.scan, hp.lanes
        A, Wt = hp.acc_width, hp.weight_width
        pe_op = Signal(PEOp, name="pe_op")
        with m.If(go):
            with m.Switch(op2.kind):
                with m.Case(OpKind.ACC):
                    with m.Switch(op2.acc):
                        with m.Case(AccKind.LOAD):
                            m.d.comb += pe_op.eq(PEOp.LOAD)
                        with m.Case(AccKind.SHIFT_ADD):
                            m.d.comb += pe_op.eq(PEOp.SHIFT_ADD)
                        with m.Default():
                            m.d.comb += pe_op.eq(PEOp.ADD)
                with m.Case(OpKind.FINISH):
                    m.d.comb += pe_op.eq(PEOp.FINISH)
                with m.Case(OpKind.FIRE):
                    m.d.comb += pe_op.eq(PEOp.FIRE)
        m.submodules.array = arr = PEArray(rows=R, cols=C, lanes=V, weight_width=Wt, acc_width=A,
                                           max_pad=hp.max_pad, shifts=hp.shifts,
                                           fault="gt" if self.fault == "gt" else None)
        m.d.comb += [arr.op.eq(pe_op), arr.par.eq(op2.par), arr.kx.eq(op2.kx), arr.lv.eq(op2.lv),
                     arr.rv.eq(op2.rv), arr.flat.eq(op2.flat), arr.gr.eq(op2.gr), arr.pad.eq(op2.pad),
                     arr.shift.eq(op2.shift)]
        for r in range(R):
            m.d.comb += [arr.even[r].eq(wrd[r][0].data), arr.odd[r].eq(wrd[r][1].data), arr.off[r].eq(op2.off[r]),
                         arr.params[r].eq(prd[r].data)]
        # logits
        m.d.comb += [self.logits.valid.eq(op2.kind == OpKind.READOUT),
                     self.logits.payload.tile.eq(op2.tile), self.logits.payload.last.eq(op2.last_tile)]
        m.d.comb += [arr.show.eq(op2.kind == OpKind.READOUT), self.logits.payload.u.eq(arr.u)]
        # spike write-back and its monitor
        fire = (op2.kind == OpKind.FIRE) & go
        spikes = Array([arr.spikes[r] for r in range(R)])
        Ws = self.spike_word
        tr = self.trace.payload
        m.d.comb += [self.trace.valid.eq(fire), tr.layer.eq(op2.layer), tr.tile.eq(op2.tile), tr.t.eq(op2.t),
                     tr.tensor.eq(op2.out), tr.en.eq(op2.wen)]
        for b in range(K):
            d = Signal(Ws, name=f"wd{b}")
            mk = Signal(Ws, name=f"wm{b}")
            m.d.comb += [d.eq((spikes[op2.wrow[b]] & op2.lmask) << op2.x0), mk.eq(op2.lmask << op2.x0),
                         tr.addr[b].eq(op2.waddr[b]), tr.data[b].eq(d), tr.mask[b].eq(mk)]
            for tid, banks in enumerate(tmem):
                if tid == 0 or banks[b] is None:
                    continue
                _, wp = banks[b]
                width = hp.tensors[tid]["word_bits"]
                m.d.comb += [wp.addr.eq(op2.waddr[b]), wp.data.eq(d[:width]),
                             wp.en.eq(Mux(fire & op2.wen[b] & (op2.out == tid), mk[:width], 0))]
