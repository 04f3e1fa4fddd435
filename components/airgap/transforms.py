"""The air-gap rewrite of one resource's inputs: images to the mirror (digest-pinned where known),
pull secrets, offline environment, the trusted CA bundle mounted and wired, KServe's
storage-initializer CA annotation, and Helm chart sources and image values pointed at the mirror.

The functions take a resource's inputs as the Python SDK hands them to a transformation:
top-level keys are Python names, nested values may be input classes (``ContainerArgs``), dicts with
Python names (``ContainerArgsDict``), dicts with wire names (custom resources), or Outputs. They
never resolve more than they must: an Output is rewritten inside ``apply`` at the node where it
sits, so everything known stays known during preview. With plain dicts they need no Pulumi runtime
and are tested directly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from pulumi import _types

from components.airgap.helm_values import mirror_values_for_chart
from components.airgap.images import mirror_image
from components.airgap.workloads import CONTAINER_LISTS, PodLocation, group_kind, pod_locations
from components.common.helm import ChartRef

CA_VOLUME = "llm-platform-trusted-ca"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
CA_ENV_NAMES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")
KSERVE_S3_ENDPOINT = "serving.kserve.io/s3-endpoint"
KSERVE_S3_CA_CONFIGMAP = "serving.kserve.io/s3-cabundle-configmap"
KSERVE_STORAGE_CONFIG = "storage-config"
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
CONFIG_GROUP_TYPES = ("kubernetes:yaml/v2:ConfigGroup",)


@dataclass(frozen=True)
class CaBundle:
    config_map: str
    """ConfigMap holding the bundle in every platform namespace."""
    key: str
    """Key of the bundle (``cabundle.crt``)."""
    mount_path: str
    """Directory the ConfigMap is mounted at."""
    annotate_storage_initializer: bool = True
    """Point KServe's storage initializer at this ConfigMap (S3 credential annotations and
    ``storage-config``); off where the serving platform already does (OpenShift AI)."""

    @property
    def file(self) -> str:
        return f"{self.mount_path}/{self.key}"


@dataclass(frozen=True)
class AirgapSettings:
    """What the rewrite needs, derived from ``AirgapSpec``."""

    registry: str
    """Mirror prefix every image is pulled from."""
    chart_mirror: str | None = None
    """Mirror base of every chart, or None to leave chart sources alone."""
    digests: dict[str, str] = field(default_factory=dict)
    """Upstream ``registry/repository:tag`` -> digest."""
    pull_secrets: tuple[str, ...] = ()
    """Pull secrets added to every pod."""
    ca: CaBundle | None = None
    """Trusted CA bundle, or None."""

    def env(self) -> dict[str, str]:
        """Environment every container gets (existing entries of these names are replaced)."""
        out = dict(OFFLINE_ENV)
        if self.ca is not None:
            out.update({name: self.ca.file for name in CA_ENV_NAMES})
        return out


# --- access to inputs in any of their shapes ---------------------------------------------------

def plain(value: Any) -> Any:
    """An input class as a dict of its Python-named fields (a shallow copy); dicts copied; others as is."""
    if _types.is_input_type(type(value)):
        return dict(_types.input_type_to_untranslated_dict(value))
    if isinstance(value, dict):
        return dict(value)
    return value


def lift(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` applied to ``value``'s plain form; inside ``apply`` when ``value`` is an Output."""
    if isinstance(value, pulumi.Output):
        return value.apply(lambda v: fn(plain(v)))
    return fn(plain(value))


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(wire: str) -> str:
    return _CAMEL.sub("_", wire).lower()


class Keys:
    """Reads and writes keys of one dict in its own naming style (Python or wire names)."""

    def __init__(self, d: dict, default_style: str):
        self.d = d
        keys = [k for k in d if isinstance(k, str)]
        if any("_" in k for k in keys):
            self.style = "py"
        elif any(k != k.lower() for k in keys):
            self.style = "wire"
        else:
            self.style = default_style

    def key(self, wire: str) -> str:
        if wire in self.d:
            return wire
        if snake(wire) in self.d:
            return snake(wire)
        return wire if self.style == "wire" else snake(wire)

    def get(self, wire: str) -> Any:
        return self.d.get(self.key(wire))

    def set(self, wire: str, value: Any) -> None:
        self.d[self.key(wire)] = value

    def new(self, **wire_keys: Any) -> dict:
        """A new nested dict in the same style (keys given in wire form)."""
        return {(k if self.style == "wire" else snake(k)): v for k, v in wire_keys.items()}


