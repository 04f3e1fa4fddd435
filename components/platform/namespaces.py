"""Namespaces the platform's own workloads live in, with Pod Security admission levels."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from components.common.labels import standard_labels
from components.common.protection import protected
from components.common.spec import Spec

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]


class NamespaceSpec(Spec):
    """One namespace."""

    enforce: PodSecurityLevel = "baseline"
    """Pod Security level enforced (pods violating it are rejected). Default: baseline."""
    warn: PodSecurityLevel = "restricted"
    """Pod Security level warned about. Default: restricted."""
    holds_data: bool = False
    """Contains protected data (PVCs); deleting the namespace would delete them, so it is protected too."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Further labels the platform relies on (OpenShift AI's data science project labels,
    cluster monitoring). Default: none."""


class NamespacesArgs(Spec):
    """Namespaces by name."""

    namespaces: dict[str, NamespaceSpec] = Field(default_factory=dict)
    """Namespaces to create, by name. Default: none."""


class PlatformNamespaces(pulumi.ComponentResource):
    """Creates each namespace once; other components depend on them through ``names``."""

    names: dict[str, pulumi.Output[str]]
    """Namespace name -> the created namespace's name (an Output, so users depend on creation)."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmplatform:platform:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names = {}
        for ns_name, spec in sorted(args.namespaces.items()):
            ns_opts = protected(child) if spec.holds_data else child
            ns = k8s.core.v1.Namespace(
                f"{name}-{ns_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ns_name,
                    labels=standard_labels("namespace", ns_name) | dict(spec.labels) | {
                        "pod-security.kubernetes.io/enforce": spec.enforce,
                        "pod-security.kubernetes.io/warn": spec.warn,
                        "pod-security.kubernetes.io/audit": spec.warn,
                    },
                ),
                opts=ns_opts,
            )
            self.names[ns_name] = ns.metadata.name
        self.register_outputs({"names": self.names})
