"""Accelerator configuration: a frozen dataclass, loaded once from TOML at the edge.

File format (``schema_version = 1``; see ``accel/configs/default.toml``)::

    schema_version = 1
    [array]   rows, cols (positive ints), scan (channels the encoder reads per cycle), dataflow ("os-broadcast")
    [pe]      weight_bits, acc_bits (positive ints)
    [memory]  weight_sram_kib, spike_sram_kib, offchip_bits_per_cycle (positive numbers)
    [clock]   mhz (0.001 .. 1e6)

Every section and key is optional (defaults below); the file is checked against
one declared schema (:data:`CONFIG`): unknown sections or keys are rejected with
the accepted ones listed, and every value must have its type and lie in its
range (sizes finite, at most :data:`MAX_SIDE` PEs a side, SRAMs from one bit to
:data:`MAX_SRAM_KIB` KiB).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from snnbits.schema import Int, Num, Obj, Str, Version, check, read_toml

from .errors import AccelError

SCHEMA_VERSION = 1
DATAFLOWS = ("os-broadcast",)
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.toml"
#: most PE rows or columns
MAX_SIDE = 4096
#: default scan width K: channels the zero-skipping encoder reads per cycle (one spike memory bank each)
SCAN = 16
#: smallest and largest SRAM, in KiB (one bit, 1 TiB)
MIN_SRAM_KIB = 2.0**-13
MAX_SRAM_KIB = float(1 << 30)

#: TOML section -> {key: dataclass field}
_LAYOUT = {
    "array": {"rows": "rows", "cols": "cols", "scan": "scan", "dataflow": "dataflow"},
    "pe": {"weight_bits": "weight_bits", "acc_bits": "acc_bits"},
    "memory": {"weight_sram_kib": "weight_sram_kib", "spike_sram_kib": "spike_sram_kib",
               "offchip_bits_per_cycle": "offchip_bits_per_cycle"},
    "clock": {"mhz": "clock_mhz"},
}

#: the configuration file (every section and key optional; missing ones take the defaults)
CONFIG = Obj({
    "schema_version": Version(SCHEMA_VERSION, optional=True),
    "array": Obj({
        "rows": Int(1, MAX_SIDE, optional=True),
        "cols": Int(1, MAX_SIDE, optional=True),
        "scan": Int(1, MAX_SIDE, optional=True),
        "dataflow": Str(choices=DATAFLOWS, optional=True),
    }, optional=True),
    "pe": Obj({"weight_bits": Int(1, 64, optional=True), "acc_bits": Int(1, 64, optional=True)}, optional=True),
    "memory": Obj({
        "weight_sram_kib": Num(MIN_SRAM_KIB, MAX_SRAM_KIB, optional=True),
        "spike_sram_kib": Num(MIN_SRAM_KIB, MAX_SRAM_KIB, optional=True),
        "offchip_bits_per_cycle": Int(1, 1 << 20, optional=True),
    }, optional=True),
    "clock": Obj({"mhz": Num(1e-3, 1e6, optional=True)}, optional=True),
})


@dataclass(frozen=True)
class ArrayConfig:
    """One accelerator configuration (validated on construction, against :data:`CONFIG`).

    ``rows x cols`` PEs; ``scan``: channels the zero-skipping encoder reads per
    cycle, one word from each of as many spike memory banks (the machine's ``K``:
    raised to the next power of two >= ``rows``, ``docs/architecture.md``);
    ``weight_bits``: lane width of a weight SRAM row;
    ``acc_bits``: membrane register width; SRAM sizes in KiB (1 KiB = 8192 bits);
    ``offchip_bits_per_cycle``: weight load bandwidth; ``clock_mhz`` for latency.
    """

    rows: int = 8
    cols: int = 8
    scan: int = SCAN
    dataflow: str = "os-broadcast"
    weight_bits: int = 8
    acc_bits: int = 32
    weight_sram_kib: float = 4096.0
    spike_sram_kib: float = 512.0
    offchip_bits_per_cycle: int = 64
    clock_mhz: float = 200.0
    source: str = dataclasses.field(default="<defaults>", compare=False)

    def __post_init__(self):
        doc = {sec: {key: getattr(self, f) for key, f in keys.items()} for sec, keys in _LAYOUT.items()}
        check(CONFIG, doc, f"config {self.source}", AccelError, style="toml")

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def weight_sram_bits(self) -> int:
        return int(self.weight_sram_kib * 8192)

    @property
    def spike_sram_bits(self) -> int:
        return int(self.spike_sram_kib * 8192)

    @property
    def scan_banks(self) -> int:
        """The machine's ``K``: ``scan`` raised to the next power of two >= ``rows``."""
        return 1 << (max(self.rows, self.scan) - 1).bit_length()

    def with_shape(self, rows: int, cols: int, scan: int | None = None) -> "ArrayConfig":
        """The same configuration with another array shape (and scan width; validated)."""
        scan = self.scan if scan is None else scan
        what = f"{rows}x{cols} array" + (f", scan {scan}" if scan != self.scan else "")
        return dataclasses.replace(self, rows=rows, cols=cols, scan=scan, source=f"{self.source} with {what}")


def config_from_dict(data: dict, source: str = "<dict>") -> ArrayConfig:
    """Validate a parsed TOML document against :data:`CONFIG` and build an :class:`ArrayConfig`."""
    doc = check(CONFIG, data, f"config {source}", AccelError, style="toml")
    kwargs = {_LAYOUT[sec][key]: v for sec, table in doc.items() if sec in _LAYOUT for key, v in table.items()}
    return ArrayConfig(source=source, **kwargs)


def load_config(path=None) -> ArrayConfig:
    """Read a TOML config file (``None``: the bundled ``configs/default.toml``)."""
    path = DEFAULT_CONFIG if path is None else Path(path)
    return config_from_dict(read_toml(path, f"config {path}", AccelError), str(path))