def _map_list(value: Any, fn: Callable[[Any], Any]) -> Any:
    return lift(value, lambda items: [lift(i, fn) for i in (items or [])])


def _name_of(item: Any) -> Any:
    item = plain(item)
    return item.get("name") if isinstance(item, dict) else None


# --- pods ------------------------------------------------------------------------------------

def airgap_container(container: dict, s: AirgapSettings, style: str) -> dict:
    """One container: image mirrored (when it names one), managed env replaced, CA mounted."""
    c = plain(container)
    k = Keys(c, style)
    image = k.get("image")
    if image is not None:
        k.set("image", lift(image, lambda i: mirror_image(i, s.registry, s.digests) if isinstance(i, str) and i else i))
    managed = s.env()

    def env(entries: list) -> list:
        kept = [e for e in entries if _name_of(e) not in managed]
        return kept + [k.new(name=name, value=value) for name, value in managed.items()]

    k.set("env", lift(k.get("env"), lambda e: env(e or [])))
    if s.ca is not None:
        def mounts(entries: list) -> list:
            if any(_name_of(m) == CA_VOLUME for m in entries):
                return entries
            return entries + [k.new(name=CA_VOLUME, mountPath=s.ca.mount_path, readOnly=True)]

        k.set("volumeMounts", lift(k.get("volumeMounts"), lambda m: mounts(m or [])))
    return c


def airgap_pod(pod: dict, loc: PodLocation, s: AirgapSettings, style: str) -> dict:
    """One pod spec: its containers, pull secrets and the CA volume."""
    p = plain(pod)
    k = Keys(p, style)
    # Nested dicts without a telling key follow their parent's style: once a level is written in
    # wire names the SDK no longer translates below it.
    for key in CONTAINER_LISTS:
        if k.get(key) is not None:
            k.set(key, _map_list(k.get(key), lambda c: airgap_container(c, s, k.style)))
    for key in loc.single_containers:
        if k.get(key) is not None:
            k.set(key, lift(k.get(key), lambda c: airgap_container(c, s, k.style)))
    if s.pull_secrets:
        def secrets(entries: list) -> list:
            have = {_name_of(e) for e in entries}
            return entries + [{"name": n} for n in s.pull_secrets if n not in have]

        k.set("imagePullSecrets", lift(k.get("imagePullSecrets"), lambda e: secrets(e or [])))
    if s.ca is not None:
        def volumes(entries: list) -> list:
            if any(_name_of(v) == CA_VOLUME for v in entries):
                return entries
            return entries + [k.new(name=CA_VOLUME, configMap=Keys({}, k.style).new(name=s.ca.config_map))]

        k.set("volumes", lift(k.get("volumes"), lambda v: volumes(v or [])))
    return p


