"""The sweep on a Dask cluster gives exactly the points of the local sweep."""

import numpy as np
import pytest

from accel import sweep as sw
from accel.config import load_config
from accel.model import profile
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


def test_dask_cluster_sweep_equals_local_sweep():
    distributed = pytest.importorskip("dask.distributed")
    rng = np.random.default_rng(3)
    net = random_network(rng)
    inet = convert(net)
    prof = profile(inet, simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 3)))
    cfg = load_config(None)
    shapes = sw.parse_shapes([1, 2, 4], [1, 3])
    local = sw.sweep(prof, cfg, shapes, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as c:
        remote = sw.sweep(prof, cfg, shapes, cluster=c.scheduler_address)
    assert [p.flat() for p in remote] == [p.flat() for p in local]
