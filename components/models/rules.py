"""Cross-field rules of the models layer, called from ``PlatformConfig._cross_field_rules``.

Each returns ``[(dotted.path, message)]``; messages name the field, the bad value and what is
allowed. ``models_rules`` runs after every other rule passed (the capacity planner needs
valid pool and model references). :func:`service_pool_rules` checks one service against its
pool reference; the stack rules and ``VllmLoraService`` both call it, each with its own path
prefix (``serving.services.<name>`` and ``spec``), so the facts in the message are the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from components.common.images import ImageRef
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.requests import GpuRequest, request_rules
from components.gpu.spec import DraSharing
from components.models.planning import capacity_rules, time_slicing_rules
from components.models.spec import AdapterSpec, LoraServiceSpec


def service_pool_rules(svc: LoraServiceSpec, pool_ref: GpuPoolRef, *, claim_templates: Collection[str] | None,
                       path: str) -> list[tuple[str, str]]:
    """The service's GPU request against what its pool offers (MIG slices, DRA claims, GPUs per
    node, tensor parallelism). ``claim_templates``: the DRA claim template names that exist, or
    None when unknown (a component given a claim name cannot see the stack's templates); the stack
    passes its templates by name, and their device counts are then checked against a node too."""
    req = GpuRequest(count=svc.gpu.count, mig_profile=svc.gpu.mig_profile, dra_claim=svc.gpu.dra_claim)
    issues = [(f"{path}.{field}", reason) for field, reason in request_rules(
        req, pool_ref, tensor_parallel=svc.engine.tensor_parallel, pipeline_parallel=svc.engine.pipeline_parallel,
        claim_templates=claim_templates)]
    pool = pool_ref.spec
    if (isinstance(pool.sharing, DraSharing) and req.dra_claim is not None and isinstance(claim_templates, Mapping)
            and req.dra_claim in claim_templates and claim_templates[req.dra_claim].count > pool.gpus_per_node):
        issues.append((f"gpu.dra.claimTemplates.{req.dra_claim}.count",
                       f"{claim_templates[req.dra_claim].count} devices per claim exceed the "
                       f"{pool.gpus_per_node} GPUs of a {pool_ref.name!r} node ({path})"))
    return issues


def duplicate_adapter_rules(adapters: Sequence[AdapterSpec], *, path: str) -> list[tuple[str, str]]:
    """An adapter (base model, name) declared twice: the registry serves one pinned version of each.
    ``path`` is the adapter list's (``models.adapters`` in the stack, ``adapters`` in the catalog)."""
    seen = Counter((a.base_model, a.name) for a in adapters)
    return [(f"{path}[{i}].name", f"adapter {a.name!r} of {a.base_model!r} is declared more than once; "
                                  "the registry serves exactly one pinned version per adapter")
            for i, a in enumerate(adapters) if seen[(a.base_model, a.name)] > 1]


def service_mode_rules(svc: LoraServiceSpec, kserve_mode: str, *, path: str) -> list[tuple[str, str]]:
    """What the service asks of KServe's deployment mode (``serving.kserve.mode``): scaling to zero
    needs Knative, KEDA autoscaling needs Standard and a range to scale in. The stack applies it to
    every service, the service components to their spec."""
    issues = []
    if svc.replicas.min == 0 and kserve_mode != "Knative":
        issues.append((f"{path}.replicas.min", "scale to zero (0) needs serving.kserve.mode 'Knative'"))
    if svc.autoscaling.enabled and svc.replicas.max <= svc.replicas.min:
        issues.append((f"{path}.replicas.max", f"autoscaling needs max > min ({svc.replicas.min})"))
    if svc.autoscaling.enabled and kserve_mode == "Knative":
        issues.append((f"{path}.autoscaling.enabled",
                       "KEDA autoscaling needs serving.kserve.mode 'Standard'; Knative mode scales on concurrency"))
    return issues


def adapter_mode_rules(svc: LoraServiceSpec, kserve_mode: str, *, path: str) -> list[tuple[str, str]]:
    """Static adapters (an init container) on a KServe service in Knative mode."""
    if svc.adapter_mode == "static" and kserve_mode == "Knative" and svc.frontend == "kserve":
        return [(f"{path}.adapterMode",
                 "'static' downloads adapters in an init container, which Knative refuses unless its "
                 "kubernetes.podspec-init-containers feature is on; use 'dynamic' (the default) or "
                 "serving.kserve.mode 'Standard'")]
    return []


def mode_rules(cfg) -> list[tuple[str, str]]:
    return [issue for name, svc in sorted(cfg.serving.services.items())
            for issue in adapter_mode_rules(svc, cfg.serving.kserve.mode, path=f"serving.services.{name}")]


def vllm_image_rules(image: ImageRef, *, path: str) -> list[tuple[str, str]]:
    """The vLLM image must be the version whose argument spec every emitted argument is checked against."""
    from components.models.vllm_args import PINNED_VLLM_VERSION

    if image.tag.removeprefix("v") != PINNED_VLLM_VERSION:
        return [(f"{path}.tag", f"{image.tag!r} is not the vLLM version the arguments are checked against; use "
                                f"'v{PINNED_VLLM_VERSION}' (components/models/vllm_argspec)")]
    return []


def image_rules(cfg) -> list[tuple[str, str]]:
    return vllm_image_rules(cfg.models.vllm_image, path="models.vllmImage")


def models_rules(cfg) -> list[tuple[str, str]]:
    """Adapter-mode and image rules, shared-GPU memory, then the VRAM capacity check of every service."""
    early = mode_rules(cfg) + image_rules(cfg)  # maxModelLen vs context: planning.architecture_rules
    return early + time_slicing_rules(cfg) + (capacity_rules(cfg) if not early else [])
