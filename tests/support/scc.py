"""OpenShift Security Context Constraints admission, reproduced for tests: the ``restricted-v2``
SCC every authenticated user may use, applied to a pod spec in a namespace whose UID range was
allocated the way OpenShift allocates it.

The SCC object is the one OpenShift installs (cluster-kube-apiserver-operator
``bindata/bootkube/scc-manifests/0000_20_kube-apiserver-operator_00_scc-restricted-v2.yaml``, as
``../shared/research/openshift-ai.md`` §1.1 lists it) and is itself validated against the SCC
CRD in ``../shared/crds/openshift``. The admission rules follow apiserver-library-go's
``sccmatching`` (research §1.2): ``MustRunAsRange`` defaults ``runAsUser`` to the first UID of
``openshift.io/sa.scc.uid-range`` and refuses any other outside it; ``fsGroup: MustRunAs``
allows only the first GID of ``openshift.io/sa.scc.supplemental-groups``; required-drop
capabilities are added, other added capabilities must be allowed; privilege escalation,
privileged containers, host namespaces and ports are refused; seccomp must be
``runtime/default``; volumes must be of an allowed type; SELinux levels must equal the
namespace's ``openshift.io/sa.scc.mcs``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

RESTRICTED_V2: dict[str, Any] = {
    "apiVersion": "security.openshift.io/v1",
    "kind": "SecurityContextConstraints",
    "metadata": {"name": "restricted-v2"},
    "allowHostDirVolumePlugin": False,
    "allowHostIPC": False,
    "allowHostNetwork": False,
    "allowHostPID": False,
    "allowHostPorts": False,
    "allowPrivilegeEscalation": False,
    "allowPrivilegedContainer": False,
    "allowedCapabilities": ["NET_BIND_SERVICE"],
    "defaultAddCapabilities": None,
    "fsGroup": {"type": "MustRunAs"},
    "groups": [],
    "priority": None,
    "readOnlyRootFilesystem": False,
    "requiredDropCapabilities": ["ALL"],
    "runAsUser": {"type": "MustRunAsRange"},
    "seLinuxContext": {"type": "MustRunAs"},
    "seccompProfiles": ["runtime/default"],
    "supplementalGroups": {"type": "RunAsAny"},
    "users": [],
    "volumes": ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                "projected", "secret"],
}

# What the namespace SCC allocation controller writes on a new namespace (research §1.2: both
# ranges are the same block of the default 1000000000-1999999999/10000 allocator range).
NAMESPACE_ANNOTATIONS = {
    "openshift.io/sa.scc.uid-range": "1000620000/10000",
    "openshift.io/sa.scc.supplemental-groups": "1000620000/10000",
    "openshift.io/sa.scc.mcs": "s0:c25,c10",
}


@dataclass(frozen=True)
class NamespaceRanges:
    uid_min: int
    uid_max: int
    fs_group: int
    mcs: str

    @classmethod
    def from_annotations(cls, annotations: dict[str, str]) -> "NamespaceRanges":
        def block(value: str) -> tuple[int, int]:
            start, size = value.split(",")[0].split("/")
            return int(start), int(start) + int(size) - 1

        uid_min, uid_max = block(annotations["openshift.io/sa.scc.uid-range"])
        groups = annotations.get("openshift.io/sa.scc.supplemental-groups") or annotations["openshift.io/sa.scc.uid-range"]
        return cls(uid_min, uid_max, block(groups)[0], annotations["openshift.io/sa.scc.mcs"])


_SECCOMP = {"RuntimeDefault": "runtime/default", "Unconfined": "unconfined"}


def _seccomp(ctx: dict | None) -> str | None:
    profile = (ctx or {}).get("seccompProfile")
    if not profile:
        return None
    if profile.get("type") == "Localhost":
        return f"localhost/{profile.get('localhostProfile')}"
    return _SECCOMP.get(profile.get("type"), str(profile.get("type")))


def _ints(value: Any) -> Any:
    """Mock synthesis carries numbers as floats (protobuf Struct); the API server sees integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def admit(pod: dict[str, Any], scc: dict[str, Any], namespace_annotations: dict[str, str]) -> tuple[dict, list[str]]:
    """(the pod spec as the SCC mutates it, every violation). ``pod`` is a pod *spec*."""
    ns = NamespaceRanges.from_annotations(namespace_annotations)
    spec = _ints(copy.deepcopy(pod))
    problems: list[str] = []
    for field, allowed in (("hostNetwork", "allowHostNetwork"), ("hostPID", "allowHostPID"), ("hostIPC", "allowHostIPC")):
        if spec.get(field) and not scc[allowed]:
            problems.append(f"spec.{field}: Invalid value: true: Host namespaces are not allowed to be used")
    psc = spec.setdefault("securityContext", {})
    # fsGroup MustRunAs with the namespace's preallocated range min = max = first GID.
    if scc["fsGroup"]["type"] == "MustRunAs":
        if "fsGroup" in psc and psc["fsGroup"] != ns.fs_group:
            problems.append(f"spec.securityContext.fsGroup: Invalid value: [{psc['fsGroup']}]: "
                            f"{psc['fsGroup']} is not an allowed group (only {ns.fs_group})")
        psc.setdefault("fsGroup", ns.fs_group)
    if scc["runAsUser"]["type"] == "MustRunAsRange" and "runAsUser" in psc and not ns.uid_min <= psc["runAsUser"] <= ns.uid_max:
        problems.append(f"spec.securityContext.runAsUser: Invalid value: {psc['runAsUser']}: must be in the ranges: "
                        f"[{ns.uid_min}, {ns.uid_max}]")
    level = (psc.get("seLinuxOptions") or {}).get("level")
    if scc["seLinuxContext"]["type"] == "MustRunAs" and level is not None and level != ns.mcs:
        problems.append(f"spec.securityContext.seLinuxOptions.level: Invalid value: {level!r}: must be {ns.mcs!r}")
    psc.setdefault("seLinuxOptions", {"level": ns.mcs})
    allowed_seccomp = scc.get("seccompProfiles") or []
    pod_seccomp = _seccomp(psc)
    if pod_seccomp is not None and pod_seccomp not in allowed_seccomp and "*" not in allowed_seccomp:
        problems.append(f"spec.securityContext.seccompProfile.type: Invalid value: {pod_seccomp!r}: "
                        f"must be one of {allowed_seccomp}")
    for v in spec.get("volumes") or []:
        kind = next((k for k in v if k != "name"), None)
        if kind not in scc["volumes"] and "*" not in scc["volumes"]:
            problems.append(f"spec.volumes[{v.get('name')}]: Invalid value: {kind!r}: {kind} volumes are not allowed to be used")
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            where = f"spec.{key}[{c.get('name')}]"
            sc = c.setdefault("securityContext", {})
            if sc.get("privileged") and not scc["allowPrivilegedContainer"]:
                problems.append(f"{where}.securityContext.privileged: Invalid value: true: Privileged containers are not allowed")
            if sc.get("allowPrivilegeEscalation") and not scc["allowPrivilegeEscalation"]:
                problems.append(f"{where}.securityContext.allowPrivilegeEscalation: Invalid value: true: "
                                "Allowing privilege escalation for containers is not allowed")
            sc.setdefault("allowPrivilegeEscalation", bool(scc["allowPrivilegeEscalation"]))
            caps = sc.setdefault("capabilities", {})
            for cap in caps.get("add") or []:
                if cap not in (scc.get("allowedCapabilities") or []):
                    problems.append(f"{where}.securityContext.capabilities.add: Invalid value: {cap!r}: capability may not be added")
            drop = caps.setdefault("drop", [])
            for cap in scc.get("requiredDropCapabilities") or []:
                if cap not in drop:
                    drop.append(cap)
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid is not None and not ns.uid_min <= uid <= ns.uid_max:
                problems.append(f"{where}.securityContext.runAsUser: Invalid value: {uid}: must be in the ranges: "
                                f"[{ns.uid_min}, {ns.uid_max}]")
            if uid is None:
                sc["runAsUser"] = ns.uid_min  # MustRunAsRange: the first UID of the block
            c_level = (sc.get("seLinuxOptions") or {}).get("level")
            if c_level is not None and c_level != ns.mcs:
                problems.append(f"{where}.securityContext.seLinuxOptions.level: Invalid value: {c_level!r}: must be {ns.mcs!r}")
            c_seccomp = _seccomp(sc)
            if c_seccomp is not None and c_seccomp not in allowed_seccomp and "*" not in allowed_seccomp:
                problems.append(f"{where}.securityContext.seccompProfile.type: Invalid value: {c_seccomp!r}: "
                                f"must be one of {allowed_seccomp}")
            if sc.get("runAsNonRoot") and sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.append(f"{where}.securityContext.runAsNonRoot: runs as uid 0")
            for port in c.get("ports") or []:
                if port.get("hostPort") and not scc["allowHostPorts"]:
                    problems.append(f"{where}.ports: Invalid value: {port['hostPort']}: Host ports are not allowed to be used")
    return spec, problems


