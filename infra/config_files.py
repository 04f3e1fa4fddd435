"""Checks of the files a stack's config names (adapter folders, the CA bundle), run after the
config model validated and before any resource is registered, so a bad file is a config error
naming the field that points at it, not a traceback in the middle of a deployment."""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

from components.models.adapter_checks import CONFIG_FILE, OPTIONAL_FILES, WEIGHT_FILES, AdapterCheckError, prepare_adapter
from infra.config import PlatformConfig

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


def _escapes(path: Path, root: Path) -> str | None:
    """Why ``path`` is not a plain project file or folder (a symlink, or outside ``root``), or None."""
    lexical = Path(os.path.normpath(path))
    if lexical.resolve() != lexical:
        return "is or passes through a symlink"
    if not lexical.is_relative_to(root):
        return f"resolves outside the project root {root}"
    return None


def adapter_issues(cfg: PlatformConfig, root: Path) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    checked: dict[tuple[str, int], list[str]] = {}
    for i, adapter in enumerate(cfg.models.adapters):
        path = f"models.adapters[{i}].sourceDir"
        source = root / adapter.source_dir
        if not adapter.allow_external_source:
            names = [source] + [source / n for n in (CONFIG_FILE, *WEIGHT_FILES, *OPTIONAL_FILES) if (source / n).exists()]
            escape = next(((p, why) for p in names if (why := _escapes(p, root))), None)
            if escape is not None:
                shown = "sourceDir" if escape[0] == source else escape[0].name
                issues.append((path, f"{adapter.source_dir!r}: {shown} {escape[1]}; set allowExternalSource: true "
                                     "to publish it anyway"))
                continue
        key = (str(source), adapter.rank)
        if key not in checked:
            try:
                prepare_adapter(source, adapter.rank)
                checked[key] = []
            except AdapterCheckError as exc:
                checked[key] = exc.problems
            except OSError as exc:
                checked[key] = [f"cannot be read ({exc.strerror})"]
        if checked[key]:
            issues.append((path, f"{adapter.source_dir!r}: " + "; ".join(checked[key])))
    return issues


def ca_bundle_problem(file: Path) -> str | None:
    """Why ``file`` is not a PEM bundle of CA certificates, or None."""
    if not file.exists():
        return "does not exist"
    if not file.is_file():
        return "is not a regular file"
    try:
        text = file.read_bytes().decode("ascii")
    except UnicodeDecodeError:
        return "is not PEM text (non-ASCII bytes)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    kinds = _PEM_BLOCK.findall(text)
    others = sorted({k for k in kinds if k != "CERTIFICATE"})
    if others:
        # A private key here would be published into a ConfigMap in every namespace.
        return f"holds {', '.join(others)} blocks; it must hold only CERTIFICATE blocks"
    if not kinds:
        return "holds no PEM CERTIFICATE block"
    try:
        ssl.create_default_context(cadata=text)
    except ssl.SSLError as exc:
        return f"holds a certificate that does not parse ({exc.reason or exc})"
    return None


def ca_issues(cfg: PlatformConfig, root: Path) -> list[tuple[str, str]]:
    ca = cfg.airgap.ca_bundle
    if ca is None or ca.file is None:  # the cluster's own bundle (OpenShift), or reported as missing
        return []
    file = root / ca.file
    problem = _escapes(file, root) if file.exists() else None
    problem = problem or ca_bundle_problem(file)
    return [("airgap.caBundle.file", f"{ca.file!r} {problem}")] if problem else []


def file_issues(cfg: PlatformConfig, root: Path) -> list[tuple[str, str]]:
    return adapter_issues(cfg, root) + ca_issues(cfg, root)
