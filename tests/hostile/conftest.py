"""Seeds for the hostile-input corpora (valid files to mutate) and the tally printed after the run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from accel.config import DEFAULT_CONFIG
from energy.costs import DEFAULT_COSTS
from energy.memtable import DEFAULT_MEMORY_TABLE
from golden import datasets, ir, trace
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate

#: outcomes of every generated case: cases, loaded, refused, and the three that must stay 0
TALLY: Counter = Counter()


def pytest_terminal_summary(terminalreporter):
    if TALLY["cases"]:
        t = TALLY
        terminalreporter.write_line(
            f"hostile inputs: {t['cases']} generated cases ({t['cli']} through the CLI), {t['loaded']} loaded, "
            f"{t['refused']} refused with SnnbitsError; {t['traceback']} tracebacks, {t['silent']} silent wrong "
            f"results, {t['destroyed']} destroyed files"
        )


@pytest.fixture(scope="session")
def tally() -> Counter:
    return TALLY


def npz_arrays(path, json_keys=()) -> dict:
    """The arrays of an .npz (JSON entries decoded)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: (json.loads(z[k].tobytes()) if k in json_keys else z[k]) for k in z.files}


class Seeds:
    """The valid files the corpora mutate, and what they were made from."""

    dir: Path
    net: ir.Network
    inet: object
    model: Path
    model_arrays: dict
    trace: Path
    trace_arrays: dict
    data: Path
    data_arrays: dict
    inputs: Path
    input_arrays: dict
    config_text: str
    costs_text: str
    memtable_text: str
    ert_doc: dict

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"Seeds({self.dir})"


@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> Seeds:
    d = tmp_path_factory.mktemp("seeds")
    rng = np.random.default_rng(3)
    net = random_network(rng, input_shape=(2, 6, 6), channels=(4,), classes=3, residual=False, name="hostile")
    model = ir.save(net, d / "model.npz")
    inet = convert(net)
    x = random_inputs(rng, net.input.shape, net.input.bits, 3)
    tr = trace.save(d / "trace.npz", inet, simulate(inet, x, T=3), "fast")
    test = datasets.digits_test()
    info = {"schema_version": 1, "format": datasets.FORMAT, "name": "digits-test", "split": datasets.SPLIT,
            "input_bits": datasets.INPUT_BITS, "input_scale": datasets.INPUT_SCALE, "count": 4}
    data = d / "data.npz"
    np.savez_compressed(data, **{"info.json": np.frombuffer(json.dumps(info).encode(), np.uint8),
                                 "x": test.x[:4].astype(np.uint8), "y": test.y[:4].astype(np.uint8)})
    inputs = d / "inputs.npz"
    np.savez(inputs, x=x, y=np.array([0, 2, 1]))
    return Seeds(
        dir=d, net=net, inet=inet, model=model, model_arrays=npz_arrays(model, ("graph.json",)),
        trace=tr, trace_arrays=npz_arrays(tr, ("meta.json",)), data=data, data_arrays=npz_arrays(data, ("info.json",)),
        inputs=inputs, input_arrays=npz_arrays(inputs), config_text=DEFAULT_CONFIG.read_text(),
        costs_text=DEFAULT_COSTS.read_text(), memtable_text=DEFAULT_MEMORY_TABLE.read_text(), ert_doc=_ert(),
    )


def _ert() -> dict:
    from energy.accelergy import costs_to_ert
    from energy.costs import load_costs
    from energy.memtable import load_memory_table

    return costs_to_ert(load_costs(), load_memory_table())
