"""Field types shared by every spec: each value the cluster, a registry, S3 or Prometheus would
refuse is refused here first, with the rule in the message. One definition per kind of value.

Names follow Kubernetes' own validation (apimachinery ``validation.IsDNS1123Label``,
``IsDNS1123Subdomain``, ``IsQualifiedName``, ``IsValidLabelValue``), bucket names the S3
naming rules, image parts the distribution reference grammar, label names Prometheus' data
model.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from components.common.spec import SensitiveValueError

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PROMETHEUS_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][0-9]+)?$")
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
_REGISTRY_HOST = re.compile(rf"^{_HOST}(?::[0-9]{{1,5}})?$")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_REGISTRY_WITH_PREFIX = re.compile(rf"^{_HOST}(?::[0-9]{{1,5}})?(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_PATH_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$")
_SERVED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_EKS_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


def _check(ok: bool, rule: str):
    if not ok:
        raise ValueError(rule)


def is_dns1123_label(value: str) -> bool:
    """Whether ``value`` is a DNS-1123 label (lowercase alphanumerics and '-', at most 63)."""
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def dns1123_label(value: str) -> str:
    _check(is_dns1123_label(value),
           "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending alphanumeric, at most 63")
    return value


def is_dns_label(name: str) -> bool:
    """Whether ``name`` can be a Kubernetes Service/Deployment name (a DNS-1035 label)."""
    return len(name) <= 63 and bool(_DNS1035_LABEL.match(name))


def dns1035_label(value: str) -> str:
    _check(len(value) <= 63 and bool(_DNS1035_LABEL.match(value)),
           "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, at most 63")
    return value


def dns1123_subdomain(value: str) -> str:
    _check(len(value) <= 253 and bool(_DNS1123_SUBDOMAIN.match(value)),
           "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending alphanumeric, "
           "at most 253")
    return value


def label_key(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    if slash:
        _check(bool(prefix) and len(prefix) <= 253 and bool(_DNS1123_SUBDOMAIN.match(prefix)),
               "label key prefix must be a DNS-1123 subdomain (e.g. example.com/name)")
    _check(len(name) <= 63 and bool(_QUALIFIED_NAME.match(name)),
           "label key name must be at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric")
    return value


def is_label_value(value: str) -> bool:
    """Whether ``value`` is a non-empty Kubernetes label value (63 at most, alphanumeric ends)."""
    return len(value) <= 63 and bool(_QUALIFIED_NAME.match(value))


def label_value(value: str) -> str:
    _check(value == "" or is_label_value(value),
           "label value must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric")
    return value


def prometheus_label_name(value: str) -> str:
    _check(bool(_PROMETHEUS_LABEL.match(value)) and not value.startswith("__"),
           "must be a Prometheus label name: letters, digits and '_', not starting with a digit or '__'")
    return value


def quantity(value: str) -> str:
    """A positive Kubernetes quantity (``500m``, ``2``, ``1.5``, ``64Gi``)."""
    match = _QUANTITY.match(value)
    _check(bool(match) and float(match["num"]) > 0,
           "must be a positive Kubernetes quantity such as '500m', '2' or '64Gi'")
    return value


def bucket_name(value: str) -> str:
    _check(bool(_BUCKET.match(value)) and ".." not in value and ".-" not in value and "-." not in value
           and not _IPV4.match(value) and not value.startswith(("xn--", "sthree-")) and not value.endswith("-s3alias"),
           "must be an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending alphanumeric, "
           "not an IP address")
    return value


def registry_host(value: str) -> str:
    _check(bool(_REGISTRY_HOST.match(value)) and int(value.rpartition(":")[2] if ":" in value else "1") in range(1, 65536),
           "must be a registry host[:port] such as 'docker.io' or 'registry.internal:5000' (no scheme, no path)")
    return value


def registry_with_prefix(value: str) -> str:
    _check(bool(_REGISTRY_WITH_PREFIX.match(value)),
           "must be host[:port][/prefix] such as 'registry.internal:5000/mirror' (no scheme, no trailing slash, "
           "lowercase path)")
    return value


def repository(value: str) -> str:
    _check(len(value) <= 255 and bool(_REPOSITORY.match(value)),
           "image repository must be lowercase path components separated by '/', e.g. 'vllm/vllm-openai'")
    return value


def image_tag(value: str) -> str:
    _check(bool(_TAG.match(value)), "image tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    return value


def path_segment(value: str) -> str:
    _check(bool(_PATH_SEGMENT.match(value)),
           "must be lowercase letters, digits, '-', '.' or '_' (max 63), starting and ending alphanumeric "
           "(it becomes an object path segment and a command-line value)")
    return value


def served_name(value: str) -> str:
    _check(bool(_SERVED_NAME.match(value)) and ".." not in value,
           "must be a served name: 1-128 letters, digits, '.', '_', ':' or '-', starting alphanumeric (each becomes a file "
           "name in vLLM's adapter cache and a command-line value; no '/', spaces or '..')")
    return value


def eks_cluster_name(value: str) -> str:
    _check(bool(_EKS_CLUSTER.match(value)), "must be an EKS cluster name: 1-100 letters, digits, '-' or '_', starting alphanumeric")
    return value


def cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"must be a CIDR such as '10.0.0.0/16' or 'fd00::/8' with no host bits set ({exc})") from None
    return value


_GRANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(:[A-Za-z0-9._*?\[\]-]{0,128})?$")


def grant_pattern(value: str) -> str:
    _check(bool(_GRANT.match(value)),
           "must be '<base>', '<base>:<adapter>' or '<base>:*' with a served base model name (letters, digits, '.', "
           "'_', '-') and an adapter name or glob (those characters and '*', '?', '[', ']')")
    return value


def pattern(regex: str, rule: str):
    """A validator for one upstream CRD ``pattern`` (quoted in ``rule``)."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        _check(bool(compiled.search(value)), rule)
        return value
    return AfterValidator(check)


