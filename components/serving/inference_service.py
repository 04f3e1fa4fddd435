"""The one way the platform declares a KServe ``InferenceService``.

KServe decides Standard vs Knative per InferenceService from the
``serving.kserve.io/deploymentMode`` annotation, falls back to a cluster-wide default that
differs between the shipped ConfigMap (``Serverless``) and the chart (``Knative``), and refuses
to change the mode of an existing InferenceService (``deploymentMode cannot be changed``,
kserve ``inference_service_validation.go``). So every InferenceService of the platform:

* carries the annotation explicitly (``isvc_metadata`` refuses a caller-supplied one that
  disagrees with the stack's mode), and
* is *replaced* (deleted, then created under the same name) when the mode changes, through
  ``replace_on_changes`` on exactly that annotation plus ``delete_before_replace`` (the
  Kubernetes name is fixed, so the old object must go first).

Use from a component (the models layer's ``VllmLoraService`` is the main user)::

    from components.serving.inference_service import inference_service

    isvc = inference_service(
        f"{name}-isvc",                       # Pulumi resource name
        name=service,                         # Kubernetes name (the service name)
        namespace=namespace,                  # Input[str]: depend on the namespace's creation
        mode=serving.mode,                    # ServingLayer.mode: "Standard" | "Knative"
        spec={"predictor": {...}},            # InferenceService spec, wire (camelCase) shape
        labels=standard_labels("model-server", service),
        annotations={"serving.kserve.io/autoscalerClass": "keda"},   # optional, any others
        opts=pulumi.ResourceOptions(parent=self, depends_on=serving.ready),
    )

``ServingLayer.ready`` (infra/layers/serving.py) lists the KServe CRD and controller releases,
so the InferenceService is only created once the API exists and its webhook answers.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

import pulumi
import pulumi_kubernetes as k8s

DeploymentMode = Literal["Standard", "Knative"]

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS_ANNOTATION = "serving.kserve.io/autoscalerClass"
MODES: tuple[str, ...] = ("Standard", "Knative")
# Deprecated spellings KServe still maps (ParseDeploymentMode); refused so one value is used everywhere.
_LEGACY = {"RawDeployment": "Standard", "Serverless": "Knative"}
MODE_REPLACE_PATH = f'metadata.annotations["{DEPLOYMENT_MODE_ANNOTATION}"]'
"""Property path (Pulumi syntax) whose change forces replacement of the InferenceService.

It is the exact key the Kubernetes provider puts in its detailed diff for a change of that
annotation (pulumi-kubernetes ``addPatchValueToDiff``: a key containing ``.``, ``"``, ``[`` or
``]`` is written ``["key"]``), and the engine matches ``replaceOnChanges`` paths against those
keys, so only a mode change replaces the object; other annotation changes stay updates."""


def check_mode(mode: str) -> DeploymentMode:
    """``mode`` if KServe v0.20 knows it by its current name, else ValueError naming the fix."""
    if mode in _LEGACY:
        raise ValueError(f"deployment mode {mode!r} is a deprecated alias; use {_LEGACY[mode]!r}")
    if mode not in MODES:
        raise ValueError(f"deployment mode {mode!r} is not one of {list(MODES)}")
    return mode  # type: ignore[return-value]


def isvc_metadata(name: str, namespace: pulumi.Input[str], mode: str, labels: Mapping[str, str],
                  annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Metadata of an InferenceService: explicit name, labels, and the deployment-mode annotation.

    A caller-supplied ``serving.kserve.io/deploymentMode`` must equal ``mode`` (the stack's);
    anything else would make two sources of truth for a field KServe will not let change.
    """
    mode = check_mode(mode)
    merged = dict(annotations or {})
    given = merged.get(DEPLOYMENT_MODE_ANNOTATION)
    if given is not None and given != mode:
        raise ValueError(f"{name}: annotation {DEPLOYMENT_MODE_ANNOTATION}={given!r} contradicts the stack's "
                         f"serving.kserve.mode {mode!r}; drop the annotation, the helper sets it")
    if mode == "Knative" and merged.get(AUTOSCALER_CLASS_ANNOTATION) in ("keda", "hpa", "external"):
        raise ValueError(f"{name}: autoscaler class {merged[AUTOSCALER_CLASS_ANNOTATION]!r} applies to Standard mode; "
                         "Knative mode scales with Knative's autoscaler")
    merged[DEPLOYMENT_MODE_ANNOTATION] = mode
    return {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": dict(sorted(merged.items()))}


def isvc_options(opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """``opts`` plus replacement when the deployment mode changes (old object deleted first)."""
    forced = pulumi.ResourceOptions(replace_on_changes=[MODE_REPLACE_PATH], delete_before_replace=True)
    return pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(), forced)


def inference_service(resource_name: str, *, name: str, namespace: pulumi.Input[str], mode: str,
                      spec: pulumi.Input[dict[str, Any]], labels: Mapping[str, str],
                      annotations: Mapping[str, str] | None = None,
                      opts: pulumi.ResourceOptions | None = None) -> k8s.apiextensions.CustomResource:
    """Declare one InferenceService with the mode annotation and replace-on-mode-change semantics."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=API_VERSION,
        kind=KIND,
        metadata=isvc_metadata(name, namespace, mode, labels, annotations),
        spec=spec,
        opts=isvc_options(opts),
    )
