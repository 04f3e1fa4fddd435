"""Security policies: no public load balancers, non-root and unprivileged pods outside the GPU
system namespaces, no secrets as literal environment values."""

from __future__ import annotations

import re

from components.airgap.workloads import is_map, is_seq

from .base import resource_policy
from .facts import facts_of
from .k8s import flag_value, helm_values, meta, object_name, object_namespace, policy_pod_specs, walk_values, workload_containers

_INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}


def _internal(annotations) -> bool:
    return is_map(annotations) and any(str(annotations.get(k)) in v for k, v in _INTERNAL_LB_ANNOTATIONS.items())


def _no_public_lb(args, report):
    values = helm_values(args.resource_type, args.props)
    if values is not None:
        # Charts render Services from values: {type|serviceType: LoadBalancer, annotations: ...}.
        for path, node in walk_values(values):
            if not is_map(node):
                continue
            for key in ("type", "serviceType"):
                if node.get(key) == "LoadBalancer" and not _internal(node.get("annotations")):
                    report(f"Helm release {args.name}: {path}.{key} requests an internet-facing LoadBalancer; "
                           "use ClusterIP behind the gateway or annotate it internal in the same values")
        return
    if args.resource_type == "kubernetes:operator.knative.dev/v1beta1:KnativeServing":
        kourier = ((args.props.get("spec") or {}).get("ingress") or {}).get("kourier") or {}
        if kourier.get("service-type") == "LoadBalancer":
            report(f"{object_name(args.props, args.name)}: spec.ingress.kourier.service-type LoadBalancer exposes "
                   "Kourier outside the cluster; use ClusterIP behind your own internal ingress")
        return
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    spec = args.props.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return
    if not _internal(meta(args.props).get("annotations") or {}):
        report(f"{object_name(args.props, args.name)}: Service type LoadBalancer is internet-facing; annotate it "
               "internal (e.g. service.beta.kubernetes.io/aws-load-balancer-scheme: internal) or use ClusterIP behind the gateway")


no_public_lb = resource_policy(
    "no-public-load-balancers",
    "No Service of type LoadBalancer without an internal-scheme annotation, also when requested through Helm "
    "values or Knative's Kourier settings.",
    _no_public_lb,
)


def _namespace(args) -> str | None:
    return object_namespace(args.resource_type, args.props)


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
        added = {str(c).upper().removeprefix("CAP_") for c in (sc.get("capabilities") or {}).get("add") or []}
        if sc.get("privileged") is True:
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} is privileged")
        elif added - _RESTRICTED_CAPABILITIES:
            # Pod Security "restricted" allows adding NET_BIND_SERVICE only; every other capability widens the
            # container's reach into the node (the old short list missed e.g. SYS_PTRACE, DAC_OVERRIDE, BPF).
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} adds capabilities "
                   f"{sorted(added - _RESTRICTED_CAPABILITIES)}; only NET_BIND_SERVICE may be added")
        if sc.get("allowPrivilegeEscalation") is True:
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} allows privilege escalation")
    for path, _loc, pod in policy_pod_specs(args.resource_type, args.props):
        for key in ("hostPID", "hostNetwork", "hostIPC"):
            if pod.get(key) is True:
                report(f"{object_name(args.props, args.name)}: pod {path} sets {key}")


_RESTRICTED_CAPABILITIES = {"NET_BIND_SERVICE"}

no_privileged = resource_policy(
    "no-privileged-containers",
    "No privileged containers, privilege escalation, host namespaces or added capabilities (other than "
    "NET_BIND_SERVICE) outside the GPU system namespaces, in workloads and Helm-values pods alike.",
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

# Flags whose value is a credential: on a command line it is readable by anyone who can list
# processes on the node or read the pod spec (kubelet expands $(VAR) before exec, so even an
# env reference ends up in plain text in /proc/<pid>/cmdline).
_SECRET_FLAGS = ("--api-key", "--hf-token", "--token", "--password", "--secret-key", "--access-key", "--secret")
# scheme://user:password@host with a literal password (not a ${VAR}/$(VAR) reference).
_URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@$]+:[^/\s@$({]+@", re.I)


def _secrets_in_args(args, report):
    for path, _loc, _pod, cpath, c in workload_containers(args.resource_type, args.props):
        words = [str(w) for key in ("command", "args") if is_seq(c.get(key)) for w in c.get(key)]
        for flag in _SECRET_FLAGS:
            if flag_value(words, flag) is not None:
                report(f"{object_name(args.props, args.name)}: container {path}.{cpath} passes {flag} on its command "
                       "line, readable in the pod spec and the node's process list; pass it through a Secret-backed "
                       "env variable or file the program reads itself (vLLM: VLLM_API_KEY)")
        if any(_SECRET_VALUE.match(w) for w in words):
            report(f"{object_name(args.props, args.name)}: container {path}.{cpath} has a key or token in its arguments")


secrets_in_args = resource_policy(
    "no-secrets-in-args",
    "No API key, token or password on a container's command line (--api-key and similar flags, or key-like values).",
    _secrets_in_args,
)


def _strings(value, path):
    return ((p, v) for p, v in walk_values(value, path) if isinstance(v, str))


def _url_credentials(args, report):
    if args.resource_type == "kubernetes:core/v1:Secret":
        return  # the one place credentials belong
    for path, value in _strings(args.props, "props"):
        if _URL_CREDENTIALS.search(value):
            report(f"{object_name(args.props, args.name)}: {path.removeprefix('props.')} embeds credentials in a URL "
                   "(user:password@); keep them in a Secret and pass them separately")


url_credentials = resource_policy(
    "no-credentials-in-urls",
    "No URL with an embedded user:password anywhere outside Secrets (env, args, Helm values, ConfigMaps, custom resources).",
    _url_credentials,
)

POLICIES = [no_public_lb, non_root, no_privileged, literal_secrets, secrets_in_args, url_credentials]
