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

from components.common.images import ImageRef
from components.common.pod_security import run_as_for
from components.gpu.pool_ref import GpuPoolRef
from components.models.adapters import AdapterCatalog, AdapterCatalogArgs, StoreConnection
from components.models.lora_server import AdapterRegistry, AdapterStoreRef, PublishedAdapter, lora_server_pod
from components.models.vllm_service import HTTP_PORT, VllmLoraService, VllmLoraServiceArgs, adapter_served_name, storage_uri
from components.serving.vllm_pod import ModelMount
from components.gate.network import GatedService
from components.models.weights import ModelWeights, ModelWeightsArgs
from components.openshift.access import ModelAccess, ModelAccessArgs
from components.openshift.dashboard import RhoaiPresentation
from components.platform.namespaces import NamespaceSpec
from components.storage.interface import ObjectStoreOutputs
from components.storage.minio import ObjectStore, ObjectStoreArgs
from components.storage.s3 import S3ObjectStore, S3ObjectStoreArgs
from infra.config import PlatformConfig
from infra.context import BuildContext
from infra.layers import gate as gate_layer


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
    """Name of the pod's API port (the target Prometheus discovers)."""
    adapter_sync_port: str | None = None
    """Name of the adapter sync sidecar's status port (dynamic mode; none on Knative)."""
    scrape_port: int | None = None
    """The tenant gate's metrics port, where ``/metrics`` is actually served."""


@dataclass
class ModelsLayer:
    """What observability needs from the model services."""

    services: dict[str, ServedService] = field(default_factory=dict)
    """Model services by name."""


def _image(cfg: PlatformConfig, ref):
    """The serving layer's registry rewrite for air-gapped stacks (one rule for every image)."""
    from infra.layers.serving import image

    return image(cfg, ref)


def _presentation(cfg: PlatformConfig, service: str, served_name: str, image: ImageRef) -> RhoaiPresentation | None:
    """How OpenShift AI shows and exposes ``service`` (None off OpenShift)."""
    o = cfg.rhoai
    if o is None:
        return None
    svc = cfg.serving.services[service]
    return RhoaiPresentation(
        display_name=service, description=f"{served_name} with its LoRA adapters (<base>:<adapter>), vLLM multi-LoRA",
        expose=o.expose, auth=svc.auth, route_timeout_seconds=o.route_timeout_seconds, runtime_version=image.tag)


