"""Cross-field rules of the serving layer (called from ``PlatformConfig._cross_field_rules``).

Pure functions over the validated sections returning ``[(dotted.path, message)]``; each message
names the field, the bad value and what is allowed. They take the sections they read (serving,
the GPU pools, the cluster kind), never the whole platform config, so the component layer does
not depend on the program's config model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from components.serving.multinode import layout_problem, nodes_for, replicas_problem
from components.serving.names import knative_domain_rules

if TYPE_CHECKING:  # annotations only: importing the specs here would make ``components.serving`` unimportable first
    from components.gpu.spec import GpuPoolSpec
    from components.models.spec import EngineSpec
    from components.serving.spec import ServingSpec



def parallelism_rules(engine: EngineSpec, pool_name: str, pool: GpuPoolSpec, *, path: str) -> list[tuple[str, str]]:
    """Tensor x pipeline parallelism must lay out on the pool's nodes (tensor parallelism inside a
    node). ``path`` is the service spec's path; the stack rules and the service components both
    call this."""
    problem = layout_problem(engine.tensor_parallel, engine.pipeline_parallel, pool_name, pool.gpus_per_node)
    return [(f"{path}.engine.tensorParallel", problem)] if problem is not None else []


def serving_rules(serving: ServingSpec, pools: Mapping[str, GpuPoolSpec], *, cluster_kind: str) -> list[tuple[str, str]]:
    """Multi-node layouts, llm-d gateway provider vs cluster, Knative domain.

    ``pools`` are the stack's GPU pools by name (``gpu.pools``); ``cluster_kind`` is ``cluster.kind``.
    """
    issues: list[tuple[str, str]] = []
    s = serving
    for name, svc in sorted(s.services.items()):
        pool = pools.get(svc.pool)
        if pool is None:
            continue  # reported by the service rules
        tp, pp = svc.engine.tensor_parallel, svc.engine.pipeline_parallel
        layout = parallelism_rules(svc.engine, svc.pool, pool, path=f"serving.services.{name}")
        if layout:
            issues += layout
            continue
        nodes = nodes_for(tp, pp, pool.gpus_per_node)
        if nodes > 1:
            if not s.lws.install and cluster_kind != "render":
                issues.append(("serving.lws.install",
                               f"service {name!r} spans {nodes} nodes (tensor {tp} x pipeline {pp} > {pool.gpus_per_node} GPUs "
                               "per node) and runs on a LeaderWorkerSet; set serving.lws.install: true"))
            if (problem := replicas_problem(nodes, svc.replicas.min)) is not None:
                issues.append((f"serving.services.{name}.replicas.min", problem))
    if s.llmd.enabled and s.llmd.gateway_provider.startswith("gke-") and cluster_kind == "eks":
        issues.append(("serving.llmd.gatewayProvider",
                       f"{s.llmd.gateway_provider!r} is a GKE-managed gateway class and does not exist on EKS; "
                       "use 'istio' or 'agentgateway'"))
    if s.kserve.mode == "Knative":
        issues += knative_domain_rules(s.kserve.knative.domain, path="serving.kserve.knative.domain")
    return issues
