"""The training process of test_fault_injection.py (started by a multiprocessing forkserver
that has torch, transformers and the library imported once, so each start is quick)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def train(config_path: str, marker_dir: str, launch: str, slow_checkpoints: bool) -> None:
    """Train (resuming whatever is there) and leave marker files the parent waits on.

    slow_checkpoints: every optimizer-state write inside a checkpoint announces itself
    (``<launch>-ckpt-<n>``) and takes ~0.3 s longer, so the parent can kill mid-write.
    """
    import torch

    torch.set_num_threads(1)
    from qattn_hybrid.config.sections import Config
    from qattn_hybrid.training.factory import build_trainer

    markers = Path(marker_dir)
    if slow_checkpoints:
        real_save, count = torch.save, [0]

        def slow_save(obj, path, *args, **kwargs):  # only checkpoints call torch.save
            count[0] += 1
            (markers / f"{launch}-ckpt-{count[0]}").write_text("")
            time.sleep(0.15)
            real_save(obj, path, *args, **kwargs)
            time.sleep(0.15)

        torch.save = slow_save
    trainer = build_trainer(Config.from_dict(json.loads(Path(config_path).read_text())))
    (markers / f"{launch}-started").write_text("")
    trainer.fit(resume=True)
    (markers / f"{launch}-done").write_text("")