def build(ctx: BuildContext, gpu, serving) -> ModelsLayer:
    cfg = ctx.cfg
    layer = ModelsLayer()
    if not (cfg.serving.services or cfg.models.adapters):
        return layer
    serving_ns_name = cfg.serving.namespace
    serving_ns = ctx.namespace(serving_ns_name) if cfg.serving.services else None
    run_as = run_as_for(cfg.cluster.kind)

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
            run_as=run_as,
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
            ca_file=str(ctx.path(cfg.airgap.ca_bundle.file)) if cfg.airgap.enabled and cfg.airgap.ca_bundle and cfg.airgap.ca_bundle.file else None,
            ready=store.ready,
        ),
        root=ctx.path("."),
        architectures={name: base.architecture for name, base in cfg.models.base_models.items()},
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
    gates = gate_layer.build(ctx)
    endpoints: dict[str, object] = {}
    served: dict[str, list[str]] = {}
    for svc_name, spec in sorted(cfg.serving.services.items()):
        base = cfg.models.base_models[spec.base_model]
        served_name = cfg.served_name(svc_name)
        adapters = {adapter_served_name(served_name, a.name): PublishedAdapter(
                        prefix=catalog.object_paths[(a.base_model, a.name)], files=catalog.digests[(a.base_model, a.name)])
                    for a in cfg.adapters_for(svc_name)}
        pool = cfg.gpu.pools[spec.pool]
        if spec.frontend == "llm-d" and serving.llmd is None:
            # render stacks run no llm-d gateway (it is a Helm release): nothing to attach to.
            pulumi.log.info(f"models: service {svc_name!r} (frontend llm-d) needs the llm-d platform; skipped on this stack")
            continue
        # The tenant gate takes the port the frontend routes to; vLLM moves to 127.0.0.1. It
        # presents vLLM's own token (service ``auth``) itself: clients never see that one. On
        # OpenShift AI ``auth`` is the auth proxy in front of the pod instead, and vLLM has no key.
        gate = gate_layer.service_gate(ctx, gates, svc_name, _gate_port(spec, pool),
                                       f"{svc_name}-api-key" if _vllm_key(cfg, spec) else None,
                                       metrics_on_client_port=spec.frontend == "llm-d").sidecar()
        if spec.frontend == "llm-d":
            svc = _llmd_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image,
                                serving, gate)
            endpoints[svc_name] = svc["endpoint"]
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(sorted(adapters)),
                pod_labels=svc["pod_labels"], metrics_port=svc["metrics_port"], adapter_sync_port=_sync_port(spec, None),
                scrape_port=cfg.gate.metrics_port)
        elif _nodes(spec, pool) > 1:
            svc = _multinode_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref,
                                     vllm_image, serving, weights, gate)
            endpoints[svc_name] = svc["endpoint"]
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(sorted(adapters)),
                pod_labels=svc["pod_labels"], metrics_port="http", adapter_sync_port=_sync_port(spec, None),
                scrape_port=cfg.gate.metrics_port)
        else:
            svc = VllmLoraService(svc_name, VllmLoraServiceArgs(
                name=svc_name, namespace=serving_ns, namespace_name=serving_ns_name, mode=serving.mode, spec=spec,
                served_name=served_name, model=base, pool_name=spec.pool, pool=pool, adapters=adapters,
                store=store_ref, image=vllm_image, prometheus_url=serving.prometheus_url or cfg.observability.prometheus_url,
                sync_interval_seconds=cfg.models.lora_sync_interval_seconds, lora_cache_gib=cfg.models.lora_cache_gib,
                depends_on=list(serving.ready) + list(gpu.readiness) + ([weights] if weights is not None else []),
                gate=gate, metrics_port=cfg.gate.metrics_port,
                run_as=run_as, rhoai=_presentation(cfg, svc_name, served_name, vllm_image),
            ), ctx.k8s_opts())
            endpoints[svc_name] = svc.endpoint
            if cfg.rhoai is not None:
                access = ModelAccess(f"{svc_name}-access", ModelAccessArgs(
                    service=svc_name, namespace=serving_ns, pod_labels=svc.pod_labels, api_port=HTTP_PORT,
                    metrics_port=cfg.gate.metrics_port,
                    auth=spec.auth), ctx.k8s_opts())
                if access.token_secret_name is not None:
                    ctx.exports.setdefault("callerTokenSecrets", {})[svc_name] = access.token_secret_name  # type: ignore[index]
            layer.services[svc_name] = ServedService(
                name=svc_name, namespace=serving_ns_name, served_name=served_name, adapters=tuple(svc.adapter_names),
                pod_labels=svc.pod_labels, metrics_port="http1", adapter_sync_port=_sync_port(spec, serving.mode),
                scrape_port=cfg.gate.metrics_port)
            if svc.api_key is not None:
                ctx.exports.setdefault("apiKeys", {})[svc_name] = svc.api_key  # type: ignore[index]
        served[svc_name] = [served_name] + sorted(adapters)
        if svc_name in layer.services:
            gates.gated.append(GatedService(
                name=svc_name, pod_labels=layer.services[svc_name].pod_labels, client_port=_entry_port(cfg, spec, pool),
                metrics_port=cfg.gate.metrics_port,
                knative=spec.frontend == "kserve" and serving.mode == "Knative" and _nodes(spec, pool) == 1,
                multinode=spec.frontend == "kserve" and _nodes(spec, pool) > 1))
    gate_layer.network_policies(ctx, gates, minio_spec.namespace if cfg.storage.kind == "minio" else None,
                                {"app.kubernetes.io/component": "object-store-setup", "app.kubernetes.io/instance": "minio"})
    ctx.exports["modelEndpoints"] = endpoints
    ctx.exports["servedModels"] = served
    return layer


