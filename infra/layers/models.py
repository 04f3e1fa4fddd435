"""The models layer's wiring: object store -> adapter publishing -> one vLLM service per config entry.

``ObjectStore`` (MinIO) first, because adapters are published into it and every service reads
from it; then ``AdapterCatalog`` (checks and uploads every declared adapter version); then
per service a ``VllmLoraService`` (KServe frontend) or an ``LlmdModelService`` (llm-d frontend)
whose adapter registry is built from the catalog's outputs, so a version is only advertised
once it has landed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.models.adapters import AdapterCatalog, AdapterCatalogArgs, StoreConnection
from components.models.vllm_service import (
    CACHE_DIR,
    AdapterStoreRef,
    VllmLoraService,
    VllmLoraServiceArgs,
    adapter_served_name,
    engine_options,
    storage_uri,
    vllm_env,
)
from components.models.weights import ModelWeights, ModelWeightsArgs
from components.platform.namespaces import NamespaceSpec
from components.storage.interface import ObjectStoreOutputs
from components.storage.minio import ObjectStore, ObjectStoreArgs
from components.storage.s3 import S3ObjectStore, S3ObjectStoreArgs
from infra.config import PlatformConfig
from infra.context import BuildContext


def namespaces_needed(cfg: PlatformConfig) -> dict[str, NamespaceSpec]:
    """Namespaces this layer's workloads need the platform to own."""
    wanted: dict[str, NamespaceSpec] = {}
    if cfg.storage.kind == "minio" and (cfg.models.adapters or cfg.serving.services):
        # MinIO's PVC holds every adapter: deleting the namespace would delete it.
        wanted[cfg.storage.minio.namespace] = NamespaceSpec(enforce="restricted", warn="restricted", holds_data=True)
    if cfg.serving.services and any(m.source.kind == "pvc" for m in cfg.models.base_models.values()):
        # Base model weight claims live next to the pods mounting them, whether the platform created them or
        # they existed before: deleting the namespace (pulumi destroy) would delete a pre-existing claim too.
        wanted[cfg.serving.namespace] = NamespaceSpec(enforce="restricted", warn="restricted", holds_data=True)
    return wanted


@dataclass(frozen=True)
class ServedService:
    """One model service as observability and exports see it."""

    name: str
    """Service name (InferenceService / model service name)."""
    namespace: str
    """Namespace it runs in."""
    served_name: str
    """OpenAI ``model`` name of the base model; adapters are ``<served_name>:<adapter>``."""
    adapters: tuple[str, ...]
    """Served names of its adapters."""
    pod_labels: dict[str, str]
    """Labels selecting its vLLM pods (for PodMonitors)."""
    metrics_port: str = "http"
    """Name of the container port serving ``/metrics``."""


@dataclass
class ModelsLayer:
    """What observability needs from the model services."""

    services: dict[str, ServedService] = field(default_factory=dict)
    """Model services by name."""


def _image(cfg: PlatformConfig, ref):
    """The serving layer's registry rewrite for air-gapped stacks (one rule for every image)."""
    from infra.layers.serving import image

    return image(cfg, ref)


