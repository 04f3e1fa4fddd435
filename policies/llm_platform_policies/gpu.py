"""GPU policies: GPU requests are limits on tainted nodes' tolerations; MIG resources exist."""

from __future__ import annotations

from .base import resource_policy
from .facts import facts_of
from .k8s import gpu_resources, object_name, tolerates_gpu_taint, workload_containers


def _gpu_limits(args, report):
    facts = facts_of(args)
    name = object_name(args.props, args.name)
    pods_with_gpu: dict[str, dict] = {}
    for path, _loc, pod, cpath, c in workload_containers(args.resource_type, args.props):
        found = gpu_resources(c)
        for res, where in found.items():
            if "limits" not in where:
                report(f"{name}: container {path}.{cpath} requests {res} without a limit; extended resources must be set as limits")
        if found:
            pods_with_gpu[path] = pod
    if facts.gpu_taint:
        for path, pod in pods_with_gpu.items():
            if not tolerates_gpu_taint(pod):
                report(f"{name}: pod {path} uses GPUs but does not tolerate the nvidia.com/gpu:NoSchedule taint of GPU nodes")


gpu_limits = resource_policy(
    "gpu-workloads-limited-and-tolerating",
    "Containers using GPUs set them as limits, and their pods tolerate the GPU node taint.",
    _gpu_limits,
)


def _mig_catalog(args, report):
    facts = facts_of(args)
    known = set(facts.mig_resources)
    if not known:
        return
    name = object_name(args.props, args.name)
    for path, _loc, _pod, cpath, c in workload_containers(args.resource_type, args.props):
        for res in gpu_resources(c):
            if res.startswith("nvidia.com/mig-") and res not in known:
                report(f"{name}: container {path}.{cpath} requests {res}, which no GPU in the MIG catalog offers "
                       f"(known: {', '.join(sorted(known)[:8])}{'...' if len(known) > 8 else ''})")


mig_catalog = resource_policy(
    "mig-resources-in-catalog",
    "Every nvidia.com/mig-<profile> resource requested is a profile of a GPU in the MIG catalog.",
    _mig_catalog,
)

POLICIES = [gpu_limits, mig_catalog]