def _vllm_key(cfg: PlatformConfig, spec) -> bool:
    """vLLM itself wants a token (service ``auth``), except on OpenShift AI, where ``auth`` is the
    auth proxy in front of the pod (``VllmLoraService`` decides the same from ``rhoai``)."""
    return spec.auth and cfg.rhoai is None


def models_reader_env(store) -> list[dict]:
    """Credentials of a base-model downloader: the models-bucket reader (KServe's S3 Secret), not the adapters one."""
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": store.s3_secret_name, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]


def _sync_port(spec, kserve_mode: str | None) -> str | None:
    """The sync sidecar's status port name, where it has one (Knative admits one port per pod)."""
    from components.models.lora_server import STATUS_PORT_NAME

    return STATUS_PORT_NAME if spec.adapter_mode == "dynamic" and kserve_mode != "Knative" else None


def _model_mount(cfg: PlatformConfig, base, store, store_ref) -> ModelMount:
    """The base model outside KServe: a PVC mounted, or s3:// downloaded by KServe's storage
    initializer (same image, same S3 settings for the llm-d and LeaderWorkerSet frontends)."""
    from infra.layers.serving import image

    credentials = models_reader_env(store)
    tls = "1" if store.use_https else "0"
    return ModelMount(
        uri=storage_uri(base),
        downloader=image(cfg, cfg.serving.llmd.storage_initializer_image),
        download_env=tuple(credentials + [
            {"name": "AWS_ENDPOINT_URL", "value": store.endpoint},
            {"name": "S3_ENDPOINT", "value": store.endpoint_host},
            {"name": "S3_USE_HTTPS", "value": tls},
            {"name": "S3_VERIFY_SSL", "value": tls},
        ]),
    )


def _llmd_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image, serving,
                  gate) -> dict:
    """An llm-d model service with the same adapter registry, sync sidecar and auth as a KServe one."""
    from components.gpu.placement import placement_for
    from components.serving.llmd import METRICS_PORT_NAME, LlmdModelService, LlmdModelServiceArgs, LlmdScaling, vllm_port

    ns = ctx.namespace(ctx.cfg.serving.namespace)
    support = AdapterRegistry(f"{svc_name}-adapters", svc_name, ns, adapters, _vllm_key(ctx.cfg, spec), opts=ctx.k8s_opts())
    if support.api_key is not None:
        ctx.exports.setdefault("apiKeys", {})[svc_name] = support.api_key
    scaling = None
    if spec.autoscaling.enabled:
        scaling = LlmdScaling(min_replicas=spec.replicas.min, max_replicas=spec.replicas.max,
                              metric=f"vllm:num_requests_{spec.autoscaling.metric}", target=spec.autoscaling.target)
    pod = lora_server_pod(
        spec=spec, served_name=served_name, port=vllm_port(), image=vllm_image, base=base,
        model=_model_mount(ctx.cfg, base, store, store_ref),
        placement=placement_for(spec.pool, pool, count=spec.gpu.count, mig_profile=spec.gpu.mig_profile, dra_claim=spec.gpu.dra_claim),
        registry=support, store=store_ref, adapter_names=sorted(adapters),
        sync_interval_seconds=ctx.cfg.models.lora_sync_interval_seconds, cache_gib=ctx.cfg.models.lora_cache_gib,
        shm_size="16Gi", gate=gate, run_as=run_as_for(ctx.cfg.cluster.kind))
    model = LlmdModelService(f"{svc_name}-llmd", LlmdModelServiceArgs(
        platform=serving.llmd, service=svc_name, namespace=ns, served_name=served_name, server=pod,
        replicas=spec.replicas.min, tensor_parallel=spec.engine.tensor_parallel, scaling=scaling,
        pool=GpuPoolRef(spec.pool, pool),
    ), ctx.k8s_opts(depends_on=[support]))
    gateway = serving.llmd.service_url(svc_name) + "/"
    return {"endpoint": gateway, "pod_labels": model.pod_labels, "metrics_port": METRICS_PORT_NAME}