def _at_path(node: Any, path: tuple[str, ...], fn: Callable[[dict, str], dict], style: str) -> Any:
    def step(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if not path:
            return fn(value, style)
        k = Keys(value, style)
        child = k.get(path[0])
        if child is None:
            return value
        k.set(path[0], _at_path(child, path[1:], fn, k.style))
        return value

    return lift(node, step)


# --- whole objects ----------------------------------------------------------------------------

def _annotate_kserve_s3(props: dict, s: AirgapSettings, style: str) -> dict:
    """Point KServe's storage initializer at the CA bundle on S3 credential Secrets/ServiceAccounts."""
    k = Keys(props, style)

    def meta(m: Any) -> Any:
        if not isinstance(m, dict):
            return m
        mk = Keys(m, style)

        def annotations(a: Any) -> Any:
            a = dict(a or {})
            if KSERVE_S3_ENDPOINT in a and KSERVE_S3_CA_CONFIGMAP not in a:
                a[KSERVE_S3_CA_CONFIGMAP] = s.ca.config_map
            return a

        if mk.get("annotations") is not None:
            mk.set("annotations", lift(mk.get("annotations"), annotations))
        return m

    if k.get("metadata") is not None:
        k.set("metadata", lift(k.get("metadata"), meta))
    return props


def _storage_config_entry(value: Any, s: AirgapSettings) -> Any:
    """Add ``cabundle_configmap`` to one ``storage-config`` JSON entry of type s3."""
    if not isinstance(value, str):
        return value
    try:
        entry = json.loads(value)
    except json.JSONDecodeError:
        return value
    if not isinstance(entry, dict) or entry.get("type") != "s3" or "cabundle_configmap" in entry:
        return value
    entry["cabundle_configmap"] = s.ca.config_map
    return json.dumps(entry, sort_keys=True)


def _storage_config(props: dict, s: AirgapSettings, style: str) -> dict:
    k = Keys(props, style)
    name = lift(k.get("metadata"), lambda m: Keys(m, style).get("name") if isinstance(m, dict) else None)
    if name != KSERVE_STORAGE_CONFIG:  # an Output name is never the fixed storage-config name
        return props
    # Only stringData: KServe's docs write storage-config entries there; base64 ``data`` is left as written.
    if k.get("stringData") is not None:
        k.set("stringData", lift(k.get("stringData"), lambda d: {n: lift(v, lambda x: _storage_config_entry(x, s)) for n, v in d.items()}))
    return props


def chart_ref_of(props: dict) -> ChartRef | None:
    """The chart source of a Helm Release/Chart's inputs, or None for a local chart or unknown shape."""
    k = Keys(props, "py")
    chart, version = k.get("chart"), k.get("version")
    if not isinstance(chart, str) or not isinstance(version, str):
        return None
    repo_opts = plain(k.get("repositoryOpts"))
    repo = Keys(repo_opts, "py").get("repo") if isinstance(repo_opts, dict) else None
    try:
        if chart.startswith("oci://"):
            base, _, name = chart.rstrip("/").rpartition("/")
            return ChartRef(name=name, version=version, repository=base)
        if isinstance(repo, str):
            return ChartRef(name=chart, version=version, repository=repo)
    except ValueError:
        return None
    return None


def deep_merge(base: Any, overlay: dict) -> dict:
    """``overlay`` merged into ``base`` (overlay wins; nested dicts merged; Outputs lifted)."""
    def merge(b: Any) -> dict:
        out = dict(b or {})
        for key, value in overlay.items():
            if isinstance(value, dict) and key in out:
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
        return out

    return lift(base, merge)


def _helm(props: dict, s: AirgapSettings) -> dict:
    k = Keys(props, "py")
    ref = chart_ref_of(props)
    if ref is not None:
        if s.chart_mirror:
            mirrored = ref.mirrored(s.chart_mirror)
            for key in ("chart", "version", "repositoryOpts"):
                props.pop(k.key(key), None)
            for key, value in mirrored.release_chart_args().items():
                props[key] = value
        overlay = mirror_values_for_chart(ref.name, s.registry, s.pull_secrets)
        if overlay:
            k.set("values", deep_merge(k.get("values"), overlay))
    return props


def airgap_props(type_token: str, props: dict, s: AirgapSettings, style: str) -> dict:
    """``props`` of one resource rewritten for the air gap (a shallow copy; inputs are not mutated)."""
    props = dict(props)
    if type_token in HELM_TYPES:
        return _helm(props, s)
    if type_token in CONFIG_GROUP_TYPES:
        k = Keys(props, "py")
        if k.get("objs") is not None:
            k.set("objs", _map_list(k.get("objs"), lambda o: _airgap_manifest(o, s)))
        return props
    for loc in pod_locations(type_token):
        props = _at_path(props, loc.path, lambda pod, st, loc=loc: airgap_pod(pod, loc, s, st), style)
    if s.ca is not None and s.ca.annotate_storage_initializer and type_token in ("kubernetes:core/v1:Secret", "kubernetes:core/v1:ServiceAccount"):
        props = _annotate_kserve_s3(props, s, style)
        if type_token == "kubernetes:core/v1:Secret":
            props = _storage_config(props, s, style)
    return props


def _airgap_manifest(obj: dict, s: AirgapSettings) -> dict:
    """A plain manifest (wire names) as a ConfigGroup carries it."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return obj
    group, _ = group_kind(api_version, kind)
    token = f"kubernetes:{api_version if group else 'core/' + api_version}:{kind}"
    return airgap_props(token, obj, s, "wire")
