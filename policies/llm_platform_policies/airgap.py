"""Air-gap policies: images from the mirror (pinned), no external model sources, offline mode on
model servers, the internal CA trusted, charts from the mirror."""

from __future__ import annotations

from components.airgap.helm_values import IMAGELESS_CHARTS, mirror_values_for_chart
from components.airgap.images import parse_image
from components.airgap.transforms import CA_ENV_NAMES, KSERVE_S3_CA_CONFIGMAP, KSERVE_S3_ENDPOINT, OFFLINE_ENV
from components.airgap.workloads import env_value, is_map

from .base import resource_policy, stack_policy
from .facts import facts_of
from .k8s import (
    HELM_TYPES,
    MOVING_TAGS,
    external_sources,
    helm_images,
    helm_values,
    image_allowed,
    images,
    meta,
    model_server_containers,
    object_name,
    workload_containers,
)


def _registry_allowlist(args, report):
    facts = facts_of(args)
    for path, image in images(args.resource_type, args.props):
        if not image_allowed(image, facts):
            report(f"{object_name(args.props, args.name)}: {path} pulls {image!r}, which is not under an allowed "
                   f"registry ({', '.join(facts.allowed_registries)})")


registry_allowlist = resource_policy(
    "images-from-allowed-registries",
    "Every container image comes from an allowed registry (only the internal mirror on air-gapped stacks).",
    _registry_allowlist,
)


def _pinned_images(args, report):
    facts = facts_of(args)
    values = helm_values(args.resource_type, args.props)
    if values is not None:
        for path, image, tag, digest in helm_images(values):
            if digest is None and tag in MOVING_TAGS:
                report(f"Helm release {args.name}: {path} uses {image!r} with tag {tag!r}, a moving tag; pin a release "
                       "tag or digest")
    for path, image in images(args.resource_type, args.props):
        parsed = parse_image(image)
        if parsed.digest is None and parsed.tag in MOVING_TAGS:
            report(f"{object_name(args.props, args.name)}: {path} uses {image!r}, a moving tag; pin a release tag or digest")
        elif parsed.digest is None and facts.require_digests:
            report(f"{object_name(args.props, args.name)}: {path} uses {image!r} without a digest, but airgap.requireDigests "
                   "is set; list its upstream 'registry/repository:tag' with the mirrored digest in airgap.imageDigests")


pinned_images = resource_policy(
    "images-pinned",
    "No moving tags ('latest', 'main', 'nightly', ... or none) on any image, in workloads and Helm values; a digest on "
    "every image where airgap.requireDigests is set.",
    _pinned_images,
)

