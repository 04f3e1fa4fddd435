"""How a vLLM service is presented to OpenShift AI: the labels and annotations its dashboard and
odh-model-controller read on a ServingRuntime and an InferenceService. Pure data: no Pulumi.

Sources (``../shared/research/openshift-ai.md`` §4 and §6, opendatahub-io/odh-dashboard v3.5.0
and odh-model-controller):
- projects, runtimes and deployments are listed by ``opendatahub.io/dashboard: "true"``
  (DASH ``frontend/src/api/k8s/projects.ts``, ``packages/kserve/src/deployments.ts``);
- the wizard's ServingRuntime carries ``openshift.io/display-name``,
  ``opendatahub.io/serving-runtime-scope`` and ``opendatahub.io/recommended-accelerators``
  (DASH ``packages/kserve/src/deployServer.ts``, ``spawnerUtils.ts``); RHOAI's own vLLM runtime
  puts ``opendatahub.io/kserve-runtime: vllm`` in ``spec.annotations`` (OMC
  ``config/runtimes/vllm/vllm-cuda-template.yaml``);
- the wizard's InferenceService carries ``openshift.io/display-name``,
  ``openshift.io/description``, ``opendatahub.io/model-type: generative``,
  ``security.opendatahub.io/enable-auth`` and, for a Route, the label
  ``networking.kserve.io/visibility: exposed`` (DASH ``packages/kserve/src/deployUtils.ts``);
- ``enable-auth: "true"`` makes KServe add the ``kube-rbac-proxy`` container on :8443, which
  lets through only callers allowed to ``get`` the InferenceService (KS
  ``deployment_reconciler.go``), and turns the Route into ``reencrypt``; the Route timeout is
  ``haproxy.router.openshift.io/timeout`` on the InferenceService (OMC ``utils.go``).

``prometheus.io/port`` is left out of the runtime's pod annotations on purpose: with it
odh-model-controller adds its own ``<isvc>-metrics`` ServiceMonitor, and the platform's
PodMonitor already scrapes vLLM (one scrape config per pod, one set of series for the alerts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DASHBOARD_LABEL = "opendatahub.io/dashboard"
VISIBILITY_LABEL = "networking.kserve.io/visibility"
ENABLE_AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"
ROUTE_TIMEOUT_ANNOTATION = "haproxy.router.openshift.io/timeout"
PROJECT_LABELS = {DASHBOARD_LABEL: "true", "modelmesh-enabled": "false"}
"""Labels of a data science project: listed by the dashboard, single-model serving (KServe)
selected (DASH ``packages/kserve/docs/overview.md``)."""
AUTH_PROXY_PORT = 8443
"""Port of KServe's kube-rbac-proxy container (``https``) when ``enable-auth`` is on."""


@dataclass(frozen=True)
class RhoaiPresentation:
    """How one service appears in OpenShift AI."""

    display_name: str
    """Name shown in the dashboard."""
    description: str
    """Description shown in the dashboard."""
    expose: bool
    """Route through odh-model-controller (visibility label)."""
    auth: bool
    """kube-rbac-proxy in front of vLLM (token of an identity allowed to get the InferenceService)."""
    route_timeout_seconds: int
    """Router timeout of the Route."""
    runtime_version: str
    """vLLM version the runtime runs (the image tag)."""

    def runtime_labels(self) -> dict[str, str]:
        return {DASHBOARD_LABEL: "true"}

    def runtime_annotations(self, accelerators: list[str]) -> dict[str, str]:
        """ServingRuntime metadata annotations; ``accelerators``: the GPU resource names it asks for."""
        return {
            "openshift.io/display-name": f"{self.display_name} vLLM multi-LoRA",
            "opendatahub.io/serving-runtime-scope": "project",
            "opendatahub.io/recommended-accelerators": json.dumps(accelerators),
            "opendatahub.io/apiProtocol": "REST",
            "opendatahub.io/runtime-version": self.runtime_version,
        }

    def runtime_pod_annotations(self) -> dict[str, str]:
        """Additions to the runtime's ``spec.annotations`` (copied onto its pods)."""
        return {"opendatahub.io/kserve-runtime": "vllm"}

    def isvc_labels(self) -> dict[str, str]:
        labels = {DASHBOARD_LABEL: "true"}
        if self.expose:
            labels[VISIBILITY_LABEL] = "exposed"
        return labels

    def isvc_annotations(self) -> dict[str, str]:
        annotations = {
            "openshift.io/display-name": self.display_name,
            "openshift.io/description": self.description,
            "opendatahub.io/model-type": "generative",
            ENABLE_AUTH_ANNOTATION: "true" if self.auth else "false",
        }
        if self.expose:
            annotations[ROUTE_TIMEOUT_ANNOTATION] = f"{self.route_timeout_seconds}s"
        return annotations
