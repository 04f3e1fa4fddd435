"""The fast PR check: the CrossGuard pack's policies evaluated in-process over an offline synthesis.

    python -m infra.synth --stack NAME --out DIR --policy      # synthesize, then check
    python -m infra.policy_check --stack NAME --pack-config F  # write the --policy-pack-config file

Both this check and ``pulumi preview --policy-pack policies --policy-pack-config F`` run the
same policy objects with the same configuration: :func:`pack_config` turns the stack's
``llm-platform:policy`` section (enforcement and per-policy overrides) and the stack's facts
(``components/common/platform_facts.py``, derived by :func:`facts_for_config`) into the pack
config file, and the in-process check reads its levels and facts from that very dict. Resources are handed to the policies the way the
engine does: wire-named inputs wrapped in the SDK's read-only proxies (``unknown_checking_proxy``,
a ``Mapping``/``Sequence``, never a dict or list), URN, name, ``protect`` in the options, parent
and dependencies for stack policies. Secret inputs appear as ``[secret]`` here (the engine passes
their values).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from pulumi_policy.proxy import unknown_checking_proxy

from infra.config import PlatformConfig
from infra.mocks import Registration
from policies.llm_platform_policies import ALL_POLICIES, POLICY_NAMES
from components.common.platform_facts import PUBLIC_REGISTRIES, PlatformFacts, mig_resource_names

LEVELS = ("advisory", "mandatory", "disabled")


@dataclass(frozen=True)
class Violation:
    policy: str
    """Policy name."""
    level: str
    """Effective enforcement level (advisory or mandatory)."""
    resource: str
    """URN of the violating resource (stack policies: the URN they name, else the stack)."""
    message: str
    """What is wrong."""

    @property
    def resource_name(self) -> str:
        return self.resource.rsplit("::", 1)[-1]


def _host(ref: str) -> str:
    return ref.split("://", 1)[-1].split("/", 1)[0]


def facts_for_config(cfg: PlatformConfig, stack: str) -> PlatformFacts:
    """The policy facts of a validated config (every policy's ``platform`` config value)."""
    a = cfg.airgap
    internal = tuple(h for h in (_host(ref) for ref in (a.registry, a.chart_mirror) if ref) if h)
    return PlatformFacts(
        stack=stack,
        airgap=a.enabled,
        registry=a.registry if a.enabled else None,
        chart_mirror=a.chart_mirror if a.enabled else None,
        allowed_registries=(a.registry,) if a.enabled and a.registry else PUBLIC_REGISTRIES,
        require_digests=a.enabled and a.require_digests,
        ca_config_map=a.ca_bundle.bundle_config_map if a.enabled and a.ca_bundle else None,
        ca_for_storage_initializer=not (a.enabled and a.ca_bundle and a.ca_bundle.source != "file"),
        ca_created_by_stack=not (a.enabled and a.ca_bundle and a.ca_bundle.source == "rhoai"),
        internal_hosts=internal,
        privileged_namespaces=tuple(sorted({cfg.gpu.operator.namespace, cfg.gpu.dra.namespace, "kube-system"})),
        gpu_taint=any(p.taint for p in cfg.gpu.pools.values()) if cfg.gpu.pools else True,
        mig_resources=mig_resource_names(),
    )


def policy_levels(cfg: PlatformConfig) -> dict[str, str]:
    """Effective level of every policy on this stack."""
    unknown = sorted(set(cfg.policy.overrides) - set(POLICY_NAMES))
    if unknown:
        raise ValueError(f"policy.overrides names unknown policies {unknown}; known: {', '.join(POLICY_NAMES)}")
    return {name: cfg.policy.overrides.get(name, cfg.policy.enforcement) for name in POLICY_NAMES}


def pack_config(cfg: PlatformConfig, stack: str) -> dict[str, Any]:
    """The ``--policy-pack-config`` document of ``stack``: levels and facts per policy."""
    facts = facts_for_config(cfg, stack).to_config()
    out: dict[str, Any] = {"all": cfg.policy.enforcement}
    for name, level in policy_levels(cfg).items():
        out[name] = {"enforcementLevel": level, "platform": facts}
    return out


def write_pack_config(stack: str, path: Path) -> Path:
    """Write ``stack``'s ``--policy-pack-config`` document (from its stack file) to ``path``."""
    from infra.config_loading import load_stack

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pack_config(load_stack(stack), stack), indent=2, sort_keys=True) + "\n")
    return path


