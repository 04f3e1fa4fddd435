"""Offline synthesis: run the real program under Pulumi's mock runtime and write what it declares.

    python -m infra.synth --stack NAME --out DIR     # DIR/manifests.yaml and DIR/resources.json
    python -m infra.synth --all --out DIR            # DIR/<stack>/ for every stack file

No CLI, cluster or cloud credentials are needed. Output is deterministic (sorted, stable
fake IDs), so two runs on the same input are byte-identical and diffs show real changes.
Exit status: 0 ok, 2 invalid config (short message, no traceback).
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from infra.config import PROJECT, PlatformConfig
from infra.config_loading import (ConfigIssue, PlatformConfigError, display_path, list_stacks, load_platform_config,
                                  read_stack_file, stack_file)
from infra.mocks import PlatformMocks, RecordingMonitor, Registration

# Kubernetes types that are not plain objects: Helm releases, providers, partial patches.
_NOT_MANIFESTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "pulumi:providers:")
_KIND_ORDER = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
               "PersistentVolumeClaim", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service"]


@dataclass
class Synthesis:
    """Everything a stack declares."""

    stack: str
    config: PlatformConfig
    registrations: list[Registration]

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object, one dict per object, in a stable order."""
        objs = [_manifest(r) for r in self.registrations if _is_k8s_object(r)]
        return sorted(objs, key=_manifest_sort_key)

    def resources(self) -> list[dict[str, Any]]:
        """Every registered resource (components, providers, cloud and Kubernetes resources)."""
        return [
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": r.parent,
                "custom": r.custom,
                "protect": r.protect,
                "retainOnDelete": r.retain_on_delete,
                "dependsOn": r.dependencies,
                "secretInputs": r.secret_paths,
                "inputs": r.inputs,
            }
            for r in sorted(self.registrations, key=lambda r: r.urn)
        ]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def objects(self, kind: str, api_version: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m.get("kind") == kind and (api_version is None or m.get("apiVersion") == api_version)]

    def counts(self) -> Counter:
        return Counter(r.type for r in self.registrations)


def _is_k8s_object(r: Registration) -> bool:
    return r.custom and r.type.startswith("kubernetes:") and not r.type.startswith(_NOT_MANIFESTS) and not r.type.endswith("Patch")


def _deep_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_deep_sorted(v) for v in value]
    return value


def _manifest(r: Registration) -> dict[str, Any]:
    group_version, kind = r.type[len("kubernetes:"):].rsplit(":", 1)
    api_version = group_version[len("core/"):] if group_version.startswith("core/") else group_version
    body = {k: _deep_sorted(v) for k, v in r.inputs.items() if k not in ("apiVersion", "kind", "metadata")}
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": _deep_sorted(r.inputs.get("metadata") or {})}
    out.update(sorted(body.items()))
    return out


def _manifest_sort_key(m: dict[str, Any]) -> tuple:
    kind = m["kind"]
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    meta = m.get("metadata") or {}
    return (rank, m["apiVersion"], kind, meta.get("namespace") or "", meta.get("name") or "")


def synthesize(stack: str, sections: dict[str, Any] | None = None,
               program: Callable[[PlatformConfig, str], Any] | None = None) -> Synthesis:
    """Validate and synthesize ``stack``; ``sections`` overrides the stack file's project config.

    Raises PlatformConfigError before anything is registered if the config is invalid.
    """
    file_sections, other_keys = read_stack_file(stack)
    sections = file_sections if sections is None else sections
    cfg = load_platform_config(stack, sections, display_path(stack_file(stack)))
    if program is None:
        from infra.compose import build_platform as program
    # A fresh context per run: Pulumi's runtime state lives in context variables.
    registrations = contextvars.Context().run(_run_mocked, stack, cfg, sections, other_keys, program)
    return Synthesis(stack=stack, config=cfg, registrations=registrations)


def _run_mocked(stack, cfg, sections, other_keys, program) -> list[Registration]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    config = {f"{PROJECT}:{k}": json.dumps(v) for k, v in sections.items()}
    config.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in other_keys.items()})
    pulumi.runtime.set_all_config(config)
    _sync_await(run_pulumi_func(lambda: program(cfg, stack)))
    return monitor.registrations


def write(synthesis: Synthesis, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    docs = synthesis.manifests
    (out / "manifests.yaml").write_text(
        yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=120) if docs else ""
    )
    (out / "resources.json").write_text(json.dumps(synthesis.resources(), indent=2, sort_keys=True) + "\n")


def summary_table(synthesis: Synthesis) -> str:
    counts = synthesis.counts()
    width = max([len(t) for t in counts] + [len("type")])
    lines = [f"stack {synthesis.stack}: {sum(counts.values())} resources, {len(synthesis.manifests)} Kubernetes objects",
             f"  {'type'.ljust(width)}  count", f"  {'-' * width}  -----"]
    lines += [f"  {t.ljust(width)}  {n:5d}" for t, n in sorted(counts.items())]
    return "\n".join(lines)


def out_problem(out: Path) -> str | None:
    """Why synthesis could not write into ``out`` (checked before synthesizing), or None."""
    if out.exists() and not out.is_dir():
        return f"{out} exists and is not a directory"
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{out} cannot be created: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK) or os.statvfs(existing).f_flag & os.ST_RDONLY:
        return f"{out} is not writable ({existing} is read-only for this user)"
    for name in ("manifests.yaml", "resources.json"):
        if (out / name).exists() and not (out / name).is_file():
            return f"{out / name} exists and is not a file"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    which.add_argument("--all", action="store_true", help="every stack, into OUT/<stack>/")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--policy", action="store_true", help="also evaluate the policy pack over the synthesized resources")
    args = parser.parse_args(argv)

    stacks = list_stacks() if args.all else [args.stack]
    status = 0
    for stack in stacks:
        out = args.out / stack if args.all else args.out
        try:
            problem = out_problem(out)
            if problem:
                raise PlatformConfigError(stack, [ConfigIssue("--out", problem + "; name a writable directory")])
            synthesis = synthesize(stack)
        except PlatformConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        try:
            write(synthesis, out)
        except OSError as exc:  # e.g. a pseudo file system that passes the access checks
            print(PlatformConfigError(stack, [ConfigIssue("--out", f"cannot write into {out}: {exc.strerror}")]), file=sys.stderr)
            return 2
        print(summary_table(synthesis))
        print(f"  wrote {out / 'manifests.yaml'} and {out / 'resources.json'}")
        if args.policy:
            from infra.policy_check import report

            status = max(status, report(synthesis))
    return status


if __name__ == "__main__":
    sys.exit(main())