def build(ctx: BuildContext, gpu, serving) -> ModelsLayer:
    cfg = ctx.cfg
    layer = ModelsLayer()
    if not (cfg.serving.services or cfg.models.adapters):
        return layer
    serving_ns_name = cfg.serving.namespace
    serving_ns = ctx.namespace(serving_ns_name) if cfg.serving.services else None

    minio_spec = cfg.storage.minio
    store: ObjectStoreOutputs  # everything below depends on the backend-neutral outputs only
    if cfg.storage.kind == "s3":
        store = S3ObjectStore("s3", S3ObjectStoreArgs(
            spec=cfg.storage.s3, serving_namespace=serving_ns, adapters_bucket=cfg.storage.adapters_bucket,
            models_bucket=cfg.storage.models_bucket, region=cfg.cluster.region or cfg.storage.region,
            tags={"llm-platform/stack": ctx.stack, "llm-platform/cluster": cfg.cluster.name or ctx.stack},
        ), pulumi.ResourceOptions(providers={"kubernetes": ctx.providers.k8s, "aws": ctx.providers.aws}))
        publish_endpoint, verify_ssl = store.endpoint, True  # the regional endpoint is always reachable
    else:
        minio_spec = minio_spec.model_copy(update={"image": _image(cfg, minio_spec.image),
                                                   "client_image": _image(cfg, minio_spec.client_image)})
        store = ObjectStore("minio", ObjectStoreArgs(
            spec=minio_spec,
            namespace=ctx.namespace(minio_spec.namespace),
            serving_namespace=serving_ns,
            adapters_bucket=cfg.storage.adapters_bucket,
            models_bucket=cfg.storage.models_bucket,
            region=cfg.storage.region,
        ), ctx.k8s_opts())
        publish_endpoint, verify_ssl = minio_spec.publish_endpoint, minio_spec.publish_verify_ssl
    catalog = AdapterCatalog("adapters", AdapterCatalogArgs(
        adapters=list(cfg.models.adapters),
        store=StoreConnection(
            endpoint=publish_endpoint,
            bucket=store.adapters_bucket,
            access_key=store.publisher_access_key,
            secret_key=store.publisher_secret_key,
            region=store.region,
            verify_ssl=verify_ssl,
            # An https endpoint of the in-cluster store is verified against the stack's internal CA.
            ca_file=str(ctx.path(cfg.airgap.ca_bundle.file)) if cfg.airgap.enabled and cfg.airgap.ca_bundle else None,
            ready=store.ready,
        ),
        root=ctx.path("."),
    ))
    ctx.exports["objectStoreEndpoint"] = store.endpoint
    ctx.exports["buckets"] = {"adapters": store.adapters_bucket, "models": store.models_bucket}
    ctx.exports["adapterUris"] = {f"{b}/{a}": uri for (b, a), uri in sorted(catalog.uris.items())}

    weights = None
    if serving_ns is not None:
        weights = ModelWeights("model-weights", ModelWeightsArgs(base_models=dict(cfg.models.base_models),
                                                                namespace=serving_ns), ctx.k8s_opts())
    store_ref = None
    if serving_ns is not None:
        store_ref = AdapterStoreRef(endpoint=store.endpoint, bucket=store.adapters_bucket, region=store.region,
                                    s3_secret_name=store.adapters_secret_name, service_account_name=store.service_account_name,
                                    verify_ssl=store.use_https)
    vllm_image = _image(cfg, cfg.models.vllm_image)
    endpoints: dict[str, object] = {}
    served: dict[str, list[str]] = {}
    for svc_name, spec in sorted(cfg.serving.services.items()):
        base = cfg.models.base_models[spec.base_model]
        served_name = cfg.served_name(svc_name)
        adapters = {adapter_served_name(served_name, a.name): catalog.object_paths[(a.base_model, a.name)]
                    for a in cfg.adapters_for(svc_name)}
        pool = cfg.gpu.pools[spec.pool]
        if spec.frontend == "llm-d":
            if serving.llmd is None:
                # render stacks run no llm-d gateway (it is a Helm release): nothing to attach to.
                pulumi.log.info(f"models: service {svc_name!r} (frontend llm-d) needs the llm-d platform; skipped on this stack")
                continue
            svc = _llmd_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image, serving)
            endpoints[svc_name] = svc["endpoint"]
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(sorted(adapters)),
                pod_labels=svc["pod_labels"], metrics_port=svc["metrics_port"])
        elif _nodes(spec, pool) > 1:
            svc = _multinode_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref,
                                     vllm_image, serving, weights)
            endpoints[svc_name] = svc["endpoint"]
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(sorted(adapters)),
                pod_labels=svc["pod_labels"], metrics_port="http")
        else:
            svc = VllmLoraService(svc_name, VllmLoraServiceArgs(
                name=svc_name, namespace=serving_ns, namespace_name=serving_ns_name, mode=serving.mode, spec=spec,
                served_name=served_name, model=base, pool_name=spec.pool, pool=pool, adapters=adapters,
                store=store_ref, image=vllm_image, prometheus_url=serving.prometheus_url or cfg.observability.prometheus_url,
                sync_interval_seconds=cfg.models.lora_sync_interval_seconds, lora_cache_gib=cfg.models.lora_cache_gib,
                depends_on=list(serving.ready) + list(gpu.readiness) + ([weights] if weights is not None else []),
            ), ctx.k8s_opts())
            endpoints[svc_name] = svc.endpoint
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(svc.adapter_names),
                pod_labels=svc.pod_labels, metrics_port="http1")
            if svc.api_key is not None:
                ctx.exports.setdefault("apiKeys", {})[svc_name] = svc.api_key  # type: ignore[index]
        served[svc_name] = [served_name] + sorted(adapters)
    ctx.exports["modelEndpoints"] = endpoints
    ctx.exports["servedModels"] = served
    return layer


