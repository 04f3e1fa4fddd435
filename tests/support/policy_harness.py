"""Test harness: running one policy over hand-written resources (wire names, as the engine passes them)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from pulumi_policy.proxy import unknown_checking_proxy

from policies.llm_platform_policies.facts import PlatformFacts

AIRGAP = PlatformFacts(
    stack="airgap", airgap=True, registry="registry.internal:5000/mirror", chart_mirror="oci://registry.internal:5000/charts",
    allowed_registries=("registry.internal:5000/mirror",), ca_config_map="trusted-ca-bundle",
    internal_hosts=("registry.internal:5000",), mig_resources=("nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb"),
)
CONNECTED = PlatformFacts(stack="dev", mig_resources=AIRGAP.mig_resources)


def _opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def run_policy(policy, type_: str, props: dict[str, Any], facts: PlatformFacts = AIRGAP, protect: bool = False) -> list[str]:
    messages: list[str] = []
    assert isinstance(policy, ResourceValidationPolicy)
    # The engine hands policies read-only Mapping/Sequence proxies, never dicts: test with the same.
    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), f"urn:pulumi:{facts.stack}::llm-platform::{type_}::r", "r", _opts(protect),
                                  None, config={"platform": facts.to_config()})
    policy.validate(args, lambda msg, urn=None: messages.append(msg))
    return messages


def run_stack_policy(policy, resources: list[tuple[str, dict[str, Any]]], facts: PlatformFacts = AIRGAP) -> list[str]:
    messages: list[str] = []
    res = [PolicyResource(t, unknown_checking_proxy(p), f"urn:pulumi:{facts.stack}::llm-platform::{t}::r{i}", f"r{i}", _opts(), None, None, [], {})
           for i, (t, p) in enumerate(resources)]
    policy.validate(StackValidationArgs(res, config={"platform": facts.to_config()}), lambda msg, urn=None: messages.append(msg))
    return messages


def deployment(container: dict[str, Any], pod: dict[str, Any] | None = None, namespace: str = "llm") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [container], **(pod or {})}}},
    }
