"""Per-chart Helm values that make a chart's own images come from the internal mirror.

Each chart spells its image locations differently, so this is a small table keyed by chart
name. Every entry follows the same mirror layout as pod images: the upstream registry host is
replaced by the mirror prefix and the repository path is kept (``quay.io/jetstack/x`` ->
``<mirror>/jetstack/x``), so one ``skopeo sync`` of the upstream image list fills the mirror.
Setting a key a chart version does not know is harmless (none of these charts ships a
values.schema.json that forbids unknown keys), so entries may cover several chart versions.

Sources (values.yaml of each chart; "checked" = read in the chart's own values.yaml, otherwise
taken from the chart's documented layout and to be confirmed against the pinned version):
- kube-prometheus-stack (checked, prometheus-community/helm-charts ``charts/kube-prometheus-stack/values.yaml``:
  "Global image registry to use if it needs to be overridden ... local registries"): ``global.imageRegistry`` overrides the registry of every image, subcharts
  included (grafana, kube-state-metrics, prometheus-node-exporter read the same global);
  ``global.imagePullSecrets``.
- cert-manager (checked, ``deploy/charts/cert-manager/values.yaml``): ``image``,
  ``webhook.image``, ``cainjector.image``, ``acmesolver.image``, ``startupapicheck.image`` each with
  a full ``repository`` (``quay.io/jetstack/cert-manager-<component>``); ``global.imagePullSecrets``.
- kserve-resources (checked by rendering v0.20.0): ``kserve.controller.image``,
  ``kserve.agent.image``, ``kserve.router.image``, ``kserve.storage.image`` (``kserve/<name>`` on
  Docker Hub); ``kserve.controller.rbacProxyImage``, a full reference (the controller pod always
  runs the kube-rbac-proxy sidecar); ``kserve.controller.imagePullSecrets`` (on its ServiceAccount).
- keda (checked by rendering 2.18.0): ``global.image.registry`` (``ghcr.io`` beside ``repository:
  kedacore/<name>``; it overrides every ``image.<component>.registry``); ``imagePullSecrets``.
- gpu-operator (checked by rendering v26.7.0, ``deployments/gpu-operator/values.yaml``): every component has
  ``repository`` (``nvcr.io/nvidia[/k8s|/cloud-native]``) + ``image`` + ``version`` and its own
  ``imagePullSecrets``; NFD is the ``node-feature-discovery`` subchart (``image.repository``).
- lws (checked, kubernetes-sigs/lws ``charts/lws/values.yaml``): ``image.manager.repository``
  (``registry.k8s.io/lws/lws``); ``imagePullSecrets``.
- karpenter (checked, aws/karpenter-provider-aws ``charts/karpenter/values.yaml``):
  ``controller.image.repository`` (``public.ecr.aws/karpenter/controller``) and ``controller.image.digest``
  (cleared: the upstream digest does not name the mirrored copy); ``imagePullSecrets``.
Charts not listed (CRD-only charts such as kserve-crd) carry no images.
"""

from __future__ import annotations

from typing import Any, Callable

# gpu-operator component -> upstream repository path (without the nvcr.io host), as v26.7.0's
# values.yaml has them (checked by rendering the chart: tests/integration/test_helm_releases.py).
_GPU_OPERATOR_COMPONENTS = {
    "operator": "nvidia",
    "validator": "nvidia",
    "driver": "nvidia",
    "toolkit": "nvidia/k8s",
    "devicePlugin": "nvidia",
    "dcgm": "nvidia/cloud-native",
    "dcgmExporter": "nvidia/k8s",
    "gfd": "nvidia",
    "migManager": "nvidia/cloud-native",
    "nodeStatusExporter": "nvidia",
    "gds": "nvidia/cloud-native",
    "gdrcopy": "nvidia/cloud-native",
    "vfioManager": "nvidia/cloud-native",
    "vgpuDeviceManager": "nvidia/cloud-native",
    "ccManager": "nvidia/cloud-native",
    "sandboxDevicePlugin": "nvidia",
    "kataSandboxDevicePlugin": "nvidia/cloud-native",
}
# Components whose driver-manager init container has its own repository. vgpuManager's own image
# is the user's licensed vGPU driver (no upstream default), so only its driver manager is mirrored.
_GPU_OPERATOR_DRIVER_MANAGERS = ("driver", "vfioManager", "vgpuManager")
# kserve-resources v0.20.0: the controller pod's kube-rbac-proxy sidecar is a full reference.
_KSERVE_RBAC_PROXY = "brancz/kube-rbac-proxy:v0.18.0"


