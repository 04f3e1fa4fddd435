"""Helm chart sources and releases.

Every chart the platform installs is described by a :class:`ChartRef` with a pinned version,
so an air-gapped stack can point the same release at its internal mirror (OCI registry,
HTTP chart repository, or a chart directory/tarball on disk) without touching component code.

Releases use ``helm.v3.Release`` (Helm as a library inside the provider) rather than
``helm.v4.Chart``: Release keeps Helm's own hooks, upgrade and rollback semantics, which the
controllers installed here (cert-manager, KServe, GPU Operator, Karpenter) rely on.
Release cannot run in the provider's render mode (pulumi/pulumi-kubernetes#1716), which is
why ``config.py`` refuses chart installs on ``cluster.kind: render`` stacks.
"""

from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import model_validator

from components.common.fields import ChartRepositoryUrl
from components.common.spec import Spec


class ChartRef(Spec):
    """Where one Helm chart comes from, pinned to a version."""

    name: str
    """Chart name inside its repository, e.g. ``gpu-operator``."""
    version: str
    """Exact chart version; ranges are refused so a redeploy never picks up a new chart silently."""
    repository: ChartRepositoryUrl | None = None
    """``https://`` chart repository or ``oci://`` registry path holding the chart (without the
    chart name). Default: none, which requires ``path``."""
    path: str | None = None
    """Local chart directory or ``.tgz`` (relative to the project root). Default: none, which
    requires ``repository``."""

    @model_validator(mode="after")
    def _one_source(self) -> "ChartRef":
        if (self.repository is None) == (self.path is None):
            raise ValueError("set exactly one of 'repository' (https:// or oci://) or 'path'")
        if self.repository and not self.repository.startswith(("https://", "http://", "oci://")):
            raise ValueError(f"repository {self.repository!r} must start with https://, http:// or oci://")
        if any(ch in self.version for ch in "^~*<>= x") or self.version in ("", "latest"):
            raise ValueError(f"version {self.version!r} must be an exact chart version")
        return self

    @property
    def source_kind(self) -> Literal["oci", "repo", "path"]:
        """How Helm fetches the chart."""
        if self.path is not None:
            return "path"
        return "oci" if self.repository.startswith("oci://") else "repo"  # type: ignore[union-attr]

    def release_chart_args(self) -> dict[str, Any]:
        """Keyword arguments for ``helm.v3.ReleaseArgs`` selecting this chart."""
        if self.source_kind == "path":
            return {"chart": self.path}
        if self.source_kind == "oci":
            return {"chart": f"{self.repository.rstrip('/')}/{self.name}", "version": self.version}  # type: ignore[union-attr]
        return {
            "chart": self.name,
            "version": self.version,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=self.repository),
        }

    def mirrored(self, mirror: str | None) -> "ChartRef":
        """This chart fetched from ``mirror`` (an ``oci://`` or ``https://`` base) instead."""
        if mirror is None or self.source_kind == "path":
            return self
        return self.model_copy(update={"repository": mirror.rstrip("/")})


def helm_release(
    name: str,
    chart: ChartRef,
    namespace: str,
    values: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    create_namespace: bool = True,
    skip_crds: bool = False,
    timeout_seconds: int = 900,
    holds_crds: bool = False,
) -> k8s.helm.v3.Release:
    """One pinned Helm release; atomic so a failed install/upgrade rolls back instead of
    leaving a half-upgraded controller behind. ``holds_crds``: a release that templates CRDs
    (``kserve-crd``, ``karpenter-crd``); uninstalling it deletes the CRDs and with them every
    object of those kinds cluster-wide (InferenceServices, NodePools), so it is protected and
    retained on delete."""
    if holds_crds:
        from components.common.protection import protected

        opts = protected(opts)
    return k8s.helm.v3.Release(
        name,
        k8s.helm.v3.ReleaseArgs(
            name=name,
            namespace=namespace,
            create_namespace=create_namespace,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            skip_crds=skip_crds,
            timeout=timeout_seconds,
            **chart.release_chart_args(),
        ),
        opts,
    )
