"""Security contexts of the serving layer's own model-server pods (llm-d model services,
multi-node LeaderWorkerSets): non-root with a fixed uid/gid, no privilege escalation, no
capabilities, the runtime's seccomp profile (Pod Security "restricted").

The upstream vLLM image runs as root unless told otherwise, so ``runAsNonRoot`` alone would
stop the container from starting; the uid is set explicitly, and ``fsGroup`` makes model files
on a PVC and downloads into an emptyDir readable/writable by it.
"""

from __future__ import annotations

from typing import Any

RUN_AS = 1000
"""uid/gid of vLLM and its helpers (the same as the models layer's InferenceServices)."""


def container_security_context(uid: int = RUN_AS) -> dict[str, Any]:
    """Container securityContext meeting Pod Security "restricted"."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = RUN_AS) -> dict[str, Any]:
    """Pod securityContext: fixed uid/gid and fsGroup (volumes group-owned by it)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
