"""``ModelWeights``: the PersistentVolumeClaims of base models whose config asks the platform to
create them (``source.kind: pvc`` with ``create: true``), protected like every other data volume.

The claims are empty when created: weights are copied in once (a Job, ``kubectl cp`` from a
mirror, or a storage system's import), then mounted read-only by every replica through
KServe's ``pvc://claim/path`` storage URI.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.common.labels import standard_labels
from components.common.protection import protected
from components.models.spec import BaseModelSpec, PvcModelSource


@dataclass(frozen=True)
class ModelWeightsArgs:
    """Base models by key and where their claims live."""

    base_models: dict[str, BaseModelSpec]
    """Base models (only ``pvc`` sources with ``create`` get a claim). Required."""
    namespace: pulumi.Input[str]
    """Serving namespace (claims must be in the namespace of the pods mounting them). Required."""


class ModelWeights(pulumi.ComponentResource):
    """Protected claims for base model weights."""

    claim_names: dict[str, str]
    """Base model key -> claim name, for the claims this component created."""

    def __init__(self, name: str, args: ModelWeightsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:models:ModelWeights", name, None, opts)
        self.claim_names = {}
        for key, model in sorted(args.base_models.items()):
            src = model.source
            if not isinstance(src, PvcModelSource) or not src.create:
                continue
            k8s.core.v1.PersistentVolumeClaim(
                f"{name}-{key}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=src.claim_name, namespace=args.namespace,
                                                    labels=standard_labels("model-weights", key)),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=[src.access_mode],
                    storage_class_name=src.storage_class,
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{src.size_gib}Gi"}),
                ),
                opts=protected(pulumi.ResourceOptions(parent=self)),
            )
            self.claim_names[key] = src.claim_name
        self.register_outputs({"claimNames": self.claim_names})