def _gate_port(spec, pool) -> int:
    """The port a service's frontend routes to, where its gate listens."""
    from components.models.vllm_service import HTTP_PORT
    from components.serving.llmd import vllm_port

    if spec.frontend == "llm-d":
        return vllm_port("decode", routing_proxy=True)
    return HTTP_PORT if _nodes(spec, pool) == 1 else 8000


def _entry_port(cfg: PlatformConfig, spec, pool) -> int:
    """The port traffic enters a model-server pod on: the gate's, on llm-d the pool's target
    port (the routing sidecar, which forwards to the gate inside the pod), on OpenShift AI with
    ``auth`` KServe's kube-rbac-proxy (which forwards to the gate inside the pod)."""
    from components.openshift.dashboard import AUTH_PROXY_PORT
    from components.serving.llmd import SERVICE_PORT

    if cfg.rhoai is not None and spec.auth:
        return AUTH_PROXY_PORT
    return SERVICE_PORT if spec.frontend == "llm-d" else _gate_port(spec, pool)


def _nodes(spec, pool) -> int:
    """Nodes one replica spans (1: a normal KServe/llm-d service)."""
    from components.serving.multinode import nodes_for

    return nodes_for(spec.engine.tensor_parallel, spec.engine.pipeline_parallel, pool.gpus_per_node)


def _multinode_service(ctx, svc_name, spec, served_name, base, pool, adapters, store, store_ref, vllm_image,
                       serving, weights, gate) -> dict:
    """A replica larger than one node: vLLM on a LeaderWorkerSet, same adapter registry and auth.

    Every pod of the group runs the sync sidecar (a node sidecar of the server pod), because
    each node's workers read the adapter files themselves.
    """
    from dataclasses import replace

    from components.gpu.placement import placement_for
    from components.serving.multinode import LEADER_PORT, MultiNodeArgs, MultiNodeVllm

    cfg = ctx.cfg
    ns = ctx.namespace(cfg.serving.namespace)
    support = AdapterRegistry(f"{svc_name}-adapters", svc_name, ns, adapters, _vllm_key(ctx.cfg, spec), opts=ctx.k8s_opts())
    if support.api_key is not None:
        ctx.exports.setdefault("apiKeys", {})[svc_name] = support.api_key
    nodes = _nodes(spec, pool)
    per_pod = spec.engine.tensor_parallel * spec.engine.pipeline_parallel // nodes
    pod = lora_server_pod(
        spec=spec, served_name=served_name, port=LEADER_PORT, image=vllm_image, base=base,
        model=replace(_model_mount(cfg, base, store, store_ref), cache_size="1000Gi"),
        placement=placement_for(spec.pool, pool, count=per_pod, mig_profile=spec.gpu.mig_profile, dra_claim=spec.gpu.dra_claim),
        registry=support, store=store_ref, adapter_names=sorted(adapters),
        sync_interval_seconds=cfg.models.lora_sync_interval_seconds, cache_gib=cfg.models.lora_cache_gib,
        shm_size="32Gi", gate=gate, run_as=run_as_for(cfg.cluster.kind))
    group = MultiNodeVllm(f"{svc_name}-multinode", MultiNodeArgs(
        service=svc_name, namespace=ns, server=pod, nodes=nodes, replicas=spec.replicas.min,
        pool=GpuPoolRef(spec.pool, pool),
    ), ctx.k8s_opts(depends_on=[support, *serving.lws_ready] + ([weights] if weights is not None else [])))
    endpoint = f"http://{group.service_name}.{cfg.serving.namespace}.svc.cluster.local:{LEADER_PORT}"
    return {"endpoint": endpoint, "pod_labels": group.pod_labels}