def models_reader_env(store) -> list[dict]:
    """Credentials of a base-model downloader: the models-bucket reader (KServe's S3 Secret), not the adapters one."""
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": store.s3_secret_name, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]


def _llmd_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image, serving) -> dict:
    """An llm-d model service with the same adapter registry, sync sidecar and auth as a KServe one."""
    from dataclasses import replace

    from components.gpu.placement import placement_for
    from components.models.vllm_service import AdapterRegistry, adapter_volumes, ephemeral_storage, sync_container, tmp_volume
    from components.serving.llmd import MODEL_DIR, METRICS_PORT_NAME, LlmdModelService, LlmdModelServiceArgs, LlmdScaling, vllm_port

    ns = ctx.namespace(ctx.cfg.serving.namespace)
    support = AdapterRegistry(f"{svc_name}-adapters", svc_name, ns, adapters, spec.auth, ctx.k8s_opts())
    if support.api_key is not None:
        ctx.exports.setdefault("apiKeys", {})[svc_name] = support.api_key
    vllm_args = replace(engine_options(spec, served_name), model=MODEL_DIR, port=vllm_port()).to_args()
    scaling = None
    if spec.autoscaling.enabled:
        scaling = LlmdScaling(min_replicas=spec.replicas.min, max_replicas=spec.replicas.max,
                              metric=f"vllm:num_requests_{spec.autoscaling.metric}", target=spec.autoscaling.target)
    credentials = models_reader_env(store)
    model = LlmdModelService(f"{svc_name}-llmd", LlmdModelServiceArgs(
        platform=serving.llmd, service=svc_name, namespace=ns, served_name=served_name, model_uri=storage_uri(base),
        image=vllm_image, vllm_args=vllm_args,
        placement=placement_for(spec.pool, pool, count=spec.gpu.count, mig_profile=spec.gpu.mig_profile, dra_claim=spec.gpu.dra_claim),
        env=vllm_env(spec, support.api_key_secret_name), replicas=spec.replicas.min,
        tensor_parallel=spec.engine.tensor_parallel, cpu=spec.cpu, memory=f"{spec.memory_gib}Gi",
        sidecars=[sync_container(vllm_image, store_ref, ctx.cfg.models.lora_sync_interval_seconds, vllm_port=vllm_port(),
                                 api_key_secret=support.api_key_secret_name)] if spec.adapter_mode == "dynamic" else [],
        volumes=[*adapter_volumes(support.registry_name, support.sync_name, ctx.cfg.models.lora_cache_gib), tmp_volume()[0]],
        volume_mounts=[{"name": "lora-cache", "mountPath": CACHE_DIR, "readOnly": True}, tmp_volume()[1]],
        ephemeral_storage=ephemeral_storage(spec, base, ctx.cfg.models.lora_cache_gib),
        storage_env=credentials + [
            {"name": "AWS_ENDPOINT_URL", "value": store.endpoint},
            {"name": "S3_ENDPOINT", "value": store.endpoint_host},
            {"name": "S3_USE_HTTPS", "value": "1" if store.use_https else "0"},
            {"name": "S3_VERIFY_SSL", "value": "1" if store.use_https else "0"},
        ],
        scaling=scaling,
    ), ctx.k8s_opts(depends_on=[support]))
    gateway = serving.llmd.service_url(svc_name) + "/"
    return {"endpoint": gateway, "pod_labels": model.pod_labels, "metrics_port": METRICS_PORT_NAME}


def _nodes(spec, pool) -> int:
    """Nodes one replica spans (1: a normal KServe/llm-d service)."""
    from components.serving.multinode import nodes_for

    return nodes_for(spec.engine.tensor_parallel, spec.engine.pipeline_parallel, pool.gpus_per_node)


