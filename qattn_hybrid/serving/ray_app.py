"""``qattn serve-ray``: the ``qattn serve`` app as a Ray Serve deployment with autoscaling replicas.

Each replica is the same FastAPI app as ``qattn serve`` (``app.create_app``: routes, auth,
validation, dynamic batching, metrics), with its own model and batcher; Ray's HTTP proxy
spreads requests over the replicas, and Ray Serve's autoscaler keeps the replica count between
``min_replicas`` and ``max_replicas`` so that each replica has about
``target_ongoing_requests`` requests in flight (queued or running). ``/metrics`` is the
answering replica's own; Ray exports cluster-wide metrics itself.

    deploy(ServerSettings(run_dir=...), ScalingSettings(max_replicas=4))  # -> the base URL
    replica_count()                                                        # RUNNING replicas

Needs the extras ``serve`` and ``ray``; ``qattn serve-ray`` checks before importing this.
Ray loads only inside the functions, so the settings can be checked without it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from qattn_hybrid.serving.app import ServerSettings, create_app, load_predictor, read_api_key

__all__ = ["APP_NAME", "QattnReplica", "ScalingSettings", "deploy", "replica_count",
           "run_ray_server"]

log = logging.getLogger(__name__)
APP_NAME = "qattn"  # the Ray Serve application and deployment name


@dataclass
class ScalingSettings:
    min_replicas: int = 1  # replicas kept however idle (each holds a loaded model)
    max_replicas: int = 2  # replicas at most (each needs cpus_per_replica free CPUs)
    target_ongoing_requests: float = 2.0  # requests in flight per replica the autoscaler aims at
    max_ongoing_requests: int = 16  # requests one replica takes at once (the rest queue)
    upscale_delay_s: float = 30.0  # load must stay above target this long before adding one
    downscale_delay_s: float = 600.0  # ... and below it this long before removing one
    look_back_period_s: float = 30.0  # window the ongoing requests are averaged over
    cpus_per_replica: float = 1.0  # Ray CPUs reserved per replica (and its torch threads)

    def check(self) -> None:
        for name in ("min_replicas", "max_replicas", "max_ongoing_requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{_flag(name)} must be an int >= 1; got {value!r}")
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max-replicas must be >= min-replicas ({self.min_replicas}); "
                             f"got {self.max_replicas}")
        for name in ("target_ongoing_requests", "look_back_period_s", "cpus_per_replica"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{_flag(name)} must be a number > 0; got {value!r}")
        if self.max_ongoing_requests < self.target_ongoing_requests:
            raise ValueError(f"max-ongoing-requests must be >= target-ongoing-requests "
                             f"({self.target_ongoing_requests}); got {self.max_ongoing_requests}")
        for name in ("upscale_delay_s", "downscale_delay_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{_flag(name)} must be a number >= 0; got {value!r}")

    def autoscaling_config(self) -> dict:
        """Ray Serve's ``autoscaling_config`` of the deployment."""
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": self.min_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
                "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
                "look_back_period_s": self.look_back_period_s}


def _flag(name: str) -> str:
    return name.replace("_", "-")  # as ServerSettings words it: the command-line name


class QattnReplica:
    """One replica: loads the model, then serves ``create_app``'s app (Ray Serve calls
    ``__serve_build_asgi_app__`` after ``__init__``, on the replica)."""

    def __init__(self, settings: ServerSettings, api_key: str | None, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.settings, self.api_key = settings, api_key

    def __serve_build_asgi_app__(self):
        predictor = load_predictor(self.settings.run_dir, self.settings.fold)
        return create_app(self.settings, predictor, api_key=self.api_key)


def _application(settings: ServerSettings, scaling: ScalingSettings, api_key: str | None):
    from ray import serve

    # Decorated here, not at import, so that this module loads without Ray.
    deployment = serve.deployment(serve.ingress()(QattnReplica))
    return deployment.options(
        name=APP_NAME, autoscaling_config=scaling.autoscaling_config(),
        max_ongoing_requests=scaling.max_ongoing_requests,
        ray_actor_options={"num_cpus": scaling.cpus_per_replica},
    ).bind(settings, api_key, max(1, int(scaling.cpus_per_replica)))


def deploy(settings: ServerSettings, scaling: ScalingSettings, address: str | None = None,
           ray_init: dict | None = None) -> str:
    """Check the settings, connect to Ray (the cluster at `address`, else ``RAY_ADDRESS``, else
    a new local one; `ray_init`: more ``ray.init`` arguments) and run the app; returns once
    ``min_replicas`` replicas have loaded the model. The base URL is returned."""
    settings.check()
    scaling.check()
    key = read_api_key(settings.api_key_file) if settings.api_key_file else None
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init(address=address, **(ray_init or {}))
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(_application(settings, scaling, key), name=APP_NAME, route_prefix="/")
    return f"http://{settings.host}:{settings.port}"


def replica_count(state: str = "RUNNING") -> int:
    """How many replicas of the app are in `state` now (RUNNING: serving)."""
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    if app is None or APP_NAME not in app.deployments:
        return 0
    return sum(n for s, n in app.deployments[APP_NAME].replica_states.items()
               if str(getattr(s, "value", s)) == state)


def run_ray_server(settings: ServerSettings, scaling: ScalingSettings,
                   address: str | None = None, say=lambda line: None) -> None:
    """Deploy, then serve until interrupted; then the app is deleted and Ray disconnected (a
    local Ray started here stops with it)."""
    import ray
    from ray import serve

    url = deploy(settings, scaling, address)
    say(f"Serving {settings.run_dir} ({'folded circuits' if settings.fold else 'circuit path'})"
        f" on Ray Serve at {url}/ ({scaling.min_replicas}-{scaling.max_replicas} replicas, "
        f"target {scaling.target_ongoing_requests:g} ongoing requests each)")
    say("API key required on /v1/* (Authorization: Bearer ...)" if settings.api_key_file else
        "No API key: listening on localhost only (give --api-key-file to serve other hosts)")
    try:
        while True:
            time.sleep(3600)
    finally:
        serve.delete(APP_NAME)
        ray.shutdown()
