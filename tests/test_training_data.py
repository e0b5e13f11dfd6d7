"""The digits data set: bundled test split (no scikit-learn needed) and its regeneration."""

import json

import numpy as np
import pytest

from golden import datasets
from golden.errors import GoldenError


def test_bundled_test_split():
    s = datasets.digits_test()
    assert s.x.dtype == np.int64 and s.x.shape == (360, 1, 8, 8)
    assert s.y.dtype == np.int64 and s.y.shape == (360,)
    assert s.x.min() == 0 and s.x.max() == 16
    assert np.bincount(s.y, minlength=10).min() >= 35  # stratified


def test_input_node_means_k_over_16():
    n = datasets.input_node()
    assert n.bits == 5 and n.shape == (1, 8, 8)
    assert n.scale * 16 / ((1 << n.bits) - 1) == pytest.approx(1.0)


def test_regenerated_split_equals_bundled(tmp_path):
    pytest.importorskip("sklearn")
    p = datasets.write_test_split(tmp_path / "t.npz")
    a, b = datasets.load_split(p), datasets.digits_test()
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    tr = datasets.digits_train()
    assert len(tr) == 1437 and tr.x.shape[1:] == (1, 8, 8)


def _write(path, **over):
    info = {"schema_version": 1, "format": "snnbits-dataset", "name": "t", "split": {}, "input_bits": 5,
            "input_scale": 31 / 16, "count": 2}
    info.update(over.pop("info", {}))
    arrays = {"info.json": np.frombuffer(json.dumps(info).encode(), dtype=np.uint8),
              "x": np.zeros((2, 1, 8, 8), np.uint8), "y": np.zeros(2, np.uint8)}
    arrays.update(over)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "over, match",
    [
        ({"info": {"schema_version": 9}}, "schema_version 9 is not supported"),
        ({"info": {"format": "other"}}, "field 'format'"),
        ({"x": np.zeros((2, 1, 8, 8), np.float32)}, "array 'x'"),
        ({"x": np.full((2, 1, 8, 8), 17, np.uint8)}, "0..16"),
        ({"y": np.full(2, 10, np.uint8)}, "labels"),
        ({"info": {"count": 3}}, "field 'count'"),
        ({"extra": np.zeros(1)}, "entries"),
    ],
)
def test_bad_data_files(tmp_path, over, match):
    p = _write(tmp_path / "d.npz", **over)
    with pytest.raises(GoldenError, match=match) as e:
        datasets.load_split(p)
    assert str(p) in str(e.value)


def test_pickled_data_refused(tmp_path):
    p = tmp_path / "p.npz"
    np.savez(p, **{"info.json": np.array([{"a": 1}], dtype=object), "x": np.zeros(1), "y": np.zeros(1)})
    with pytest.raises(GoldenError, match="not a readable"):
        datasets.load_split(p)
