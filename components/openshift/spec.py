"""User-facing spec of the OpenShift AI target (``llm-platform:openshift``, ``cluster.kind:
openshift``): how the GPU Operator and Node Feature Discovery arrive, and how model services are
shown and exposed by OpenShift AI (RHOAI / Open Data Hub).

OpenShift AI itself (its operator, a ``DataScienceCluster`` with ``kserve: Managed``) is a
prerequisite: it owns KServe, odh-model-controller (Routes, the auth proxy, the trusted CA
copies) and the dashboard, and the program installs none of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from components.common.spec import Spec


class OlmSubscriptionSpec(Spec):
    """One operator installed through OLM (an ``OperatorGroup`` and a ``Subscription``)."""

    package: str
    """OLM package name (``oc get packagemanifests -n openshift-marketplace``)."""
    channel: str
    """Channel to follow (the package manifest's default channel is the documented choice)."""
    source: str
    """CatalogSource holding the package; on a disconnected cluster the mirrored catalog's name
    (``oc-mirror`` creates e.g. ``cs-certified-operator-index``)."""
    source_namespace: str = "openshift-marketplace"
    """Namespace of the CatalogSource. Default: openshift-marketplace."""
    install_plan_approval: Literal["Automatic", "Manual"] = "Manual"
    """``Manual``: an administrator approves every InstallPlan, so operator upgrades never happen
    behind a running serving stack (NVIDIA's OpenShift guide does the same). Default: Manual."""
    starting_csv: str | None = None
    """ClusterServiceVersion to install first (pins the version). Default: the channel head."""


def _gpu_operator() -> OlmSubscriptionSpec:
    # NVIDIA's OpenShift guide (install-gpu-ocp.rst) and bundle v26.7.0's default channel.
    return OlmSubscriptionSpec(package="gpu-operator-certified", channel="v26.7", source="certified-operators")


def _nfd() -> OlmSubscriptionSpec:
    # cluster-nfd-operator manifests/nfd.package.yaml; a Red Hat operator, so the redhat-operators catalog.
    return OlmSubscriptionSpec(package="nfd", channel="stable", source="redhat-operators")


class OpenShiftSpec(Spec):
    """What the program adds to an OpenShift cluster running OpenShift AI."""

    operators: Literal["olm", "prerequisites"] = "prerequisites"
    """How the NVIDIA GPU Operator and Node Feature Discovery get there. ``olm``: the program
    creates their namespaces, OperatorGroups and Subscriptions, the ``NodeFeatureDiscovery``
    instance and the ``ClusterPolicy`` wired to its MIG and device-plugin ConfigMaps;
    ``prerequisites``: an administrator installed both (and the ClusterPolicy), the program
    only adds the sharing ConfigMaps to ``gpu.operator.namespace`` and exports the ClusterPolicy
    settings that name them. Default: prerequisites."""
    gpu_operator: OlmSubscriptionSpec = Field(default_factory=_gpu_operator)
    """``olm`` only: the GPU Operator subscription; its namespace is ``gpu.operator.namespace``.
    Default: gpu-operator-certified, channel v26.7, certified-operators."""
    nfd: OlmSubscriptionSpec = Field(default_factory=_nfd)
    """``olm`` only: the Node Feature Discovery subscription. Default: nfd, channel stable,
    redhat-operators."""
    nfd_namespace: str = "openshift-nfd"
    """``olm`` only: namespace of the NFD operator and its instance. Default: openshift-nfd."""
    expose: bool = True
    """Label every InferenceService ``networking.kserve.io/visibility: exposed`` so
    odh-model-controller creates its Route; every service must then have ``auth: true`` (the
    auth proxy in front of vLLM). Default: true."""
    route_timeout_seconds: PositiveInt = 600
    """Router timeout of each model's Route (``haproxy.router.openshift.io/timeout``); the
    default odh-model-controller sets (30 s per component) cuts long generations. Default: 600."""
