"""A program of your own that uses only the multi-LoRA service: one base model on vLLM under
KServe, two LoRA adapters that roll out without a restart, on a static L4 node you declare.

Nothing of the platform program (``infra/``) is involved: plain values in, one component out.
The Kubernetes provider renders every object to ``renderDir`` (config, default
``out/examples/lora-service``) instead of applying it, so ``pulumi up`` needs no cluster.
"""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.common.images import ImageRef
from components.gpu import GpuPoolRef, GpuPoolSpec
from components.models import AdapterStoreRef, BaseModelSpec, LoraServiceSpec, VllmLoraService, VllmLoraServiceArgs
from components.models.adapter_checks import prepare_adapter
from components.models.lora_server import PublishedAdapter

config = pulumi.Config()
render = k8s.Provider("render", render_yaml_to_directory=config.get("renderDir") or "out/examples/lora-service")

# A static pool: the node exists already and carries this label; its GPU is time-sliced 4 ways.
pool = GpuPoolRef("workstation", GpuPoolSpec(provisioner="static", gpu="L4", gpus_per_node=1,
                                             node_selector={"llm-platform.io/pool": "workstation"},
                                             sharing={"mode": "time-slicing", "replicas": 4}))


def published(adapter: str, version: str, rank: int) -> PublishedAdapter:
    """An adapter version as published to the bucket: its prefix and the digests of its files
    (the registry pins both; the sync sidecar refuses anything else)."""
    source = Path(__file__).resolve().parents[2] / "adapters" / "qwen2.5-7b" / adapter / version
    return PublishedAdapter(prefix=f"adapters/qwen2.5-7b/{adapter}/{version}/",
                            files=prepare_adapter(source, declared_rank=rank).digests)


service = VllmLoraService(
    "qwen-7b",
    VllmLoraServiceArgs(
        name="qwen-7b",
        namespace="llm",
        namespace_name="llm",
        mode="Standard",
        spec=LoraServiceSpec(base_model="qwen2.5-7b", pool=pool.name,
                             engine={"max_loras": 2, "max_lora_rank": 16, "max_model_len": 4096, "kv_cache_dtype": "fp8"},
                             replicas={"min": 1, "max": 1}),
        served_name="qwen2.5-7b",
        model=BaseModelSpec(architecture="Qwen2.5-7B", source={"kind": "pvc", "claim_name": "qwen2-5-7b-weights"}),
        pool_name=pool.name,
        pool=pool.spec,
        # Served name -> pinned object prefix and file digests of each published adapter version.
        adapters={"qwen2.5-7b:sql": published("sql", "v2026-11-01", rank=8),
                  "qwen2.5-7b:support-ja": published("support-ja", "v2026-11-10", rank=16)},
        store=AdapterStoreRef(endpoint="http://minio.storage.svc.cluster.local:9000", bucket="adapters",
                              region="us-east-1", s3_secret_name="adapters-s3", service_account_name="adapters-reader"),
        image=ImageRef(registry="docker.io", repository="vllm/vllm-openai", tag="v0.33.0"),
        prometheus_url="http://prometheus-operated.monitoring.svc:9090",
    ),
    opts=pulumi.ResourceOptions(providers=[render]),
)

pulumi.export("endpoint", service.endpoint)
pulumi.export("adapterNames", service.adapter_names)
pulumi.export("registryName", service.registry_name)
