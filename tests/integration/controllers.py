"""Real controllers as local processes against the loopback control plane.

Each controller binary (LWS, KServe, Karpenter's kwok provider; ``tools/gomod/build.sh``)
runs with the control plane's admin kubeconfig, no leader election, health and metrics on
127.0.0.1, and, where it serves admission webhooks, a serving certificate for 127.0.0.1 signed
by the control plane's CA. The webhook configurations are the ones the controller's chart
renders, rewritten from in-cluster ``service`` references to ``url: https://127.0.0.1:<port>``
(the API server cannot reach a Service here). Every process runs in its own process group and
is stopped by its PID (SIGTERM, then SIGKILL after a bound).
"""

from __future__ import annotations

import base64
import copy
import os
import subprocess
import time
from pathlib import Path

import kube

READY_TIMEOUT = float(os.environ.get("LLM_PLATFORM_CONTROLLER_READY_TIMEOUT", "120"))
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def serving_cert(cp: kube.ControlPlane, name: str) -> Path:
    """``<workdir>/webhooks/<name>/{tls.crt,tls.key}`` for 127.0.0.1, signed by the control plane's CA."""
    assert cp.pki is not None
    d = cp.workdir / "webhooks" / name
    d.mkdir(parents=True, exist_ok=True)
    ca = cp.pki
    (d / "ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                           "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    kube._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", "tls.key", "-out", "tls.csr", "-subj", f"/CN={name}-webhook", cwd=d)
    kube._openssl("x509", "-req", "-in", "tls.csr", "-CA", str(ca.ca_crt), "-CAkey", str(ca.ca_key),
                  "-CAcreateserial", "-days", "3", "-out", "tls.crt", "-extfile", "ext", cwd=d)
    return d


def url_webhooks(objs: list[dict], port: int, ca: Path, served_paths: set[str] | None = None) -> list[dict]:
    """The chart's webhook configurations pointed at ``https://127.0.0.1:<port><path>``.

    ``served_paths``: keep only webhooks whose path the process serves (a chart may configure
    webhooks of components not run here; with ``failurePolicy: Fail`` they would block)."""
    ca_b64 = base64.b64encode(ca.read_bytes()).decode()
    out = []
    for obj in objs:
        if obj.get("kind") not in WEBHOOK_KINDS:
            continue
        obj = copy.deepcopy(obj)
        hooks = []
        for hook in obj.get("webhooks") or []:
            path = (hook.get("clientConfig", {}).get("service") or {}).get("path", "/")
            if served_paths is not None and path not in served_paths:
                continue
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_b64}
            hook["timeoutSeconds"] = min(int(hook.get("timeoutSeconds", 10)), 10)
            hooks.append(hook)
        if hooks:
            obj["webhooks"] = hooks
            # cert-manager's CA injection annotations point at Certificates that do not exist here.
            obj["metadata"] = {"name": obj["metadata"]["name"], "labels": obj["metadata"].get("labels", {})}
            out.append(obj)
    return out


# A controller is a process like the control plane's own: same log tail, same bounded stop.
Controller = kube.Proc


def start(cp: kube.ControlPlane, name: str, binary: Path, args: list[str], env: dict[str, str] | None = None,
          ready_url: str | None = None) -> Controller:
    """Start ``binary`` with the admin kubeconfig (``KUBECONFIG``); wait for ``ready_url`` (HTTP 200)."""
    log = cp.workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    home = cp.workdir / "home" / name
    home.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        popen = subprocess.Popen([str(binary), *args], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=home, start_new_session=True, preexec_fn=kube._die_with_parent,
                                 env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                                      "TMPDIR": str(home), "KUBECONFIG": str(cp.kubeconfig), **(env or {})})
    ctl = Controller(name, popen, log)
    if ready_url:
        def ready() -> bool:
            if not ctl.alive():
                raise kube.ControlPlaneUnavailable(f"{name} exited with {popen.returncode}:\n{ctl.tail()}")
            return kube._http_ok(ready_url)

        try:
            kube.wait_for(ready, READY_TIMEOUT, interval=0.5, what=f"{name} to become ready")
        except TimeoutError as e:
            ctl.stop()
            raise kube.ControlPlaneUnavailable(f"{e}; log {log}:\n{ctl.tail()}") from None
    return ctl


def wait_deleted(client: kube.KubeClient, path: str, timeout: float = 60) -> None:
    kube.wait_for(lambda: not client.exists(path), timeout, what=f"{path} to be deleted")


def elapsed(t0: float) -> str:
    return f"{time.monotonic() - t0:.1f}s"
