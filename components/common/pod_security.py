"""Security contexts of the platform's own pods (vLLM predictors, llm-d model services,
multi-node LeaderWorkerSets, MinIO and its jobs): non-root with a fixed uid/gid, no privilege
escalation, no capabilities, the runtime's seccomp profile (Pod Security "restricted").

The upstream vLLM image runs as root unless told otherwise, so ``runAsNonRoot`` alone would
stop the container from starting; the uid is set explicitly, and ``fsGroup`` makes model files
on a PVC and downloads into an emptyDir readable/writable by it.
"""

from __future__ import annotations

from typing import Any

RUN_AS = 1000
"""uid/gid of vLLM, its sidecars and MinIO (MinIO's own chart also runs as 1000:1000)."""


def container_security_context(uid: int = RUN_AS, read_only_root: bool = False) -> dict[str, Any]:
    """Container securityContext meeting Pod Security "restricted"."""
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if read_only_root:
        ctx["readOnlyRootFilesystem"] = True
    return ctx


def pod_security_context(uid: int = RUN_AS, knative: bool = False) -> dict[str, Any]:
    """Pod securityContext: fixed uid/gid and fsGroup (volumes group-owned by it). Knative's
    webhook accepts only fsGroup, runAsGroup, runAsNonRoot, supplementalGroups, runAsUser and
    seccompProfile (``kubernetes.podspec-securitycontext``), so no ``fsGroupChangePolicy`` there."""
    ctx: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if not knative:
        ctx["fsGroupChangePolicy"] = "OnRootMismatch"  # large model volumes: skip the recursive chown when possible
    return ctx
