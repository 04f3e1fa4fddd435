"""Security policies: no public load balancers, non-root and unprivileged pods outside the GPU
system namespaces, no secrets as literal environment values."""

from __future__ import annotations

import re

from components.airgap.workloads import is_map, pod_specs

from .base import resource_policy
from .facts import facts_of
from .k8s import meta, object_name, workload_containers

_INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}


def _no_public_lb(args, report):
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    spec = args.props.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return
    ann = meta(args.props).get("annotations") or {}
    internal = any(str(ann.get(k)) in v for k, v in _INTERNAL_LB_ANNOTATIONS.items())
    if not internal:
        report(f"{object_name(args.props, args.name)}: Service type LoadBalancer is internet-facing; annotate it "
               "internal (e.g. service.beta.kubernetes.io/aws-load-balancer-scheme: internal) or use ClusterIP behind the gateway")


no_public_lb = resource_policy(
    "no-public-load-balancers",
    "No Service of type LoadBalancer without an internal-scheme annotation.",
    _no_public_lb,
)


def _namespace(args) -> str | None:
    ns = meta(args.props).get("namespace")
    return ns if isinstance(ns, str) else None


def _non_root(args, report):
    facts = facts_of(args)
    if _namespace(args) in facts.privileged_namespaces:
        return
    for path, _loc, pod, cpath, c in workload_containers(args.resource_type, args.props):
        pod_sc = pod.get("securityContext") or {}
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if "image" not in c and cpath == "model":
            continue  # KServe merges predictor.model into the runtime's container, checked on the runtime
        if non_root is not True and not (isinstance(user, (int, float)) and user > 0):
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} may run as root; "
                   "set securityContext.runAsNonRoot: true (and a non-zero runAsUser)")


non_root = resource_policy(
    "run-as-non-root",
    "Containers outside the GPU system namespaces run as non-root.",
    _non_root,
)


def _no_privileged(args, report):
    facts = facts_of(args)
    if _namespace(args) in facts.privileged_namespaces:
        return
    for path, _loc, pod, cpath, c in workload_containers(args.resource_type, args.props):
        sc = c.get("securityContext") or {}
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if sc.get("privileged") is True:
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} is privileged")
        elif added & {"SYS_ADMIN", "ALL", "CAP_SYS_ADMIN", "NET_ADMIN"}:
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} adds capabilities {sorted(added)}")
    for path, _loc, pod in pod_specs(args.resource_type, args.props):
        for key in ("hostPID", "hostNetwork", "hostIPC"):
            if pod.get(key) is True:
                report(f"{object_name(args.props, args.name)}: pod {path} sets {key}")


no_privileged = resource_policy(
    "no-privileged-containers",
    "No privileged containers, host namespaces or admin capabilities outside the GPU system namespaces.",
    _no_privileged,
)

_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
_SECRET_VALUE = re.compile(
    r"^(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{30,}|xox[bp]-[A-Za-z0-9-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*)$", re.S)
_NOT_SECRET_NAME = re.compile(r"(_FILE|_PATH|_DIR|_NAME|_REF|_ENABLED|_BUNDLE)$", re.I)


def _literal_secrets(args, report):
    for path, _loc, _pod, cpath, c in workload_containers(args.resource_type, args.props):
        for e in c.get("env") or []:
            if not is_map(e) or "value" not in e or e.get("valueFrom"):
                continue
            name, value = str(e.get("name", "")), e.get("value")
            if not isinstance(value, str) or value == "":
                continue
            by_name = _SECRET_NAME.search(name) and not _NOT_SECRET_NAME.search(name) and not value.startswith("/")
            if by_name or _SECRET_VALUE.match(value):
                report(f"{object_name(args.props, args.name)}: container {path}.{cpath} env {name} holds a literal "
                       "secret-like value; use valueFrom.secretKeyRef")


literal_secrets = resource_policy(
    "no-literal-secrets-in-env",
    "No environment variable carries a key, token or password as a literal value (use secretKeyRef).",
    _literal_secrets,
)

POLICIES = [no_public_lb, non_root, no_privileged, literal_secrets]
