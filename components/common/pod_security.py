"""Security contexts of the platform's own pods (vLLM predictors, llm-d model services,
multi-node LeaderWorkerSets, MinIO and its jobs): non-root, no privilege escalation, no
capabilities, the runtime's seccomp profile (Pod Security "restricted", OpenShift
``restricted-v2``).

Who picks the uid depends on the cluster. Where the pod does (EKS, any kubeconfig cluster,
``RUN_AS``): the upstream vLLM image runs as root unless told otherwise, so ``runAsNonRoot``
alone would stop the container from starting; the uid is set explicitly, and ``fsGroup`` makes
model files on a PVC and downloads into an emptyDir readable/writable by it. Where the
namespace does (OpenShift, ``uid=None``): ``restricted-v2`` rejects any ``runAsUser`` outside
the namespace's ``openshift.io/sa.scc.uid-range`` and any ``fsGroup`` but its first GID, and
assigns both itself; the pod then runs with that uid and primary group 0, so nothing is pinned
and files the pods read must be group-0 readable.
"""

from __future__ import annotations

from typing import Any

RUN_AS = 1000
"""uid/gid of vLLM, its sidecars and MinIO where the pod picks it (MinIO's own chart also runs
as 1000:1000)."""

RunAs = int | None
"""A fixed uid/gid, or None where the cluster assigns one per namespace (OpenShift)."""


def container_security_context(uid: RunAs = RUN_AS, read_only_root: bool = False) -> dict[str, Any]:
    """Container securityContext meeting Pod Security "restricted" (and ``restricted-v2``)."""
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if uid is not None:
        ctx["runAsUser"] = uid
        ctx["runAsGroup"] = uid
    if read_only_root:
        ctx["readOnlyRootFilesystem"] = True
    return ctx


def pod_security_context(uid: RunAs = RUN_AS, knative: bool = False) -> dict[str, Any]:
    """Pod securityContext: a fixed uid/gid and fsGroup (volumes group-owned by it), or none of
    them where the cluster assigns them. Knative's webhook accepts only fsGroup, runAsGroup,
    runAsNonRoot, supplementalGroups, runAsUser and seccompProfile
    (``kubernetes.podspec-securitycontext``), so no ``fsGroupChangePolicy`` there."""
    ctx: dict[str, Any] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if uid is not None:
        ctx |= {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    if not knative:
        # Large model volumes: skip the recursive chown when possible (also for the fsGroup
        # OpenShift assigns when the pod sets none).
        ctx["fsGroupChangePolicy"] = "OnRootMismatch"
    return ctx


def run_as_for(cluster_kind: str) -> RunAs:
    """The uid the platform's pods pin on a ``cluster_kind`` cluster (None: assigned by it)."""
    return None if cluster_kind == "openshift" else RUN_AS
