"""The air-gap transform as a component: one place where every later resource of the stack is
rewritten for the internal mirror, offline mode and the trusted CA, plus the CA bundle
ConfigMaps the rewritten pods mount (filled from a PEM file, or left to OpenShift to inject).

Mechanism: ``pulumi.runtime.register_stack_transformation`` (the SDK-side "transformations" API).
It runs inside the Python program for every resource registered after it, before the resource
is sent to the engine, so offline synthesis under Pulumi's mock monitor and a real
``pulumi up`` see exactly the same rewritten inputs. The newer ``register_resource_transform``
runs through the engine's callback server: the mock monitor records it but never calls it
(``pulumi.runtime.mocks.MockMonitor.RegisterStackTransform``; ``Mocks.register_transform``
docstring: "The mock monitor does not run transforms"), so synthesis, schema tests and the
in-process policy check would all see un-rewritten resources. ``tests/components/test_airgap.py``
pins this choice. Transformations do not reach into provider-side components (Helm v4
``Chart`` children, ``ConfigGroup`` files): their sources, values and ``objs`` are rewritten
on the component's own inputs instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.airgap.spec import OPENSHIFT_INJECT_LABEL
from components.airgap.transforms import AirgapSettings, CaBundle, airgap_props
from components.common.fields import ObjectName, RegistryWithPrefix
from components.common.input_errors import refuse_inputs, type_issues
from components.common.labels import standard_labels

TYPE = "llmplatform:airgap:Transforms"


@dataclass(frozen=True)
class AirgapArgs:
    """What the transform applies."""

    settings: AirgapSettings
    """Registry, chart mirror, digests, pull secrets, CA bundle. Required."""
    ca_pem: str | None = None
    """PEM text of the CA bundle (read from ``airgap.caBundle.file``), written into each CA ConfigMap.
    Default: None: no CA ConfigMap is created unless ``ca_injected``."""
    ca_injected: bool = False
    """The CA ConfigMaps are created empty with OpenShift's inject label (the cluster fills them) instead of
    holding ``ca_pem``. Default: false."""


def problems(args: AirgapArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the config's field types of
    ``airgap.registry`` and ``airgap.imagePullSecrets``."""
    issues = type_issues(RegistryWithPrefix, args.settings.registry, path="settings.registry")
    for i, secret in enumerate(args.settings.pull_secrets):
        issues += type_issues(ObjectName, secret, path=f"settings.pullSecrets[{i}]")
    return issues


class AirgapTransforms(pulumi.ComponentResource):
    """Registers the stack transformation; creates the CA bundle ConfigMap in each namespace
    handed to :meth:`add_ca_bundles`.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args (:func:`problems`)
    before it registers anything (the transformation included)."""

    ca_config_maps: dict[str, pulumi.Output[str]]
    """Namespace -> name of the CA bundle ConfigMap created there."""

    def __init__(self, name: str, args: AirgapArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("AirgapTransforms", name, problems(args))
        super().__init__(TYPE, name, None, opts)
        self._name = name
        self._args = args
        self.ca_config_maps = {}
        pulumi.runtime.register_stack_transformation(self.transform)
        self.register_outputs({"registry": args.settings.registry})

    def transform(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Rewrite one resource's inputs (see module docstring)."""
        if not args.type_.startswith("kubernetes:") or args.type_.startswith("pulumi:providers:"):
            return None
        style = "wire" if isinstance(args.resource, k8s.apiextensions.CustomResource) else "py"
        props = airgap_props(args.type_, dict(args.props), self._args.settings, style)
        return pulumi.ResourceTransformationResult(props, args.opts)

    def add_ca_bundles(self, namespaces: dict[str, pulumi.Input[str]]) -> None:
        """The CA bundle ConfigMap in every namespace of ``namespaces`` (name -> created name)."""
        ca = self._args.settings.ca
        if ca is None or (self._args.ca_pem is None and not self._args.ca_injected):
            return  # the cluster provides the ConfigMap (OpenShift AI's bundle)
        labels_extra = {OPENSHIFT_INJECT_LABEL: "true"} if self._args.ca_injected else {}
        for ns, ns_output in sorted(namespaces.items()):
            if ns in self.ca_config_maps:
                continue
            # Injected: no data at all, so server-side apply never owns (or clears) the key OpenShift writes.
            cm = k8s.core.v1.ConfigMap(
                f"{self._name}-ca-{ns}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ca.config_map,
                    namespace=ns_output,
                    labels=standard_labels("trusted-ca-bundle", ns) | labels_extra,
                ),
                data=None if self._args.ca_injected else {ca.key: self._args.ca_pem},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ca_config_maps[ns] = cm.metadata.name


def settings_from_spec(spec, root: Path) -> AirgapArgs:
    """``AirgapArgs`` for a validated, enabled ``AirgapSpec`` (PEM read relative to ``root``)."""
    ca = None
    pem = None
    injected = False
    if spec.ca_bundle is not None:
        b = spec.ca_bundle
        # On OpenShift AI the storage initializer already reads RHOAI's bundle (its inferenceservice-config).
        ca = CaBundle(config_map=b.bundle_config_map, key=b.bundle_key, mount_path=b.mount_path,
                      annotate_storage_initializer=b.source == "file")
        if b.source == "file":
            pem = (root / b.file).read_text()
        injected = b.source == "openshift-injected"
    settings = AirgapSettings(
        registry=spec.registry,
        chart_mirror=spec.chart_mirror,
        digests=dict(spec.image_digests),
        pull_secrets=tuple(spec.image_pull_secrets),
        ca=ca,
    )
    return AirgapArgs(settings=settings, ca_pem=pem, ca_injected=injected)