def _merge_by(key: str, base: list, overrides: list) -> list:
    """A strategic-merge list: entries of ``overrides`` replace those of ``base`` with the same key."""
    merged = {item[key]: item for item in base}
    for item in overrides:
        merged[item[key]] = {**merged.get(item[key], {}), **item}
    return list(merged.values())


def kserve_predictor_pod(runtime: dict, isvc: dict) -> dict:
    """The predictor pod spec KServe builds from a ServingRuntime and an InferenceService: the
    runtime's containers and volumes strategic-merged with the predictor's (KServe
    ``MergePodSpec``/``MergeRuntimeContainers``: volumes and env by name, mounts by path, args
    concatenated), the model's resources on ``kserve-container``, the predictor's pod fields and
    init containers. (KServe's injected storage initializer and, with ``enable-auth``,
    kube-rbac-proxy are OpenShift AI's containers, not the program's.)"""
    predictor = isvc["spec"]["predictor"]
    containers = copy.deepcopy(runtime["spec"]["containers"])
    model = predictor.get("model", {})
    main = next(c for c in containers if c["name"] == "kserve-container")
    main["resources"] = copy.deepcopy(model.get("resources", {}))
    main["args"] = list(main.get("args", [])) + list(model.get("args", []))
    main["env"] = _merge_by("name", main.get("env", []), copy.deepcopy(model.get("env", [])))
    main["volumeMounts"] = _merge_by("mountPath", main.get("volumeMounts", []), copy.deepcopy(model.get("volumeMounts", [])))
    spec = {k: copy.deepcopy(v) for k, v in predictor.items() if k not in ("model", "minReplicas", "maxReplicas", "autoScaling")}
    spec["containers"] = containers
    spec["volumes"] = _merge_by("name", copy.deepcopy(runtime["spec"].get("volumes", [])), spec.get("volumes", []))
    return spec