# vLLM / Hugging Face settings that make a server fetch from the Hub.
_HUB_ENV = {"HF_ENDPOINT", "VLLM_LORA_RESOLVER_HF_REPO_LIST", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN"}


def _no_external_sources(args, report):
    facts = facts_of(args)
    if not facts.airgap or args.resource_type in HELM_TYPES or not args.resource_type.startswith("kubernetes:"):
        return
    name = object_name(args.props, args.name)
    body = {k: v for k, v in args.props.items() if k not in ("metadata", "apiVersion", "kind")}
    for path, source in external_sources(body, facts):
        report(f"{name}: {path} refers to {source!r}; an air-gapped stack may only use in-cluster or internal sources")
    for path, _loc, _pod, cpath, c in workload_containers(args.resource_type, args.props):
        for e in c.get("env") or []:
            if is_map(e) and e.get("name") in _HUB_ENV and e.get("value"):
                report(f"{name}: {path}.{cpath} sets {e['name']}, which makes it contact the Hugging Face Hub")
            if is_map(e) and e.get("name") == "VLLM_PLUGINS" and "hf" in str(e.get("value", "")).lower():
                report(f"{name}: {path}.{cpath} loads vLLM plugin(s) {e.get('value')!r}; the Hub resolver cannot work offline")
        model = None
        for i, a in enumerate(c.get("args") or []):
            a = str(a)
            if a.startswith("--model="):
                model = a.split("=", 1)[1]
            elif a == "--model" and i + 1 < len(c["args"]):
                model = str(c["args"][i + 1])
        if model is not None and not model.startswith("/"):
            report(f"{name}: {path}.{cpath} serves --model {model!r}, a Hub id; serve a local path (/mnt/models)")


no_external_sources = resource_policy(
    "no-external-model-sources",
    "Air-gapped stacks load models and adapters only from in-cluster or internal sources: no hf://, no "
    "public http(s) URLs, no Hugging Face Hub settings, no Hub model ids.",
    _no_external_sources,
)


def _offline_env(args, report):
    facts = facts_of(args)
    if not facts.airgap:
        return
    for path, c in model_server_containers(args.resource_type, args.props):
        missing = [n for n, v in OFFLINE_ENV.items() if str(env_value(c, n)) != v]
        if missing:
            report(f"{object_name(args.props, args.name)}: model server {path} lacks {', '.join(f'{n}=1' for n in missing)}")


offline_env = resource_policy(
    "offline-env-on-model-servers",
    "On air-gapped stacks every model-serving container sets HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_DATASETS_OFFLINE to 1.",
    _offline_env,
)


def _ca_bundle(args, report):
    facts = facts_of(args)
    if not facts.airgap or not facts.ca_config_map:
        return
    name = object_name(args.props, args.name)
    if args.resource_type in ("kubernetes:core/v1:Secret", "kubernetes:core/v1:ServiceAccount"):
        ann = meta(args.props).get("annotations") or {}
        if facts.ca_for_storage_initializer and KSERVE_S3_ENDPOINT in ann and ann.get(KSERVE_S3_CA_CONFIGMAP) != facts.ca_config_map:
            report(f"{name}: S3 credentials for KServe's storage initializer lack "
                   f"{KSERVE_S3_CA_CONFIGMAP}: {facts.ca_config_map}")
        return
    seen_pods = {}
    for path, _loc, pod, cpath, c in workload_containers(args.resource_type, args.props):
        if path not in seen_pods:
            ca_volumes = {v.get("name") for v in pod.get("volumes") or []
                          if is_map(v) and (v.get("configMap") or {}).get("name") == facts.ca_config_map}
            seen_pods[path] = ca_volumes
            if not ca_volumes:
                report(f"{name}: pod {path} does not mount the trusted CA ConfigMap {facts.ca_config_map!r}")
        ca_volumes = seen_pods[path]
        mounts = [m for m in c.get("volumeMounts") or [] if is_map(m) and m.get("name") in ca_volumes]
        if ca_volumes and not mounts and "image" in c:
            report(f"{name}: container {path}.{cpath} does not mount the trusted CA bundle")
        unset = [n for n in CA_ENV_NAMES if not env_value(c, n)]
        if unset and ("image" in c or c.get("env")):
            report(f"{name}: container {path}.{cpath} does not point {', '.join(unset)} at the trusted CA bundle")


ca_bundle = resource_policy(
    "trusted-ca-mounted",
    "On air-gapped stacks every pod mounts the internal CA bundle and points SSL_CERT_FILE, REQUESTS_CA_BUNDLE and "
    "AWS_CA_BUNDLE at it; KServe S3 credentials name it for the storage initializer.",
    _ca_bundle,
)


def _charts_from_mirror(args, report):
    facts = facts_of(args)
    if not facts.airgap or args.resource_type not in HELM_TYPES:
        return
    chart = str(args.props.get("chart") or "")
    repo = str((args.props.get("repositoryOpts") or {}).get("repo") or "")
    source = chart if chart.startswith("oci://") else repo
    mirror = (facts.chart_mirror or "").rstrip("/")
    if source and not (mirror and source.rstrip("/").startswith(mirror)):
        report(f"Helm release {args.name}: chart {chart!r} comes from {source!r}, not the chart mirror {mirror or '(unset)'!r}")


charts_from_mirror = resource_policy(
    "charts-from-mirror",
    "On air-gapped stacks every Helm chart comes from the internal chart mirror (or a local path).",
    _charts_from_mirror,
)

def _chart_name(chart: str) -> str:
    return chart.rstrip("/").rsplit("/", 1)[-1] if chart.startswith("oci://") else chart


def _leaves(value, path=()):
    if is_map(value):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    else:
        yield path, value


def _chart_images(args, report):
    facts = facts_of(args)
    if not facts.airgap or not facts.registry or args.resource_type not in HELM_TYPES:
        return
    chart = str(args.props.get("chart") or "")
    name = _chart_name(chart)
    if not name or name in IMAGELESS_CHARTS or chart.startswith(("/", ".")) or chart.endswith(".tgz"):
        return
    expected = mirror_values_for_chart(name, facts.registry)
    if expected is None:
        report(f"Helm release {args.name}: chart {name!r} has no image mapping in components/airgap/helm_values.py, so "
               "its images would be pulled from their upstream registries")
        return
    values = args.props.get("values") or {}
    for path, want in _leaves(expected):
        have = values
        for key in path:
            have = have.get(key) if is_map(have) else None
        if have != want:
            report(f"Helm release {args.name}: values.{'.'.join(path)} is {have!r}, not {want!r}; chart {name!r} "
                   "would pull that image from outside the mirror")


chart_images = resource_policy(
    "chart-images-from-mirror",
    "On air-gapped stacks every chart's own images are pointed at the mirror through its values (per-chart table).",
    _chart_images,
)

def _ca_in_namespaces(args, report):
    facts = facts_of(args)
    if not facts.airgap or not facts.ca_config_map or not facts.ca_created_by_stack:
        return
    have = {meta(r.props).get("namespace") for r in args.resources
            if r.resource_type == "kubernetes:core/v1:ConfigMap" and meta(r.props).get("name") == facts.ca_config_map}
    for r in args.resources:
        ns = meta(r.props or {}).get("namespace")
        if not isinstance(ns, str) or ns in have:
            continue
        mounts = any((v.get("configMap") or {}).get("name") == facts.ca_config_map
                     for _p, _l, pod, _cp, _c in workload_containers(r.resource_type, r.props or {})
                     for v in pod.get("volumes") or [] if is_map(v))
        if mounts:
            report(f"{object_name(r.props, r.name)} mounts ConfigMap {facts.ca_config_map!r}, but the stack creates none in "
                   f"namespace {ns!r}; its pods would wait in ContainerCreating", r.urn)


ca_in_namespaces = stack_policy(
    "trusted-ca-in-workload-namespaces",
    "On air-gapped stacks the CA bundle ConfigMap exists in every namespace whose pods mount it.",
    _ca_in_namespaces,
)

POLICIES = [registry_allowlist, pinned_images, no_external_sources, offline_env, ca_bundle, ca_in_namespaces,
            charts_from_mirror, chart_images]
