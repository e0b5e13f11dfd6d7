"""One explicit example per defect a hostile but realistic user found, beside the generated corpora.

Each used to give a traceback, take gigabytes, or exit 0 with a wrong number; each
must now raise the package's :class:`SnnbitsError` subclass with a message naming
the file, the field and the value.
"""

from __future__ import annotations

import io
import json
import re
import os
import subprocess
import sys
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from snnbits.cli.accel import main as accel_main
from snnbits.cli.energy import report_from_files
from golden import datasets, ir, npzio, trace
from golden.convert import MAX_FOLDED, convert
from golden.errors import GoldenError
from golden.random import random_inputs, random_network
from golden.simulate import simulate
from snnbits.cli.inputs import input_shape
from snnbits.errors import SnnbitsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def numpy_warnings_are_errors():
    """A NumPy overflow or complex-cast warning is a silent wrong number in the making."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@pytest.fixture(scope="module")
def net():
    return random_network(np.random.default_rng(11), input_shape=(2, 6, 6), channels=(4,), classes=3, residual=False)


def arrays_of(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def with_json(files: dict, key: str, edit) -> dict:
    files = dict(files)
    doc = json.loads(files[key].tobytes())
    edit(doc)
    files[key] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    return files


def write(path, files: dict):
    np.savez(path, **files)
    return path


@pytest.fixture
def model_file(net, tmp_path):
    return ir.save(net, tmp_path / "m.npz")


@pytest.fixture
def trace_file(net, tmp_path):
    inet = convert(net)
    x = random_inputs(np.random.default_rng(2), net.input.shape, net.input.bits, 3)
    return trace.save(tmp_path / "t.npz", inet, simulate(inet, x), "fast")


# ------------------------------------------------------------------ decompression bombs


def _gf2_times(mat: list[int], vec: int) -> int:
    s, i = 0, 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _zeros_operator(nbytes_log2: int) -> list[int]:
    """The GF(2) matrix that advances a CRC-32 over 2**nbytes_log2 zero bytes (zlib's crc32_combine)."""
    op = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    for _ in range(3 + nbytes_log2):
        op = [_gf2_times(op, op[n]) for n in range(32)]
    return op


CHUNK_LOG2 = 20
CHUNK = bytes(1 << CHUNK_LOG2)


class _ZeroChunks:
    """Stand-ins for zipfile's deflate compressor and CRC that make a real deflate bomb fast: every
    1 MiB chunk of zeros is the same full-flushed deflate block, and its CRC is a matrix product."""

    def __init__(self):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.block = c.compress(CHUNK) + c.flush(zlib.Z_FULL_FLUSH)
        self.op = _zeros_operator(CHUNK_LOG2)
        self.chunk_crc = zlib.crc32(CHUNK)
        self.real = zlib.compressobj(9, zlib.DEFLATED, -15)

    def crc32(self, data, crc=0):
        return _gf2_times(self.op, crc) ^ self.chunk_crc if data is CHUNK else zlib.crc32(data, crc)

    def compress(self, data):
        if data is CHUNK:
            return self.block
        return self.real.compress(data) + self.real.flush(zlib.Z_FULL_FLUSH)

    def flush(self):
        return zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def test_the_bomb_builder_is_exact():
    """The fast CRC and the repeated block give what zlib gives on the real bytes."""
    z = _ZeroChunks()
    assert z.crc32(CHUNK, z.crc32(CHUNK, zlib.crc32(b"head"))) == zlib.crc32(CHUNK + CHUNK, zlib.crc32(b"head"))
    stream = z.compress(b"head") + z.compress(CHUNK) + z.compress(CHUNK) + z.flush()
    assert zlib.decompress(stream, -15) == b"head" + CHUNK + CHUNK


def build_bomb(path, model_files: dict, key: str, shape: tuple[int, ...]) -> Path:
    """A model archive whose member ``key`` is a real deflate stream of float64 zeros of ``shape``
    (a few MB on disk), the other members as they are."""
    z = _ZeroChunks()
    nbytes = int(np.prod(shape)) * 8
    assert nbytes % len(CHUNK) == 0
    orig_crc, orig_compressor = zipfile.crc32, zipfile._get_compressor
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in model_files.items():
            if k != key:
                buf = io.BytesIO()
                np.save(buf, v)
                zf.writestr(k + ".npy", buf.getvalue())
        zipfile.crc32, zipfile._get_compressor = z.crc32, lambda *a, **kw: z
        try:
            info = zipfile.ZipInfo(key + ".npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                header = io.BytesIO()
                np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
                f.write(header.getvalue())
                for _ in range(nbytes // len(CHUNK)):
                    f.write(CHUNK)
        finally:
            zipfile.crc32, zipfile._get_compressor = orig_crc, orig_compressor
    return Path(path)


MEASURE = """
import resource, sys, time
from golden import ir
from golden.errors import GoldenError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    ir.load(sys.argv[1])
    print("loaded")
except GoldenError as e:
    print("refused", e)
print(time.perf_counter() - t, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def load_in_subprocess(path) -> tuple[str, float, float]:
    """(first output line, seconds, peak RSS growth in MiB) of ``ir.load(path)`` in a fresh process."""
    p = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    first, last = p.stdout.strip().splitlines()[0], p.stdout.strip().splitlines()[-1]
    seconds, mib = map(float, last.split())
    return first, seconds, mib


@pytest.mark.parametrize("gib, reason", [(4, "more than 2 GiB"), (1, "a ratio above 100:1")])
def test_decompression_bomb_refused_fast_and_small(model_file, tmp_path, gib, reason, record_property):
    """A model archive of a few MB whose conv weight decompresses to ``gib`` GiB of zeros, consistent
    with its header (4 GiB: over the archive cap; 1 GiB: under it, refused by its compression ratio)."""
    files = arrays_of(model_file)
    O, C, kh, kw = files["conv0/weight"].shape
    shape = ((gib << 30) // (8 * C * kh * kw), C, kh, kw)
    bomb = build_bomb(tmp_path / "bomb.npz", files, "conv0/weight", shape)
    size = bomb.stat().st_size
    assert size < 8 << 20
    with zipfile.ZipFile(bomb) as zf:
        assert zf.getinfo("conv0/weight.npy").file_size > gib << 30
        with zf.open("conv0/weight.npy") as f:  # a real stream: its start decompresses to zeros
            f.read(128)
            assert f.read(1 << 20) == bytes(1 << 20)
    first, seconds, mib = load_in_subprocess(bomb)
    record_property("bomb", f"{size / 2**20:.1f} MB -> {gib} GiB: {seconds:.3f} s, {mib:.0f} MiB")
    print(f"bomb of {size / 2**20:.1f} MB decompressing to {gib} GiB: refused in {seconds:.3f} s, peak RSS +{mib:.0f} MiB")
    assert first.startswith("refused") and reason in first, first
    assert seconds < 1.0 and mib < 200


def test_lying_zip_directory_is_bounded(model_file, tmp_path):
    """A member whose deflate stream holds 1 GiB of zeros but whose directory says a few bytes:
    zipfile stops at the directory's size, so the header and the CRC refuse it, in bounded memory."""
    files = arrays_of(model_file)
    bomb = build_bomb(tmp_path / "bomb.npz", files, "conv0/weight", ((1 << 30) // 8,))
    raw = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("conv0/weight.npy")
        true_size = info.file_size
    # zip64: the real sizes sit in the extra fields; rewrite every 8-byte copy of the size to 1024
    needle = true_size.to_bytes(8, "little")
    assert raw.count(needle) >= 1
    raw = raw.replace(needle, (1024).to_bytes(8, "little"))
    lying = tmp_path / "lying.npz"
    lying.write_bytes(bytes(raw))
    first, seconds, mib = load_in_subprocess(lying)
    assert first.startswith("refused") and "conv0/weight" in first, first
    assert seconds < 1.0 and mib < 200


# ------------------------------------------------------------------ tracebacks from loaders


@pytest.mark.parametrize("edit, match", [
    (lambda g: g.update(nodes=5), r"field 'nodes' must be a list"),
    (lambda g: g["nodes"][1].update(name=3), r"field 'nodes\[1\]\.name' must be a string .*, not 3"),
    (lambda g: g["nodes"][1].update(inputs="input"), r"field 'nodes\[1\]\.inputs' must be a list"),
    (lambda g: g["nodes"][0]["attrs"].update(shape=[2, "6", 6]), r"field 'attrs\.shape\[1\]' must be an integer .*, not '6'"),
    (lambda g: g["nodes"][0]["attrs"].update(bits=4.0), r"field 'attrs\.bits' must be an integer in 1\.\.16, not 4\.0"),
    (lambda g: g["nodes"][0]["attrs"].update(scale=True), r"field 'attrs\.scale' must be a finite number .*, not True"),
    (lambda g: g["nodes"][0]["attrs"].update(shape=[10**30]), r"field 'attrs\.shape\[0\]' must be an integer in 1\.\.67108864, not 1e\+30"),
])
def test_json_of_the_wrong_type(model_file, edit, match):
    write(model_file, with_json(arrays_of(model_file), "graph.json", edit))
    with pytest.raises(GoldenError, match=match) as e:
        ir.load(model_file)
    assert str(model_file) in str(e.value)


def test_json_nested_100000_deep(model_file, trace_file, tmp_path):
    deep = np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), dtype=np.uint8)
    for path, key, loader in ((model_file, "graph.json", ir.load), (trace_file, "meta.json", trace.load)):
        write(path, {**arrays_of(path), key: deep})
        with pytest.raises(GoldenError, match=rf"'{key}' is nested too deeply"):
            loader(path)


def test_corrupt_deflate_data(model_file):
    raw = bytearray(model_file.read_bytes())
    with zipfile.ZipFile(model_file) as zf:
        info = zf.getinfo("conv0/weight.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 40 : start + 60] = bytes(20)
    model_file.write_bytes(bytes(raw))
    with pytest.raises(GoldenError, match=r"member 'conv0/weight'|array 'conv0/weight' is corrupt") as e:
        ir.load(model_file)
    assert "zlib" not in type(e.value).__module__


def test_truncated_archive(model_file):
    data = model_file.read_bytes()
    for n in (0, 10, len(data) // 2, len(data) - 1):
        model_file.write_bytes(data[:n])
        with pytest.raises(GoldenError, match=rf"model file {model_file}"):
            ir.load(model_file)


@pytest.mark.parametrize("field", ["B", "T", "N"])
def test_trace_sizes_of_1e30(trace_file, field):
    write(trace_file, with_json(arrays_of(trace_file), "meta.json", lambda m: m.update({field: 10**30})))
    with pytest.raises(GoldenError, match=rf"field '{field}' must be an integer in .*, not 1e\+30"):
        trace.load(trace_file)


def test_weights_of_1e308_and_tiny_lam_overflow_cleanly(net, tmp_path):
    big = net.nodes[1]
    nodes = [n if n is not big else ir.Conv2d(name=big.name, inputs=big.inputs, weight=np.full_like(big.weight, 1.7e308),
                                              bias=big.bias, stride=big.stride, padding=big.padding) for n in net.nodes]
    nodes = [n if not isinstance(n, ir.BatchNorm) else ir.BatchNorm(
        name=n.name, inputs=n.inputs, gamma=np.full_like(n.gamma, 4.0), beta=n.beta, mean=n.mean, var=n.var) for n in nodes]
    with pytest.raises(GoldenError, match=r"convert: layer 'q0': a folded weight overflows float64 \(folding conv0, bn0\)"):
        convert(ir.network(nodes))
    files = with_json(arrays_of(ir.save(net, tmp_path / "m.npz")), "graph.json",
                      lambda g: next(n for n in g["nodes"] if n["op"] == "qcfs")["attrs"].update(lam=5e-324))
    with pytest.raises(GoldenError, match=r"field 'attrs\.lam' must be a finite number in 1e-12\.\.1e\+12, not 5e-324"):
        ir.load(write(tmp_path / "m.npz", files))


def test_bn_var_plus_eps_near_zero_overflows_cleanly(net):
    nodes = [n if not isinstance(n, ir.BatchNorm) else ir.BatchNorm(
        name=n.name, inputs=n.inputs, gamma=np.full_like(n.gamma, 1e300), beta=n.beta, mean=n.mean,
        var=np.zeros_like(n.var), eps=5e-324) for n in net.nodes]
    with pytest.raises(GoldenError, match=r"a folded weight overflows float64"):
        convert(ir.network(nodes))


def test_zero_size_kernels(net):
    conv = net.nodes[1]
    for shape in [(4, 2, 0, 0), (0, 2, 3, 3), (4, 0, 3, 3)]:
        nodes = [ir.Conv2d(name="c", inputs=("input",), weight=np.zeros(shape))]
        with pytest.raises(GoldenError, match=rf"parameter 'weight' has shape \({', '.join(map(str, shape))}\) with a zero-sized dimension"):
            ir.network([net.nodes[0], *nodes])
    assert conv.weight.size


def _chain(n: int, kind: str) -> list:
    nodes = [ir.Input(name="x", inputs=(), shape=(2, 4, 4), bits=4, scale=1.0)]
    if kind == "batchnorm":
        nodes.append(ir.Conv2d(name="c", inputs=("x",), weight=np.ones((2, 2, 1, 1))))
    for i in range(n):
        prev = nodes[-1].name
        if kind == "batchnorm":
            nodes.append(ir.BatchNorm(name=f"b{i}", inputs=(prev,), gamma=np.ones(2), beta=np.zeros(2), mean=np.zeros(2), var=np.ones(2)))
        else:
            nodes.append(ir.AvgPool2d(name=f"p{i}", inputs=(prev,), kernel=(1, 1), stride=(1, 1)))
    if kind == "batchnorm":
        nodes.append(ir.QCFS(name="q", inputs=(nodes[-1].name,), lam=1.0, bits=4))
    nodes += [ir.Flatten(name="f", inputs=(nodes[-1].name,)), ir.Linear(name="fc", inputs=("f",), weight=np.ones((3, 32)))]
    return nodes


def test_3000_chained_nodes(tmp_path):
    """A 3,000-deep batchnorm chain is refused with a clear error (no RecursionError); a 3,000-deep chain of
    1x1 average pools (folded iteratively) converts and simulates like the network without them."""
    with pytest.raises(GoldenError, match=rf"more than {MAX_FOLDED} nodes .* fold into the layer"):
        convert(ir.load(ir.save(ir.network(_chain(3000, "batchnorm")), tmp_path / "bn.npz")))
    long, short = (convert(ir.network(_chain(n, "avgpool"))) for n in (3000, 0))
    x = random_inputs(np.random.default_rng(0), (2, 4, 4), 4, 2)
    assert np.array_equal(simulate(long, x).membrane["fc"], simulate(short, x).membrane["fc"])


def test_exponential_add_graph_is_refused_fast():
    """add(a, a) nested 60 times would fold 2**60 terms; the fold stops at MAX_FOLDED nodes."""
    nodes = [ir.Input(name="x", inputs=(), shape=(4,), bits=4, scale=1.0),
             ir.Linear(name="l", inputs=("x",), weight=np.eye(4))]
    for i in range(60):
        nodes.append(ir.Add(name=f"a{i}", inputs=(nodes[-1].name, nodes[-1].name)))
    with pytest.raises(GoldenError, match=r"more than 256 nodes"):
        convert(ir.network(nodes))


# ------------------------------------------------------------------ silent wrong results


def test_folded_bias_of_1e19_is_refused_not_wrapped(net, tmp_path):
    files = arrays_of(ir.save(net, tmp_path / "m.npz"))
    files["fc2/bias"] = np.full_like(files["fc2/bias"], 1e19)
    with pytest.raises(GoldenError, match=r"layer 'fc2' channel 0: the folded bias is .* accumulator units, more than a 53-bit"):
        convert(ir.load(write(tmp_path / "m.npz", files)))


def test_complex_weights_are_refused(net, tmp_path):
    files = arrays_of(ir.save(net, tmp_path / "m.npz"))
    files["fc2/weight"] = files["fc2/weight"] + 1j
    with pytest.raises(GoldenError, match=r"array 'fc2/weight' has dtype complex128, expected float"):
        ir.load(write(tmp_path / "m.npz", files))
    lin = next(n for n in net.nodes if n.name == "fc2")
    nodes = [n if n is not lin else ir.Linear(name=n.name, inputs=n.inputs, weight=n.weight + 0j) for n in net.nodes]
    with pytest.raises(GoldenError, match=r"parameter 'weight' has dtype complex128, complex; parameters must be real"):
        ir.network(nodes)


def test_trace_pixel_codes_wider_than_the_input(trace_file):
    files = arrays_of(trace_file)
    files["input/codes"] = files["input/codes"] + 200
    with pytest.raises(GoldenError, match=r"array 'input/codes' holds pixel code \d+, more than 15 \(4-bit input\)"):
        trace.load(write(trace_file, files))


@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_trace_bitplanes_must_be_a_bool(trace_file, value):
    write(trace_file, with_json(arrays_of(trace_file), "meta.json", lambda m: m.update(bitplanes=value)))
    with pytest.raises(GoldenError, match=rf"field 'bitplanes' must be true or false, not {value!r}"):
        trace.load(trace_file)


def test_trace_weight_bits_that_disagree_are_refused(trace_file, model_file):
    files = arrays_of(trace_file)
    write(trace_file, with_json(files, "meta.json", lambda m: m.update(weight_bits=4)))
    with pytest.raises(GoldenError, match=r"field 'layers\[0\]\.weight_bits' \(8\) exceeds the trace's weight_bits \(4\)"):
        trace.load(trace_file)
    write(trace_file, with_json(files, "meta.json", lambda m: m.update(weight_bits=12)))
    assert trace.load(trace_file).meta["weight_bits"] == 12  # on its own, plausible; against the model, not
    with pytest.raises(GoldenError, match=r"field 'layers\[0\]\.acc_bits' of layer 'q0' is \d+, but model .* \(weight_bits=12\) gives"):
        report_from_files(trace_file, model_file)


def test_edited_membrane_is_caught_by_resimulation(trace_file, model_file, net):
    files = arrays_of(trace_file)
    files["fc2/membrane"] = files["fc2/membrane"] + 1
    write(trace_file, files)
    with pytest.raises(GoldenError, match=r"layer 'fc2': the membrane differ from model .*'s simulation"):
        trace.check_matches(trace.load(trace_file), convert(net))


def test_string_labels_are_refused(tmp_path, net, capsys):
    x = random_inputs(np.random.default_rng(0), net.input.shape, net.input.bits, 3)
    model = ir.save(net, tmp_path / "m.npz")
    for y, match in [(np.array(["1", "2", "0"]), r"array 'y' has dtype <U1, expected signed integer or unsigned integer"),
                     (np.array([0.0, 1.0, 2.0]), r"array 'y' has dtype float64"),
                     (np.array([0, 1, 3]), r"labels must lie in 0\.\.2 \(3 classes\), found 0\.\.3"),
                     (np.array([0, -1, 2]), r"labels must be >= 0, found -1")]:
        np.savez(tmp_path / "in.npz", x=x, y=y)
        assert accel_main(["run", str(model), "--input", str(tmp_path / "in.npz"), "--out", str(tmp_path / "t.npz")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: input file") and __import__("re").search(match, err), err
    with pytest.raises(GoldenError, match=r"labels must be integers, not dtype <U1"):
        datasets.check_labels(np.array(["1"]), 10, "labels")


def test_data_file_labels_in_range(tmp_path):
    info = {"schema_version": 1, "format": "snnbits-dataset", "name": "t", "split": {}, "input_bits": 5,
            "input_scale": 31 / 16, "count": 2}
    p = write(tmp_path / "d.npz", {"info.json": np.frombuffer(json.dumps(info).encode(), np.uint8),
                                   "x": np.zeros((2, 1, 8, 8), np.uint8), "y": np.array([3, 10], np.uint8)})
    with pytest.raises(GoldenError, match=r"labels must lie in 0\.\.9 \(10 classes\), found 3\.\.10"):
        datasets.load_split(p)
    write(p, {"info.json": np.frombuffer(json.dumps(dict(info, input_bits=4)).encode(), np.uint8),
              "x": np.zeros((2, 1, 8, 8), np.uint8), "y": np.zeros(2, np.uint8)})
    with pytest.raises(GoldenError, match=r"fields 'input_bits', 'input_scale' are 4, 1\.9375"):
        datasets.load_split(p)


# ------------------------------------------------------------------ what holds


def test_traces_are_byte_identical_run_to_run(net, tmp_path):
    inet = convert(net)
    x = random_inputs(np.random.default_rng(5), net.input.shape, net.input.bits, 4)
    a = trace.save(tmp_path / "a.npz", inet, simulate(inet, x), "fast").read_bytes()
    b = trace.save(tmp_path / "b.npz", inet, simulate(inet, x, mode="literal"), "fast").read_bytes()
    assert a == b


def test_no_pickle_is_ever_loaded(model_file, tmp_path):
    """An object array's pickle would run code on load; the header alone refuses it, for every loader."""
    evil = np.array([{"a": 1}], dtype=object)
    for loader, path in ((ir.load, model_file), (datasets.load_images, tmp_path / "in.npz")):
        files = arrays_of(model_file) if loader is ir.load else {"x": np.zeros((1, 2)), "y": np.zeros(1, int)}
        files[next(k for k in files if k != "graph.json")] = evil
        np.savez(path, **files)
        with pytest.raises(GoldenError, match=r"dtype object holds Python objects, which only pickle can store"):
            loader(path)
    np.save(tmp_path / "x.npy", evil)
    with pytest.raises(GoldenError, match=r"dtype object holds Python objects"):
        datasets.load_images(tmp_path / "x.npy")


def test_limits_are_documented():
    """docs/file-formats.md states every limit with the value the code uses."""
    doc = (ROOT / "docs" / "file-formats.md").read_text()
    for name, value in [("golden.npzio.MAX_BYTES", npzio.MAX_BYTES), ("golden.npzio.MAX_MEMBERS", npzio.MAX_MEMBERS),
                        ("golden.npzio.MAX_JSON_BYTES", npzio.MAX_JSON_BYTES),
                        ("golden.npzio.DENSE_MAX_RATIO", npzio.DENSE_MAX_RATIO),
                        ("golden.npzio.DENSE_MIN_BYTES", npzio.DENSE_MIN_BYTES),
                        ("golden.ir.MAX_NODES", ir.MAX_NODES), ("golden.ir.MAX_ELEMENTS", ir.MAX_ELEMENTS),
                        ("golden.ir.MAX_BITS", ir.MAX_BITS), ("golden.convert.MAX_FOLDED", MAX_FOLDED)]:
        assert f"`{name}` = {value}" in doc, name


def _special_files(tmp_path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"a FIFO (named pipe)": fifo, "a character device": Path("/dev/zero"), "a folder": tmp_path}


@pytest.mark.parametrize("loader", [ir.load, trace.load, datasets.load_images, datasets.load_split,
                                    lambda p: npzio.read_npy(p, "input"), input_shape],
                         ids=["model", "trace", "images", "data", "npy", "input-shape"])
def test_devices_fifos_and_folders_are_refused_unopened(tmp_path, loader):
    """Reading /dev/zero as an .npz never ended (it took all memory); opening a FIFO with no writer
    blocks forever.  Every .npz/.npy loader refuses what is not a regular file, before opening it."""
    for kind, path in _special_files(tmp_path).items():
        outcome = []

        def load():
            try:
                loader(path)
            except SnnbitsError as e:
                outcome.append(str(e))
            except BaseException as e:  # reported below
                outcome.append(e)

        t = threading.Thread(target=load, daemon=True)
        t.start()
        t.join(10)
        if t.is_alive() and kind.startswith("a FIFO"):
            with open(path, "wb"):  # release the blocked reader
                pass
            t.join(10)
        assert outcome and isinstance(outcome[0], str), (kind, outcome or "still reading after 10 s")
        assert f"{path}: is {kind}, not a file" in outcome[0]


@pytest.mark.parametrize("line, value, field", [("node_nm = 45", "1000", "node_nm = 1000"),
                                                ("node_nm = 45", "5e-324", "node_nm = 4.94066e-324"),
                                                ("node_nm = 40", "3", "[register] node_nm = 3")])
def test_memory_table_nodes_outside_the_scaling_name_the_file_and_field(tmp_path, line, value, field):
    """A node the schema allowed but the technology scaling does not cover used to fail with
    'technology scaling: node ... is outside 7..130 nm', naming no file and no field."""
    from energy.errors import EnergyError
    from energy.memtable import DEFAULT_MEMORY_TABLE, load_memory_table

    text = DEFAULT_MEMORY_TABLE.read_text()
    assert f"\n{line}\n" in text
    path = tmp_path / "mem.toml"
    path.write_text(text.replace(f"\n{line}\n", f"\n{line.split('=')[0]}= {value}\n", 1))
    with pytest.raises(EnergyError, match=re.escape(f"memory table {path}: {field}: ") + ".*covers 7..130 nm"):
        load_memory_table(path)


def test_a_subnormal_clock_is_refused_not_priced_as_infinity(trace_file, model_file, tmp_path, capsys):
    """[clock] mhz = 5e-324 passed the configuration's '> 0' and made the latency and the leakage
    energy infinite: 'energy report' printed 'inf nJ' and 'nanx', 'accel sweep --json' wrote Infinity,
    both with exit code 0. The configuration now refuses clocks below 0.001 MHz on load."""
    from accel.config import DEFAULT_CONFIG
    from snnbits.errors import SnnbitsError

    cfg = tmp_path / "slow.toml"
    text = DEFAULT_CONFIG.read_text()
    assert "\nmhz = 200.0\n" in text
    cfg.write_text(text.replace("\nmhz = 200.0\n", "\nmhz = 5e-324\n"))
    with pytest.raises(SnnbitsError, match=re.escape(f"config {cfg}: [clock] mhz must be a finite number in "
                                                     "0.001..1000000, not 5e-324")):
        report_from_files(trace_file, model_file, config=cfg)
    out = tmp_path / "s.json"
    assert accel_main(["sweep", str(model_file), "--random", "1", "--rows", "1", "--cols", "1", "--config", str(cfg),
                       "--workers", "1", "--json", str(out)]) == 2
    assert "[clock] mhz must be a finite number" in capsys.readouterr().err and not out.exists()
