"""Fault injection: `kill -9` a training process at random moments, including in the middle
of checkpoint writes, resume it, and check that

* every ``latest.json`` ever seen names an existing, complete checkpoint (hashes verified),
* every resumed run ends byte-identical to an uninterrupted one (weights, optimizer,
  best model, test metrics).

Processes come from a multiprocessing forkserver that imports torch, transformers and the
library once; each training process is a fresh fork of it, killed with SIGKILL.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import time
from pathlib import Path

import pytest

from qattn_hybrid.training.checkpoints import latest_checkpoint, load_checkpoint_state

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
N_TRIALS = 10  # each: one or two kills, then a resume to the end and a byte comparison
TIMEOUT_S = 240  # per launch, on a loaded 2-core machine
COMPARED = ["best/model.safetensors", "best/config.json", "test_metrics.json"]


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    ctx.set_forkserver_preload(["torch", "transformers", "transformers.models.bert",
                                "qattn_hybrid.training.factory", "fault_child"])
    return ctx


@pytest.fixture(scope="module")
def setup(tmp_path_factory, encoder_dir, make_config_dict):
    root = tmp_path_factory.mktemp("faults")
    (root / "markers").mkdir()

    def config_for(name: str) -> Path:
        config = make_config_dict(root / "data", root / name)
        config["model"]["encoder"] = str(encoder_dir)
        config["training"].update(epochs=4, keep_checkpoints=1, num_threads=1,
                                  eval_batch_size=8)
        path = root / f"{name}.json"
        path.write_text(json.dumps(config))
        return path

    return root, config_for


def launch(ctx, root: Path, config: Path, name: str, slow: bool):
    import fault_child

    proc = ctx.Process(target=fault_child.train,
                       args=(str(config), str(root / "markers"), name, slow))
    proc.start()
    return proc


def wait_for(path: Path, proc, timeout: float = TIMEOUT_S) -> bool:
    """True once ``path`` exists; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        if not proc.is_alive():
            return path.exists()
        time.sleep(0.01)
    raise TimeoutError(f"{path.name} did not appear within {timeout} s")


def check_run_folder(out: Path) -> None:
    """latest.json names an existing complete checkpoint; every final-named one is complete."""
    latest = latest_checkpoint(out) if out.is_dir() else None
    if latest is not None:
        assert latest.is_dir(), f"latest.json names missing {latest}"
        load_checkpoint_state(latest)
    for folder in sorted((out / "checkpoints").glob("epoch-*")):
        load_checkpoint_state(folder)


def final_bytes(out: Path) -> dict[str, bytes]:
    latest = latest_checkpoint(out)
    names = COMPARED + [str((latest / f).relative_to(out)) for f in
                        ("model/model.safetensors", "optimizer.pt", "weighting.safetensors")]
    return {name: (out / name).read_bytes() for name in names}


def test_kill_9_then_resume_is_byte_identical(forkserver, setup):
    root, config_for = setup
    rng = random.Random(12)
    ref = launch(forkserver, root, config_for("reference"), "ref", slow=False)
    wait_for(root / "markers" / "ref-started", ref)
    start = time.monotonic()
    ref.join(TIMEOUT_S)
    assert ref.exitcode == 0
    duration = time.monotonic() - start
    reference = final_bytes(root / "reference")

    kills = mid_checkpoint = 0
    for trial in range(N_TRIALS):
        name = f"trial{trial}"
        config, out = config_for(name), root / name
        for attempt in range(1 + trial % 2):  # odd trials are killed twice
            launch_name = f"{name}-{attempt}"
            in_checkpoint = (trial + attempt) % 2 == 1
            proc = launch(forkserver, root, config, launch_name, slow=in_checkpoint)
            if not wait_for(root / "markers" / f"{launch_name}-started", proc):
                continue
            if in_checkpoint:  # kill inside the n-th checkpoint write
                marker = root / "markers" / f"{launch_name}-ckpt-{rng.randint(1, 3)}"
                if wait_for(marker, proc):
                    time.sleep(rng.uniform(0.0, 0.3))
            else:
                time.sleep(rng.uniform(0.0, duration))
            if proc.is_alive():
                proc.kill()  # SIGKILL: no cleanup, no finally blocks
            proc.join(30)
            assert proc.exitcode in (0, -9)  # 0: it finished just before the kill
            if proc.exitcode == -9:
                kills += 1
                mid_checkpoint += in_checkpoint
            check_run_folder(out)
        final = launch(forkserver, root, config, f"{name}-final", slow=False)
        final.join(TIMEOUT_S)
        assert final.exitcode == 0, name
        check_run_folder(out)
        got = final_bytes(out)
        assert got.keys() == reference.keys()
        for key in reference:
            assert got[key] == reference[key], (name, key)
    print(f"fault injection: {N_TRIALS} trials, {kills} kill -9s ({mid_checkpoint} during "
          "checkpoint writes), every resumed run byte-identical")
    assert kills >= 10 and mid_checkpoint >= 3, (kills, mid_checkpoint)
