"""Adapter go-live and revoke latency across replicas, end to end on this machine:

    make bench-lora            (or .venv/bin/python bench/lora_rollout.py [--changes N] [--replicas R])

Everything is real and on 127.0.0.1: a Kubernetes API server (tools/kube/build.sh, cached),
MinIO (tools/minio/build.sh), R vLLM replicas (tools/vllm/install.sh, tiny Llama), each with
the real sync sidecar watching the registry ConfigMap through the API server with a
ServiceAccount token bound only to the synthesized Role (get/list/watch of that ConfigMap).

For each change (add, bump, remove; at least 20), the clock starts when the API server has
accepted the ConfigMap update and stops at the first correct answer on EVERY replica: for an
add or bump, the greedy completion equals the reference output of that version's weights; for
a remove, every replica answers 404. The last lines are ``go_live_p95_s=``, ``revoke_p95_s=``
and ``restarts=`` (vLLM and sidecar processes whose PID changed or that exited).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.models.adapter_checks import adapter_prefix, prepare_adapter  # noqa: E402
from components.models.adapters import AdapterVersionProvider  # noqa: E402
from components.models.lora_server import REGISTRY_KEY, registry_reader_rules  # noqa: E402
from tests.integration import kube  # noqa: E402
from tests.support import realvllm  # noqa: E402

NS, SERVICE = "llm", "tiny"
REGISTRY = f"{SERVICE}-lora-registry"
SA = f"{SERVICE}-model-server"
# Published versions: (adapter, version) -> weights (the tiny adapters' seeds).
VERSIONS = {("a1", "v1"): "a1", ("a1", "v2"): "a2", ("a2", "v1"): "a2", ("a2", "v2"): "a3", ("a3", "v1"): "a3",
            ("a3", "v2"): "a1"}
PROMPT = "hello there"


def log(msg: str) -> None:
    print(msg, flush=True)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def start_minio(workdir: Path) -> tuple[subprocess.Popen, dict]:
    binary = ROOT / ".tools" / "minio" / "minio"
    if not binary.exists():
        subprocess.run(["bash", str(ROOT / "tools" / "minio" / "build.sh"), "minio"], check=True)
    port, console = realvllm.free_port(), realvllm.free_port()
    user, password = "root" + secrets.token_hex(4), secrets.token_hex(16)
    env = dict(os.environ, MINIO_ROOT_USER=user, MINIO_ROOT_PASSWORD=password, MINIO_BROWSER="off",
               MINIO_UPDATE="off", HOME=str(workdir), MINIO_CI_CD="1")
    proc = realvllm.start([str(binary), "server", str(workdir / "minio"), "--address", f"127.0.0.1:{port}",
                           "--console-address", f"127.0.0.1:{console}", "--quiet"], env, workdir / "minio.log")
    endpoint = f"http://127.0.0.1:{port}"
    realvllm.wait_http(f"{endpoint}/minio/health/ready", proc, 60, "MinIO")
    return proc, {"endpoint": endpoint, "bucket": "adapters", "access_key": user, "secret_key": password}


def publish(s3: dict, adapters: dict[str, Path], base: Path) -> dict[tuple[str, str], dict]:
    from minio import Minio

    client = Minio(s3["endpoint"].removeprefix("http://"), access_key=s3["access_key"], secret_key=s3["secret_key"], secure=False)
    if not client.bucket_exists("adapters"):
        client.make_bucket("adapters")
    out = {}
    for (name, version), source in VERSIONS.items():
        src = adapters[source]
        props = {"sourceDir": str(src), "rank": 8, "modelPath": str(base), "endpoint": s3["endpoint"], "bucket": "adapters",
                 "prefix": adapter_prefix("tiny", name, version), "region": "us-east-1", "verifySsl": True, "mode": "upload",
                 "digests": prepare_adapter(src, 8, str(base)).digests,
                 "accessKey": s3["access_key"], "secretKey": s3["secret_key"]}
        outs = AdapterVersionProvider().create(props).outs
        out[(name, version)] = {"prefix": outs["prefix"], "files": dict(outs["digests"])}
    return out


def complete(url: str, model: str) -> str | None:
    body = json.dumps({"model": model, "prompt": PROMPT, "max_tokens": 8, "temperature": 0}).encode()
    req = urllib.request.Request(f"{url}/v1/completions", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["choices"][0]["text"]
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 404):
            return None
        raise


def changes(n: int) -> list[tuple[str, str, str | None]]:
    """(kind, adapter, version or None) cycling through adds, bumps, rollbacks and removes."""
    cycle = [("add", "a1", "v1"), ("add", "a2", "v1"), ("bump", "a1", "v2"), ("add", "a3", "v1"),
             ("remove", "a2", None), ("bump", "a3", "v2"), ("bump", "a1", "v1"), ("remove", "a3", None),
             ("add", "a2", "v2"), ("remove", "a1", None), ("bump", "a2", "v1"), ("remove", "a2", None)]
    return [cycle[i % len(cycle)] for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=24)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    if args.changes < 20 or args.replicas < 1:
        print("bench-lora: --changes must be >= 20 and --replicas >= 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-lora-"))
    procs: list[realvllm.Proc] = []
    plane = None
    try:
        log("[bench-lora] vLLM environment and tiny model")
        python = realvllm.vllm_python()
        base, adapters = realvllm.tiny_models(python)
        log("[bench-lora] Kubernetes API server")
        plane = kube.ControlPlane.create(kube.ensure_binaries(), workdir / "kube").start()
        api = plane.client
        api.ensure_namespace(NS)
        api.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}})
        api.create(f"/api/v1/namespaces/{NS}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                            "metadata": {"name": REGISTRY}, "data": {REGISTRY_KEY: "{}\n"}})
        api.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": f"{REGISTRY}-reader"},
            "rules": registry_reader_rules(REGISTRY)})
        api.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": f"{REGISTRY}-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{REGISTRY}-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]})
        token = api.create(f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
        token_file = workdir / "token"
        token_file.write_text(token["status"]["token"])
        token_file.chmod(0o600)

        log("[bench-lora] MinIO and the published versions")
        minio, s3 = start_minio(workdir)
        procs.append(minio)
        published = publish(s3, adapters, base)

        log(f"[bench-lora] {args.replicas} vLLM replica(s) (~30-100 s each on a busy machine)")
        replicas = []
        for i in range(args.replicas):
            proc, url = realvllm.start_vllm(python, base, workdir)
            procs.append(proc)
            sc = realvllm.start_sidecar(python, workdir, s3, url, workdir / "unused-registry.json", name=f"sidecar{i}",
                                        extra_env={"REGISTRY_SOURCE": "kube", "POD_NAMESPACE": NS,
                                                   "REGISTRY_CONFIGMAP": REGISTRY, "KUBE_API_URL": plane.server,
                                                   "KUBE_TOKEN_FILE": str(token_file), "KUBE_CA_FILE": str(plane.pki.ca_crt)})
            procs.append(sc.proc)
            replicas.append((proc, url, sc))
        pids = [(p.pid, sc.proc.pid) for p, _, sc in replicas]

        # Reference outputs of each weight set, computed once on replica 0 under never-reused names.
        ref_url = replicas[0][1]
        refs = {w: {"prefix": published[(w, "v1")]["prefix"], "files": published[(w, "v1")]["files"]} for w in ("a1", "a2", "a3")}

        def put_registry(entries: dict) -> float:
            api.apply(f"/api/v1/namespaces/{NS}/configmaps/{REGISTRY}", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": REGISTRY, "namespace": NS},
                "data": {REGISTRY_KEY: json.dumps(entries, sort_keys=True)}})
            return time.monotonic()

        def wait(predicate, timeout=60.0) -> float | None:
            start = time.monotonic()
            while time.monotonic() - start < timeout:
                if predicate():
                    return time.monotonic()
                time.sleep(0.02)
            return None

        put_registry({f"tiny:ref-{w}": e for w, e in refs.items()})
        reference: dict[str, str] = {}
        for w in refs:
            if wait(lambda: complete(ref_url, f"tiny:ref-{w}") is not None, 120) is None:
                raise RuntimeError(f"reference adapter {w} never went live: {replicas[0][2].proc.tail()}")
            reference[w] = complete(ref_url, f"tiny:ref-{w}")
        put_registry({})
        wait(lambda: all(complete(url, "tiny:ref-a1") is None for _, url, _ in replicas), 60)
        log(f"[bench-lora] reference outputs: {reference}")

        registry: dict[str, dict] = {}
        go_live, revoke = [], []
        for i, (kind, name, version) in enumerate(changes(args.changes)):
            model = f"tiny:{name}"
            if kind == "remove":
                registry.pop(model, None)
                t0 = put_registry(registry)
                done = wait(lambda: all(complete(url, model) is None for _, url, _ in replicas))
                series = revoke
            else:
                registry[model] = published[(name, version)]
                expected = reference[VERSIONS[(name, version)]]
                t0 = put_registry(registry)
                done = wait(lambda: all(complete(url, model) == expected for _, url, _ in replicas))
                series = go_live
            if done is None:
                log(f"change {i + 1:2d} {kind:6s} {model}:{version or '-'} NOT DONE within 60 s")
                series.append(float("inf"))
                continue
            series.append(done - t0)
            log(f"change {i + 1:2d} {kind:6s} {model} {version or '-':3s} on all {len(replicas)} replicas in {done - t0:.3f} s")

        restarts = sum(1 for (p, _, sc), (vp, sp) in zip(replicas, pids)
                       if p.popen.poll() is not None or sc.proc.popen.poll() is not None or p.pid != vp or sc.proc.pid != sp)
        failures = sum(sc.metric("lora_sync_failures_total") for _, _, sc in replicas)
        log(f"changes={len(go_live) + len(revoke)} replicas={len(replicas)} registry_source=kube-apiserver-watch "
            f"sidecar_failures={failures:g}")
        log(f"go_live_max_s={max(go_live):.3f} revoke_max_s={max(revoke):.3f}")
        log(f"go_live_p95_s={p95(go_live):.3f}")
        log(f"revoke_p95_s={p95(revoke):.3f}")
        log(f"restarts={restarts}")
        return 0 if restarts == 0 and max(go_live + revoke) < float("inf") else 1
    finally:
        for proc in reversed(procs):
            proc.stop()
        if plane is not None:
            plane.stop()


if __name__ == "__main__":
    sys.exit(main())
