"""Run the real Pulumi engine on this project's stacks (Automation API over tools/engine/).

    python -m infra.engine up      --stack local [--out DIR]
    python -m infra.engine preview --stack local [--policy-pack policies [--policy-pack-config F]] [--out DIR]
    python -m infra.engine destroy --stack local

The engine is the pulumi CLI and providers that tools/engine/build.sh builds from Go
modules into .tools/engine/bin (a fast no-op when up to date; run first unless
--no-build). Everything stays on this machine:

* State: a local file backend in .pulumi-state/ (git-ignored); --state-dir moves it.
* Plugins: a project-local PULUMI_HOME (.tools/pulumi-home) holding exactly the
  provider versions the Python SDKs ask for; automatic plugin downloads, ambient
  plugins on $PATH and the CLI's update check are switched off.
* Secrets: the passphrase provider. PULUMI_CONFIG_PASSPHRASE (or _FILE) is used when
  set. Only for stacks whose cluster.kind is ``render`` (nothing is deployed, the
  state holds no credential) does it default to the fixed, public value
  LOCAL_RENDER_PASSPHRASE; every other stack refuses to run without one.
* Config: stacks/Pulumi.<stack>.yaml (Pulumi.yaml: stackConfigDir). --out DIR renders
  to DIR instead of cluster.renderDir, through a copy of the stack file
  (``--config-file``, see config_copy), so the engine never rewrites a committed file.

The program (infra/__main__.py) runs inline, in this process, through the Automation
API's language server, so the engine needs no Python language host. After ``up`` the
rendered directory, its manifest count and the change summary are printed.
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from infra.config_loading import PlatformConfigError, load_stack

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "tools" / "engine" / "build.sh"
ENGINE_ROOT = ROOT / ".tools" / "engine"  # PulumiCommand(root=...) runs <root>/bin/pulumi
PULUMI_HOME = ROOT / ".tools" / "pulumi-home"
DEFAULT_STATE_DIR = ROOT / ".pulumi-state"
BUILD_LOG = ROOT / ".tools" / "engine-build.log"  # the last build.sh output
LOCAL_RENDER_PASSPHRASE = "llm-platform-local-render"  # public on purpose: render stacks only


class EngineError(RuntimeError):
    """The engine could not be built or could not run; the message says why."""


@dataclass
class Result:
    """What one engine operation did."""

    operation: str
    stack: str
    summary: dict[str, int] = field(default_factory=dict)  # op -> count, e.g. {"create": 3, "same": 1}
    outputs: dict[str, Any] = field(default_factory=dict)
    render_dir: Path | None = None
    manifests: list[Path] = field(default_factory=list)
    stdout: str = ""
    seconds: float = 0.0

    @property
    def changes(self) -> int:
        return sum(n for op, n in self.summary.items() if op != "same")


# ------------------------------------------------------------------ the engine binaries


def build_engine(on_line: Callable[[str], None] | None = None) -> str:
    """Build or restore the engine; returns the build's log (also in BUILD_LOG), passing each
    line to ``on_line`` as it comes (a cold build takes tens of minutes and says how far it is).

    Raises EngineError naming the failed step."""
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    env = {**os.environ, "ENGINE_PYTHON": sys.executable}  # the schema check imports this venv's SDKs
    with subprocess.Popen(["bash", str(BUILD_SCRIPT)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
    log = "".join(lines)
    BUILD_LOG.write_text(log)
    if proc.returncode != 0:
        failed = [line for line in log.splitlines() if "FAILED" in line or line.startswith("  - ")]
        raise EngineError("tools/engine/build.sh failed:\n" + "\n".join(failed or log.splitlines()[-20:]))
    return log


def engine_versions() -> dict[str, str]:
    """The versions recorded by the last successful build (.tools/engine/engine.env)."""
    env_file = ENGINE_ROOT / "engine.env"
    if not env_file.exists():
        return {}
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k: v for k, v in pairs}


# ------------------------------------------------------------------ stack settings


def stack_file(stack: str) -> Path:
    return ROOT / project_settings().get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"


def project_settings() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def _cluster_config(stack: str) -> dict[str, Any]:
    path = stack_file(stack)
    if not path.exists():
        raise EngineError(f"no stack file {path.relative_to(ROOT)}")
    data = yaml.safe_load(path.read_text()) or {}
    project = project_settings()["name"]
    return (data.get("config") or {}).get(f"{project}:cluster") or {}


def passphrase_env(stack: str) -> dict[str, str]:
    """The passphrase settings for ``stack`` (see the module docstring)."""
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return {"PULUMI_CONFIG_PASSPHRASE": os.environ["PULUMI_CONFIG_PASSPHRASE"]}
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"]}
    if _cluster_config(stack).get("kind") == "render":
        return {"PULUMI_CONFIG_PASSPHRASE": LOCAL_RENDER_PASSPHRASE}
    raise EngineError(
        f"stack {stack!r} deploys to a real cluster: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE); "
        "the built-in local passphrase is only used for stacks with cluster.kind 'render'"
    )


SECRETS_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


def config_copy(stack: str, state_dir: Path, out: Path | None = None) -> Path:
    """The stack file as the engine sees it: a copy in <state>/config/ (``--config-file``).

    ``pulumi stack init`` and ``up`` write the secrets provider's state (encryptionsalt) into
    the stack file when it lacks one; they write it into this copy, never into stacks/. The
    copy is refreshed from the committed file on every run, keeping that recorded state
    (the committed file's own wins if it has one). ``out`` replaces cluster.renderDir; a
    relative renderDir is made absolute from the project root.
    """
    data = yaml.safe_load(stack_file(stack).read_text()) or {}
    project = project_settings()["name"]
    config = data.setdefault("config", {})
    cluster = dict(config.get(f"{project}:cluster") or {})
    if out is not None:
        if cluster.get("kind") != "render":
            raise EngineError(f"--out needs a stack with cluster.kind 'render'; {stack!r} has {cluster.get('kind')!r}")
        cluster["renderDir"] = str(out)
    elif cluster.get("kind") == "render" and cluster.get("renderDir"):
        # Providers run in the program directory (infra/): anchor the stack file's relative
        # path at the project root, where it was meant.
        cluster["renderDir"] = str((ROOT / cluster["renderDir"]).resolve())
    if cluster:
        config[f"{project}:cluster"] = cluster
    copy = state_dir / "config" / f"Pulumi.{stack}.yaml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    previous = (yaml.safe_load(copy.read_text()) or {}) if copy.exists() else {}
    if not any(k in data for k in SECRETS_KEYS):
        data.update({k: previous[k] for k in SECRETS_KEYS if k in previous})
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    # A minimal project beside the copy, where `stack init` records its secrets state.
    (copy.parent / "Pulumi.yaml").write_text(yaml.safe_dump({"name": project, "runtime": "python"}))
    return copy


# ------------------------------------------------------------------ running


def _program() -> None:
    """The project's program, exactly as the Python language host would run it."""
    runpy.run_path(str(ROOT / project_settings().get("main", "infra/")), run_name="__main__")


def _stack(stack: str, state_dir: Path, program: Callable[[], None]):
    """Select (creating it if needed) ``stack`` in the file backend at ``state_dir``."""
    from pulumi import automation as auto

    env = {
        "PULUMI_HOME": str(PULUMI_HOME),
        "PULUMI_BACKEND_URL": state_dir.as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "1",
        # Python plugins (policy packs, dynamic providers) run with this interpreter (the project
        # venv), with the project root importable and without their working directory (the
        # program directory, infra/) on sys.path: a module there must never shadow the stdlib.
        "PULUMI_PYTHON_CMD": sys.executable,
        "PYTHONSAFEPATH": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **passphrase_env(stack),
    }
    command = auto.PulumiCommand(root=str(ENGINE_ROOT))

    def workspace(work_dir: Path):
        return auto.LocalWorkspace(work_dir=str(work_dir), pulumi_home=str(PULUMI_HOME), program=program,
                                   env_vars=env, secrets_provider="passphrase", pulumi_command=command)

    try:
        return auto.Stack.select(stack, workspace(ROOT))
    except auto.StackNotFoundError:
        # Create it from the config copy's directory so its secrets state lands in the copy.
        auto.Stack.create(stack, workspace(state_dir / "config"))
        return auto.Stack.select(stack, workspace(ROOT))


def run(
    operation: str,
    stack: str,
    *,
    out: Path | None = None,
    policy_packs: list[str] | None = None,
    policy_pack_configs: list[str] | None = None,
    state_dir: Path | None = None,
    build: bool = True,
    program: Callable[[], None] | None = None,
    on_output: Callable[[str], None] | None = None,
    exclude_protected: bool = False,
) -> Result:
    """Run ``up``, ``preview`` or ``destroy`` on ``stack``; raises EngineError on failure."""
    from pulumi import automation as auto

    if operation not in ("up", "preview", "destroy"):
        raise ValueError(f"unknown operation {operation!r}")
    if build:
        build_engine()
    elif not (ENGINE_ROOT / "bin" / "pulumi").exists():
        raise EngineError("no engine in .tools/engine/bin: run tools/engine/build.sh")
    state_dir = (state_dir or DEFAULT_STATE_DIR).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    out = out.resolve() if out is not None else None
    kwargs: dict[str, Any] = {"color": "never", "config_file": str(config_copy(stack, state_dir, out))}
    if on_output:
        kwargs["on_output"] = on_output
    if policy_packs:
        if operation == "destroy":
            raise EngineError("policy packs apply to up and preview, not destroy")
        kwargs["policy_packs"] = [str(Path(p).resolve()) for p in policy_packs]
        if policy_pack_configs:
            if len(policy_pack_configs) != len(policy_packs):
                raise EngineError("give one --policy-pack-config per --policy-pack, in the same order")
            kwargs["policy_pack_configs"] = [str(Path(p).resolve()) for p in policy_pack_configs]
    elif policy_pack_configs:
        raise EngineError("--policy-pack-config needs --policy-pack")
    if exclude_protected and operation != "destroy":
        raise EngineError("--exclude-protected applies to destroy only")

    start = time.monotonic()
    try:
        os.chdir(ROOT)  # the program reads stack-relative files from the project root
        st = _stack(stack, state_dir, program or _program)
        if operation == "up":
            # show_secrets=False: the summary is read with `pulumi stack history`, which would
            # otherwise write the secrets state into the default stack file (it ignores --config-file).
            res = st.up(show_secrets=False, **kwargs)
            summary = dict(res.summary.resource_changes or {})
            outputs = {k: v.value for k, v in res.outputs.items()}
        elif operation == "preview":
            res = st.preview(**kwargs)
            summary = {str(k.value if hasattr(k, "value") else k): v for k, v in (res.change_summary or {}).items()}
            outputs = {}
        else:
            # exclude_protected: destroy everything but protected data (models, adapters, PVCs,
            # their namespaces) instead of failing on the first protected resource.
            res = st.destroy(show_secrets=False, exclude_protected=exclude_protected or None, **kwargs)
            summary = dict(res.summary.resource_changes or {})
            outputs = {}
    except auto.errors.CommandError as exc:
        raise EngineError(f"pulumi {operation} failed for stack {stack!r}:\n{exc}") from None
    result = Result(operation, stack, summary, outputs, stdout=res.stdout, seconds=time.monotonic() - start)
    if operation == "up":
        render = out or (Path(outputs["renderDir"]) if outputs.get("renderDir") else None)
        if render is not None:
            result.render_dir = render if render.is_absolute() else ROOT / render
            result.manifests = sorted(result.render_dir.rglob("*.yaml"))
    return result


def _format_summary(summary: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(summary.items())) or "nothing"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("operation", choices=["up", "preview", "destroy"])
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="render manifests here instead of cluster.renderDir (render stacks)")
    parser.add_argument("--policy-pack", action="append", dest="policy_packs", metavar="DIR",
                        help="run this policy pack (repeatable); a mandatory violation fails the run")
    parser.add_argument("--policy-pack-config", action="append", dest="policy_pack_configs", metavar="FILE",
                        help="JSON config (enforcement levels) for the matching --policy-pack")
    parser.add_argument("--state-dir", type=Path, help=f"file backend directory (default {DEFAULT_STATE_DIR.relative_to(ROOT)})")
    parser.add_argument("--no-build", action="store_true", help="do not run tools/engine/build.sh first")
    parser.add_argument("--exclude-protected", action="store_true",
                        help="destroy only: keep protected data resources and destroy everything else")
    parser.add_argument("--quiet", action="store_true", help="do not stream the engine's output")
    args = parser.parse_args(argv)

    on_output = None if args.quiet else (lambda line: print(line, flush=True))
    # A config error is the user's to fix: report it (exit 2) before building or running anything.
    try:
        load_stack(args.stack)
    except PlatformConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        if not args.no_build:
            t = time.monotonic()
            build_engine(on_line=None if args.quiet else (lambda line: print(line, flush=True)))
            print(f"engine ready ({time.monotonic() - t:.1f}s): {engine_versions()}", flush=True)
        result = run(args.operation, args.stack, out=args.out, policy_packs=args.policy_packs,
                     policy_pack_configs=args.policy_pack_configs, state_dir=args.state_dir, build=False, on_output=on_output,
                     exclude_protected=args.exclude_protected)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result.operation} {result.stack}: {_format_summary(result.summary)} "
          f"({result.changes} changes) in {result.seconds:.1f}s")
    if result.render_dir is not None:
        print(f"rendered {len(result.manifests)} manifests to {result.render_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