def _secrets(pull_secrets: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"name": n} for n in pull_secrets]


def _kube_prometheus_stack(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    g: dict[str, Any] = {"imageRegistry": m}
    if ps:
        g["imagePullSecrets"] = _secrets(ps)
    return {"global": g}


def _cert_manager(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"image": {"repository": f"{m}/jetstack/cert-manager-controller"}}
    for component in ("webhook", "cainjector", "acmesolver", "startupapicheck"):
        out[component] = {"image": {"repository": f"{m}/jetstack/cert-manager-{component}"}}
    if ps:
        out["global"] = {"imagePullSecrets": _secrets(ps)}
    return out


def _kserve_resources(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    controller: dict[str, Any] = {"image": f"{m}/kserve/kserve-controller",
                                  "rbacProxyImage": f"{m}/{_KSERVE_RBAC_PROXY}"}
    if ps:
        # On the controller's ServiceAccount (the chart has no pod-level field); the ServiceAccount
        # admission plugin copies them into its pods. ``router.imagePullSecrets`` is not set: the
        # chart prints it into inferenceservice-config with Go's list format, which is not JSON.
        controller["imagePullSecrets"] = _secrets(ps)
    return {
        "kserve": {
            "controller": controller,
            "agent": {"image": f"{m}/kserve/agent"},
            "router": {"image": f"{m}/kserve/router"},
            "storage": {"image": f"{m}/kserve/storage-initializer"},
        }
    }


def _keda(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    # ``global.image.registry`` wins over each ``image.<component>.registry`` in the 2.18 templates.
    out: dict[str, Any] = {"global": {"image": {"registry": m}}}
    if ps:
        out["imagePullSecrets"] = _secrets(ps)
    return out


def _gpu_operator(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for component, path in _GPU_OPERATOR_COMPONENTS.items():
        out[component] = {"repository": f"{m}/{path}"}
        if ps:
            out[component]["imagePullSecrets"] = list(ps)
    for component in _GPU_OPERATOR_DRIVER_MANAGERS:
        key = "manager" if component == "driver" else "driverManager"
        out.setdefault(component, {"imagePullSecrets": list(ps)} if ps else {})[key] = {"repository": f"{m}/nvidia/cloud-native"}
    out["node-feature-discovery"] = {"image": {"repository": f"{m}/nfd/node-feature-discovery"}}
    if ps:
        out["node-feature-discovery"]["imagePullSecrets"] = _secrets(ps)
    return out


def _lws(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"image": {"manager": {"repository": f"{m}/lws/lws"}}}
    if ps:
        out["imagePullSecrets"] = _secrets(ps)
    return out


def _karpenter(m: str, ps: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"controller": {"image": {"repository": f"{m}/karpenter/controller", "digest": ""}}}
    if ps:
        out["imagePullSecrets"] = _secrets(ps)
    return out


MIRROR_VALUES: dict[str, Callable[[str, tuple[str, ...]], dict[str, Any]]] = {
    "kube-prometheus-stack": _kube_prometheus_stack,
    "cert-manager": _cert_manager,
    "kserve-resources": _kserve_resources,
    "keda": _keda,
    "gpu-operator": _gpu_operator,
    "lws": _lws,
    "karpenter": _karpenter,
}
"""Chart name -> values overlay for (mirror prefix, pull secret names)."""

IMAGELESS_CHARTS = frozenset({"kserve-crd"})
"""Charts that install no workloads."""


def mirror_values_for_chart(chart: str, mirror: str, pull_secrets: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Values overlay pointing ``chart``'s images at ``mirror``, or None if the chart is not mapped."""
    fn = MIRROR_VALUES.get(chart)
    return fn(mirror.rstrip("/"), tuple(pull_secrets)) if fn else None
