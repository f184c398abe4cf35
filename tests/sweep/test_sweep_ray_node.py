"""`sweep --executor ray` when a whole node dies: a two-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`), one node removed while it measures; its in-flight task becomes one failed row, the
rest of its group runs on the other node, and every planned measurement is stored exactly once. Slow."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.results.store import load_results
from profiler.sweep.exec import events
from profiler.sweep.run import plan, run_sweep
from tests.support.sweeps import tiny_ray_config  # the same tiny three-model config as test_sweep_ray.py

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_node_that_dies_mid_group_is_one_failed_row_and_the_sweep_goes_on(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
    from ray.cluster_utils import Cluster

    from profiler.sweep.exec.ray_pool import RayExecutor

    # A head without CPUs (it must survive) and two one-CPU worker nodes.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    config = tiny_ray_config(tmp_path, iters=400)  # long enough that the victim is still measuring when its node goes
    tasks = plan(config, "cpu")
    victim = tasks[2].key
    removed: list[str] = []

    class NodeKiller(RayExecutor):
        def _handle(self, slot, msg):
            if isinstance(msg, events.Start) and msg.key == victim and not removed:
                node = next(n for n in nodes if n.node_id == slot.ray_node_id)
                removed.append(node.node_id)
                cluster.remove_node(node, allow_graceful=False)
            yield from super()._handle(slot, msg)

    try:
        run_sweep(config, device="cpu", run_dir=tmp_path / "run", show_progress=False, make_executor=NodeKiller)
    finally:
        ray.shutdown()
        cluster.shutdown()
    df = load_results(tmp_path / "run")
    assert removed, "the victim task never started"
    assert sorted(df["task_key"]) == sorted(t.key for t in tasks)  # each once
    failed = df[df["status"] == "failed"]
    assert list(failed["task_key"]) == [victim], failed[["task_key", "error"]].to_string()
    assert failed["error"].iloc[0].startswith("Ray worker died")
    assert (df[df["status"] == "ok"]["task_key"] != victim).all()