def url(schemes: tuple[str, ...]):
    """A validator for URLs with one of ``schemes`` and a host (and a valid port, if any)."""
    rule = f"must be a {' or '.join(s + '://' for s in schemes)} URL with a host"

    def check(value: str) -> str:
        # Credentials first: no later message may echo a value that holds them.
        if "@" in value.partition("://")[2].partition("/")[0]:
            raise SensitiveValueError("must not embed credentials (user:password@); they would be stored and shown "
                                      "in plain text (value not shown)")
        try:
            parts = urlsplit(value)
            valid = parts.port is None or parts.port > 0
        except ValueError:  # a port that is not a number or beyond 65535
            return _check(False, rule)
        _check(valid and parts.scheme in schemes and bool(parts.hostname) and not any(c.isspace() for c in value), rule)
        return value
    return check


DnsLabel = Annotated[str, AfterValidator(dns1123_label)]
"""A DNS-1123 label (namespaces, pool names)."""
Dns1035Label = Annotated[str, AfterValidator(dns1035_label)]
"""A DNS-1035 label (names that become Service names)."""
DnsSubdomain = Annotated[str, AfterValidator(dns1123_subdomain)]
"""A DNS-1123 subdomain (ConfigMap, Secret, PVC, storage class names, domains)."""
Namespace = DnsLabel
ObjectName = DnsSubdomain
LabelKey = Annotated[str, AfterValidator(label_key)]
LabelValue = Annotated[str, AfterValidator(label_value)]
Labels = dict[LabelKey, LabelValue]
PrometheusLabelName = Annotated[str, AfterValidator(prometheus_label_name)]
Quantity = Annotated[str, AfterValidator(quantity)]
"""A positive Kubernetes quantity (cpu: ``500m``, ``8``)."""
BucketName = Annotated[str, AfterValidator(bucket_name)]
RegistryHost = Annotated[str, AfterValidator(registry_host)]
RegistryWithPrefix = Annotated[str, AfterValidator(registry_with_prefix)]
Repository = Annotated[str, AfterValidator(repository)]
ImageTag = Annotated[str, AfterValidator(image_tag)]
PathSegment = Annotated[str, AfterValidator(path_segment)]
ServedName = Annotated[str, AfterValidator(served_name)]
ClusterName = Annotated[str, AfterValidator(eks_cluster_name)]
HttpUrl = Annotated[str, AfterValidator(url(("http", "https")))]
ChartRepositoryUrl = Annotated[str, AfterValidator(url(("https", "http", "oci")))]
# Karpenter v1 NodePool / EC2NodeClass CRD patterns (../shared/crds/karpenter).
KarpenterDuration = Annotated[str, pattern(r"^(([0-9]+(s|m|h))+|Never)$", "must be a duration such as '720h', '30m' or 'Never'")]
KarpenterGracePeriod = Annotated[str, pattern(r"^([0-9]+(s|m|h))+$", "must be a duration such as '24h' or '90m'")]
BudgetNodes = Annotated[str, pattern(r"^((100|[0-9]{1,2})%|[0-9]+)$", "must be a node count or a percentage 0-100%, e.g. '10%'")]
BudgetWindow = Annotated[str, pattern(r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$", "must be hours and/or minutes, e.g. '8h' or '1h30m'")]
CronSchedule = Annotated[str, pattern(r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))$|^((\S+)\s(\S+)\s(\S+)\s(\S+)\s(\S+))$",
                                      "must be a 5-field cron expression or @daily/@hourly/...")]
CapacityReservationId = Annotated[str, pattern(r"^cr-[0-9a-z]+$", "must be an EC2 capacity reservation id 'cr-...'")]
AmiAlias = Annotated[str, pattern(r"^(al2023|bottlerocket)@(latest|v?[0-9][0-9a-z.\-]*)$",
                                  "must be 'al2023@<version>' or 'bottlerocket@<version>' (or @latest)")]
InstanceFamily = Annotated[str, pattern(r"^[a-z][a-z0-9-]*$", "must be an EC2 instance family such as 'p5' or 'g6e'")]
AwsRegion = Annotated[str, pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", "must be an AWS region such as 'us-east-1'")]
Cidr = Annotated[str, AfterValidator(cidr)]
GrantPattern = Annotated[str, AfterValidator(grant_pattern)]
"""A tenant grant: which served models it names is checked against the config (``gate.rules``)."""
Count32 = Annotated[int, Field(ge=1, le=2**31 - 1)]
"""A positive count that HAProxy's stick-table counters and Kubernetes' int32 fields hold."""
Gib = Annotated[int, Field(ge=1, le=1_048_576)]
"""A size in GiB, 1 GiB to 1 PiB."""
