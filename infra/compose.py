"""Composes the platform from the validated config, layer by layer, in dependency order:

air-gap transforms (must exist before any workload is registered) -> namespaces ->
GPU layer (pools, sharing, operator, DRA) -> serving controllers (cert-manager, KServe,
Knative, KEDA, LWS, llm-d) -> storage and models (MinIO, adapters, vLLM services) ->
observability. Each layer hands the next only what it needs (outputs and readiness),
never its internals.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.platform.namespaces import NamespacesArgs, NamespaceSpec, PlatformNamespaces
from infra.config import PlatformConfig
from infra.context import BuildContext, Providers
from infra.layers import airgap, gpu, models, observability, serving


def render_dir(cfg: PlatformConfig, stack: str) -> str:
    """Where a ``render`` stack writes manifests."""
    return cfg.cluster.render_dir or f"out/{stack}/manifests"


def _providers(cfg: PlatformConfig, stack: str) -> Providers:
    c = cfg.cluster
    if c.kind == "render":
        k8s_provider = k8s.Provider("k8s", render_yaml_to_directory=render_dir(cfg, stack))
    else:
        k8s_provider = k8s.Provider("k8s", kubeconfig=c.kubeconfig, context=c.context)
    aws_provider = None
    if c.kind == "eks":
        import pulumi_aws as aws

        aws_provider = aws.Provider("aws", region=c.region)
    return Providers(k8s=k8s_provider, aws=aws_provider)


def _namespaces(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    wanted: dict[str, NamespaceSpec] = {}
    for layer in (gpu, serving, models, observability):
        for name, spec in layer.namespaces_needed(cfg).items():
            previous = wanted.get(name)
            # The strictest requirement wins: data protection and the most permissive PSA level needed.
            if previous is not None:
                order = ["restricted", "baseline", "privileged"]
                spec = spec.model_copy(update={
                    "holds_data": spec.holds_data or previous.holds_data,
                    "enforce": max(spec.enforce, previous.enforce, key=order.index),
                    "labels": previous.labels | spec.labels,
                })
            wanted[name] = spec
    return wanted


def build_platform(cfg: PlatformConfig, stack: str) -> BuildContext:
    """Register every resource of the platform described by ``cfg``."""
    ctx = BuildContext(stack=stack, cfg=cfg, providers=_providers(cfg, stack))
    airgap.apply(ctx)
    ns = _namespaces(cfg)
    if ns:
        ctx.namespaces = PlatformNamespaces("platform", NamespacesArgs(namespaces=ns), ctx.k8s_opts())
    gpu_layer = gpu.build(ctx)
    serving_layer = serving.build(ctx, gpu_layer)
    models_layer = models.build(ctx, gpu_layer, serving_layer)
    observability.build(ctx, gpu_layer, serving_layer, models_layer)
    ctx.exports.setdefault("stack", stack)
    ctx.exports.setdefault("clusterKind", cfg.cluster.kind)
    if cfg.cluster.kind == "render":
        ctx.exports["renderDir"] = render_dir(cfg, stack)
    for key in sorted(ctx.exports):
        pulumi.export(key, ctx.exports[key])
    return ctx