def _multinode_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image,
                       serving, weights) -> dict:
    """A replica larger than one node: vLLM on a LeaderWorkerSet, same adapter registry and auth.

    Every pod of the group runs the sync sidecar (as a native sidecar: an init container with
    ``restartPolicy: Always``), because each node's workers read the adapter files themselves.
    """
    from dataclasses import replace

    from components.gpu.placement import placement_for
    from components.models.capacity import checkpoint_gib
    from components.models.vllm_service import AdapterRegistry, adapter_volumes, ephemeral_storage, sync_container, tmp_volume
    from components.serving.multinode import MultiNodeArgs, MultiNodeVllm
    from infra.layers.serving import image

    cfg = ctx.cfg
    ns = ctx.namespace(cfg.serving.namespace)
    support = AdapterRegistry(f"{svc_name}-adapters", svc_name, ns, adapters, spec.auth, ctx.k8s_opts())
    if support.api_key is not None:
        ctx.exports.setdefault("apiKeys", {})[svc_name] = support.api_key
    nodes = _nodes(spec, pool)
    per_pod = spec.engine.tensor_parallel * spec.engine.pipeline_parallel // nodes
    placement = placement_for(spec.pool, pool, count=per_pod, mig_profile=spec.gpu.mig_profile, dra_claim=spec.gpu.dra_claim)
    vllm_args = engine_options(spec, served_name, ()).to_args()
    vllm_args = [a for a in vllm_args if not a.startswith("--port=")]  # the leader serves on vLLM's default 8000
    volumes = adapter_volumes(support.registry_name, support.sync_name, cfg.models.lora_cache_gib)
    volumes.append(tmp_volume()[0])
    mounts = [{"name": "lora-cache", "mountPath": CACHE_DIR, "readOnly": True}, tmp_volume()[1]]
    init: list[dict] = []
    source = base.source
    if getattr(source, "kind", None) == "pvc":
        volumes.append({"name": "model", "persistentVolumeClaim": {"claimName": source.claim_name, "readOnly": True}})
        mount = {"name": "model", "mountPath": "/mnt/models", "readOnly": True}
        if source.path.strip("/"):
            mount["subPath"] = source.path.strip("/")
        mounts.append(mount)
    else:
        volumes.append({"name": "model", "emptyDir": {"sizeLimit": f"{checkpoint_gib(base.architecture, spec.engine.quantization)}Gi"}})
        mounts.append({"name": "model", "mountPath": "/mnt/models", "readOnly": True})
        creds = models_reader_env(store)
        init.append({
            "name": "storage-initializer",
            "image": image(cfg, cfg.serving.llmd.storage_initializer_image).ref,
            "args": [storage_uri(base), "/mnt/models"],
            "env": creds + [{"name": "AWS_ENDPOINT_URL", "value": store.endpoint},
                            {"name": "S3_ENDPOINT", "value": store.endpoint_host},
                            {"name": "S3_USE_HTTPS", "value": "1" if store.use_https else "0"}],
            "volumeMounts": [{"name": "model", "mountPath": "/mnt/models"}],
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
        })
    if spec.adapter_mode == "dynamic":
        # Only the leader serves the API (port 8000); workers' sidecars find nothing to unload there.
        init.append(sync_container(vllm_image, store_ref, cfg.models.lora_sync_interval_seconds, vllm_port=8000,
                                   api_key_secret=support.api_key_secret_name) | {"restartPolicy": "Always"})
    elif adapters:
        from components.models.vllm_service import static_lora_modules

        init.append(sync_container(vllm_image, store_ref, cfg.models.lora_sync_interval_seconds, once=True))
        vllm_args = [a for a in engine_options(spec, served_name, static_lora_modules(list(adapters))).to_args()
                     if not a.startswith("--port=")]
    group = MultiNodeVllm(f"{svc_name}-multinode", MultiNodeArgs(
        service=svc_name, namespace=ns, image=vllm_image, vllm_args=vllm_args, nodes=nodes, placement=placement,
        replicas=spec.replicas.min, env=vllm_env(spec, support.api_key_secret_name), cpu=spec.cpu,
        memory=f"{spec.memory_gib}Gi", volumes=volumes, volume_mounts=mounts, init_containers=init,
        ephemeral_storage=ephemeral_storage(spec, base, cfg.models.lora_cache_gib),
    ), ctx.k8s_opts(depends_on=[support, *serving.lws_ready] + ([weights] if weights is not None else [])))
    endpoint = f"http://{group.service_name}.{cfg.serving.namespace}.svc.cluster.local:8000"
    return {"endpoint": endpoint, "pod_labels": group.pod_labels}
