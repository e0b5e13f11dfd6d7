"""Accelerator configuration: a frozen dataclass, loaded once from TOML at the edge.

File format (``schema_version = 1``; see ``accel/configs/default.toml``)::

    schema_version = 1
    [array]   rows, cols (positive ints), dataflow ("os-broadcast")
    [pe]      weight_bits, acc_bits (positive ints)
    [memory]  weight_sram_kib, spike_sram_kib, offchip_bits_per_cycle (positive numbers)
    [clock]   mhz (positive number)

Every section and key is optional (defaults below); unknown sections or keys
are rejected with the accepted ones listed, as are zero or negative sizes.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import AccelError

SCHEMA_VERSION = 1
DATAFLOWS = ("os-broadcast",)
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.toml"

#: TOML section -> {key: (field name, type)}
_LAYOUT = {
    "array": {"rows": ("rows", int), "cols": ("cols", int), "dataflow": ("dataflow", str)},
    "pe": {"weight_bits": ("weight_bits", int), "acc_bits": ("acc_bits", int)},
    "memory": {
        "weight_sram_kib": ("weight_sram_kib", float),
        "spike_sram_kib": ("spike_sram_kib", float),
        "offchip_bits_per_cycle": ("offchip_bits_per_cycle", int),
    },
    "clock": {"mhz": ("clock_mhz", float)},
}


@dataclass(frozen=True)
class ArrayConfig:
    """One accelerator configuration (validated on construction).

    ``rows x cols`` PEs; ``weight_bits``: lane width of a weight SRAM row;
    ``acc_bits``: membrane register width; SRAM sizes in KiB (1 KiB = 8192 bits);
    ``offchip_bits_per_cycle``: weight load bandwidth; ``clock_mhz`` for latency.
    """

    rows: int = 8
    cols: int = 8
    dataflow: str = "os-broadcast"
    weight_bits: int = 8
    acc_bits: int = 32
    weight_sram_kib: float = 4096.0
    spike_sram_kib: float = 512.0
    offchip_bits_per_cycle: int = 64
    clock_mhz: float = 200.0
    source: str = dataclasses.field(default="<defaults>", compare=False)

    def __post_init__(self):
        for sec, keys in _LAYOUT.items():
            for key, (fname, typ) in keys.items():
                v = getattr(self, fname)
                where = f"config {self.source}: [{sec}] {key}"
                if typ is str:
                    if not isinstance(v, str):
                        raise AccelError(f"{where} must be a string, not {v!r}")
                    continue
                ok = isinstance(v, int) if typ is int else isinstance(v, (int, float))
                if isinstance(v, bool) or not ok:
                    kind = "an integer" if typ is int else "a number"
                    raise AccelError(f"{where} must be {kind}, not {v!r}")
                if not v > 0:
                    raise AccelError(f"{where} must be positive, not {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise AccelError(f"config {self.source}: [array] dataflow must be one of {list(DATAFLOWS)}, not {self.dataflow!r}")

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def weight_sram_bits(self) -> int:
        return int(self.weight_sram_kib * 8192)

    @property
    def spike_sram_bits(self) -> int:
        return int(self.spike_sram_kib * 8192)

    def with_shape(self, rows: int, cols: int) -> "ArrayConfig":
        """The same configuration with another array shape (validated)."""
        return dataclasses.replace(self, rows=rows, cols=cols, source=f"{self.source} with {rows}x{cols} array")


def config_from_dict(data: dict, source: str = "<dict>") -> ArrayConfig:
    """Validate a parsed TOML document and build an :class:`ArrayConfig`."""
    if not isinstance(data, dict):
        raise AccelError(f"config {source}: must be a TOML table, not {type(data).__name__}")
    data = dict(data)
    version = data.pop("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise AccelError(f"config {source}: schema_version {version!r} is not supported (this version reads {SCHEMA_VERSION})")
    kwargs = {}
    for sec, table in data.items():
        if sec not in _LAYOUT:
            raise AccelError(f"config {source}: unknown section [{sec}] (accepted: schema_version, {', '.join(f'[{s}]' for s in _LAYOUT)})")
        if not isinstance(table, dict):
            raise AccelError(f"config {source}: [{sec}] must be a table, not {table!r}")
        for key, v in table.items():
            if key not in _LAYOUT[sec]:
                raise AccelError(f"config {source}: unknown key [{sec}] {key} = {v!r} (accepted in [{sec}]: {', '.join(_LAYOUT[sec])})")
            kwargs[_LAYOUT[sec][key][0]] = v
    return ArrayConfig(source=source, **kwargs)


def load_config(path=None) -> ArrayConfig:
    """Read a TOML config file (``None``: the bundled ``configs/default.toml``)."""
    path = DEFAULT_CONFIG if path is None else Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise AccelError(f"config {path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise AccelError(f"config {path}: not valid TOML ({e})") from None
    return config_from_dict(data, str(path))