def _options(r: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect, ignore_changes=[], delete_before_replace=r.delete_before_replace, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=r.parent,
    )


def _stack_resources(registrations: list[Registration]) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for r in registrations:
        by_urn[r.urn] = PolicyResource(r.type, unknown_checking_proxy(r.inputs), r.urn, r.name, _options(r), None, None, [], {})
    for r in registrations:
        res = by_urn[r.urn]
        res.parent = by_urn.get(r.parent) if r.parent else None
        res.dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
    return list(by_urn.values())


def evaluate(registrations: list[Registration], config: dict[str, Any], stack_urn: str = "") -> list[Violation]:
    """Every violation of every enabled policy, with its effective level."""
    found: list[Violation] = []
    resources = _stack_resources(registrations)
    proxied = {r.urn: r.props for r in resources}
    for policy in ALL_POLICIES:
        entry = config.get(policy.name) or {}
        level = entry.get("enforcementLevel") or config.get("all") or "advisory"
        if level == "disabled":
            continue
        policy_config = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        if isinstance(policy, ResourceValidationPolicy):
            for r in registrations:
                args = ResourceValidationArgs(r.type, proxied[r.urn], r.urn, r.name, _options(r), None, config=policy_config)
                policy.validate(args, lambda msg, urn=None, r=r, p=policy, lv=level:
                                found.append(Violation(p.name, lv, urn or r.urn, msg)))
        elif isinstance(policy, StackValidationPolicy):
            args = StackValidationArgs(resources, config=policy_config)
            policy.validate(args, lambda msg, urn=None, p=policy, lv=level:
                            found.append(Violation(p.name, lv, urn or stack_urn, msg)))
    return found


def check(synthesis) -> list[Violation]:
    """Violations of a :class:`infra.synth.Synthesis` under its stack's policy config."""
    return evaluate(synthesis.registrations, pack_config(synthesis.config, synthesis.stack),
                    f"urn:pulumi:{synthesis.stack}::llm-platform::pulumi:pulumi:Stack::llm-platform-{synthesis.stack}")


def report(synthesis) -> int:
    """Print each violation; 1 if any is mandatory, else 0."""
    violations = check(synthesis)
    mandatory = [v for v in violations if v.level == "mandatory"]
    print(f"policy check of stack {synthesis.stack}: {len(violations)} violation(s), {len(mandatory)} mandatory")
    for v in sorted(violations, key=lambda v: (v.level != "mandatory", v.policy, v.resource)):
        print(f"  [{v.level}] {v.policy}: {v.resource_name}: {v.message}")
    return 1 if mandatory else 0


def main(argv: list[str] | None = None) -> int:
    # Only writes the pack config: the check itself is `infra.synth --policy`, which imports this
    # module, so this module never imports infra.synth (one direction, no cycle).
    from infra.config_loading import PlatformConfigError

    parser = argparse.ArgumentParser(prog="python -m infra.policy_check", description=__doc__.split("\n\n")[0],
                                     epilog="The in-process check: python -m infra.synth --stack NAME --out DIR --policy")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pack-config", type=Path, required=True, help="write the --policy-pack-config JSON for this stack here")
    parser.add_argument("--no-check", action="store_true", help="accepted for compatibility; this command never synthesizes")
    args = parser.parse_args(argv)
    try:
        write_pack_config(args.stack, args.pack_config)
    except PlatformConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"  wrote {args.pack_config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
