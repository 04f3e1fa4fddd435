"""Pulumi's mock runtime, set up to record what the program declares.

Used by offline synthesis (``infra.synth``) and by every component test. The recording
monitor keeps, for each registration, the type, name, parent, dependencies, protection and
the inputs with secret values masked, so tests can assert on the exact resource graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

SECRET_MASK = "[secret]"
FAKE_ACCOUNT = "123456789012"


@dataclass
class Registration:
    """One resource the program registered."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    """Inputs as the provider would receive them (wire names), secrets replaced by ``[secret]``."""
    secret_paths: list[str]
    """Dotted input paths whose values were secret."""
    protect: bool
    retain_on_delete: bool
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource explicitly or implicitly depends on."""
    provider: str | None = None
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False


def _mask(value: Any, path: str, found: list[str]) -> Any:
    if rpc.is_rpc_secret(value):
        found.append(path or "(root)")
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: _mask(v, f"{path}.{k}" if path else k, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _plain(value: Any) -> Any:
    """Inputs with secret wrappers removed (what mocks echo back as state)."""
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also records each registration's graph facts."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = rpc.deserialize_properties(request.object)
        secret_paths: list[str] = []
        inputs = _mask(raw, "", secret_paths)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                inputs=inputs,
                secret_paths=secret_paths,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                dependencies=sorted(set(request.dependencies)),
                provider=request.provider or None,
                replace_on_changes=list(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
            )
        )
        return response


def _fake(name: str, *parts: str) -> str:
    """A deterministic fake value: the same program always gets the same IDs."""
    return hashlib.sha256("/".join((name,) + parts).encode()).hexdigest()[:16]


class PlatformMocks(pulumi.runtime.Mocks):
    """Echo inputs back as state and fill the outputs programs read from real providers."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = _plain(dict(args.inputs))
        typ = args.typ
        if typ.startswith("random:"):
            # pulumi-random computes `result`; a stable fake keeps synthesis deterministic.
            state.setdefault("result", _fake(args.name, "random"))
        elif typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            resource_name = state.get("name") or args.name
            state.setdefault("name", resource_name)
            if typ == "aws:iam/role:Role":
                # IAM is global: no region, and the resource type is part of the ARN.
                state.setdefault("arn", f"arn:aws:iam::{FAKE_ACCOUNT}:role/{resource_name}")
            state.setdefault("arn", f"arn:aws:{service}:us-east-1:{FAKE_ACCOUNT}:{resource_name}")
            if typ == "aws:sqs/queue:Queue":
                state.setdefault("url", f"https://sqs.us-east-1.amazonaws.com/{FAKE_ACCOUNT}/{resource_name}")
        elif typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            state["metadata"].setdefault("name", args.name)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": FAKE_ACCOUNT, "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/mock", "userId": "mock"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": "us-east-1", "region": "us-east-1"}
        if token == "aws:eks/getCluster:getCluster":
            name = args.args.get("name", "cluster")
            return {
                "name": name,
                "arn": f"arn:aws:eks:us-east-1:{FAKE_ACCOUNT}:cluster/{name}",
                "endpoint": f"https://{_fake(name, 'eks')}.gr7.us-east-1.eks.amazonaws.com",
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{_fake(name, 'oidc').upper()}"}]}],
                "vpcConfig": {"clusterSecurityGroupId": "sg-0123456789abcdef0"},
            }
        return {}
