"""Fixtures for the integration suite: a real control plane on loopback.

The binaries are built (or restored from the machine cache) by
tools/kube/build.sh once per session, at collection time, so that a cold build
is not charged to any test's pytest-timeout; the ``kube`` fixture then starts
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, installs
every CRD listed in the shared index.json, and stops everything at the end of
the session (also after failures or Ctrl-C).

Environment:
  LLM_PLATFORM_KUBE_BUILD=0        never build; skip if .tools/kube/bin is incomplete
  LLM_PLATFORM_KUBE_BIN_DIR=DIR    use prebuilt binaries from DIR
  LLM_PLATFORM_CRDS_DIR=DIR        upstream CRDs (default ../shared/crds)
  LLM_PLATFORM_KUBE_KEEP=1         keep the temp dir (logs, kubeconfig) after the run
  LLM_PLATFORM_KUBE_READY_TIMEOUT  seconds per readiness wait (default 120)
"""

from __future__ import annotations

import atexit
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gotools  # noqa: E402
import kube  # noqa: E402

_HERE = Path(__file__).resolve().parent
_build_state: dict[str, object] = {}
_tool_state: dict[str, Path | Exception] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the local control plane built by tools/kube/build.sh"
    )
    config.addinivalue_line(
        "markers", "gotools(*names): also needs these binaries built by tools/gomod/build.sh <name>"
    )


def _is_integration(item: pytest.Item) -> bool:
    try:
        return Path(str(item.fspath)).resolve().is_relative_to(_HERE)
    except (OSError, ValueError):
        return False


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build/restore the binaries before any test runs (outside test timeouts),
    only when an integration test was selected."""
    if not any(_is_integration(i) for i in session.items):
        return
    config = session.config
    t0 = time.monotonic()
    _say(config, "integration: tools/kube/build.sh (a no-op or a cache restore after the first build) ...")
    try:
        # Steps and timings are echoed so a cold build (tens of minutes) shows progress.
        _build_state["bin"] = kube.ensure_binaries(echo=lambda line: _say(config, f"  {line}"))
    except kube.ControlPlaneUnavailable as e:
        _build_state["error"] = str(e)
    _build_state["seconds"] = time.monotonic() - t0
    status = "ok" if "bin" in _build_state else f"unavailable: {_build_state['error']}"
    _say(config, f"integration: binaries {status} ({_build_state['seconds']:.1f}s)")
    wanted = sorted({name for item in session.items if _is_integration(item)
                     for mark in item.iter_markers("gotools") for name in mark.args})
    for tool in wanted:
        t0 = time.monotonic()
        _say(config, f"integration: tools/gomod/build.sh {tool} ...")
        try:
            _tool_state[tool] = gotools.ensure(tool, echo=lambda line: _say(config, f"  {line}"))
        except gotools.ToolUnavailable as e:
            _tool_state[tool] = e
        _say(config, f"integration: {tool} {'ok' if isinstance(_tool_state[tool], Path) else 'unavailable'} "
                     f"({time.monotonic() - t0:.1f}s)")


def _say(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture (fixture setup output is captured)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    cap = config.pluginmanager.get_plugin("capturemanager")
    if tr is None:
        return
    if cap is not None:
        with cap.global_and_fixture_disabled():
            tr.write_line(line)
    else:
        tr.write_line(line)


@pytest.fixture(scope="session")
def kube_binaries() -> Path:
    if "error" in _build_state:
        pytest.skip(f"control plane binaries unavailable: {_build_state['error']}")
    if "bin" not in _build_state:  # collection hook not run (e.g. plugin-less invocation)
        try:
            _build_state["bin"] = kube.ensure_binaries()
        except kube.ControlPlaneUnavailable as e:
            _build_state["error"] = str(e)
            pytest.skip(f"control plane binaries unavailable: {e}")
    return _build_state["bin"]  # type: ignore[return-value]


def go_tool(name: str) -> Path:
    """The path of a tools/gomod binary, built at collection (or now); skips with the build's reason."""
    if name not in _tool_state:
        try:
            _tool_state[name] = gotools.ensure(name)
        except gotools.ToolUnavailable as e:
            _tool_state[name] = e
    state = _tool_state[name]
    if isinstance(state, Exception):
        pytest.skip(f"{name} unavailable: {state}")
    return state


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return go_tool("helm")


@pytest.fixture(scope="session")
def lws_bin() -> Path:
    return go_tool("lws")


@pytest.fixture(scope="session")
def kserve_bin() -> Path:
    return go_tool("kserve")


@pytest.fixture(scope="session")
def karpenter_bin() -> Path:
    return go_tool("karpenter")


@pytest.fixture(scope="session")
def crd_files() -> list[Path]:
    try:
        return kube.crd_files_from_index()
    except kube.ControlPlaneUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def kube_cluster(request: pytest.FixtureRequest, kube_binaries: Path, crd_files: list[Path]):
    """A started control plane (kube.ControlPlane) with the shared CRDs installed."""
    t0 = time.monotonic()
    for attempt in (1, 2):
        cp = kube.ControlPlane.create(kube_binaries)
        atexit.register(cp.stop)  # belt and braces: also on an interpreter exit mid-session
        try:
            cp.start(crd_files)
            break
        except kube.ControlPlaneUnavailable as e:
            cp.keep_workdir()  # start() already stopped the processes; keep the logs
            cp.stop()
            atexit.unregister(cp.stop)
            # Free ports are picked then bound by the child: another process can win the race.
            if attempt == 1 and "address already in use" in str(e):
                continue
            pytest.fail(f"control plane did not start: {e}\n(logs in {cp.workdir / 'logs'})",
                        pytrace=False)
    elapsed = time.monotonic() - t0
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in cp.timings.items() if k != "total")
    _say(request.config, f"\nintegration: control plane up in {elapsed:.1f}s ({phases}); "
                         f"kubeconfig {cp.kubeconfig}")
    yield cp
    if request.session.testsfailed:
        cp.keep_workdir()
        _say(request.config, f"integration: failures; logs kept in {cp.workdir / 'logs'}")
    t1 = time.monotonic()
    cp.stop()
    atexit.unregister(cp.stop)
    _say(request.config, f"integration: control plane stopped in {time.monotonic() - t1:.1f}s")


@pytest.fixture(scope="session")
def kube_client(kube_cluster) -> kube.KubeClient:
    return kube_cluster.client


# API groups only OpenShift / Open Data Hub clusters serve; the shared CRDs installed on the
# loopback control plane include them, the stacks here target EKS and plain Kubernetes.
_OPENSHIFT_GROUP_SUFFIXES = (".openshift.io", "opendatahub.io", "operators.coreos.com")


@pytest.fixture(scope="session")
def api_versions(kube_client) -> list[str]:
    """``--api-versions``: every group/version and group/version/Kind the cluster serves."""
    out: list[str] = []
    gvs = ["v1"] + [v["groupVersion"] for g in kube_client.get("/apis")["groups"] for v in g["versions"]]
    for gv in gvs:
        if gv.split("/")[0].endswith(_OPENSHIFT_GROUP_SUFFIXES):
            continue
        out.append(gv)
        base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        out += [f"{gv}/{r['kind']}" for r in kube_client.get(base)["resources"] if "/" not in r["name"]]
    return sorted(set(out))
