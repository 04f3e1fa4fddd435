"""llm-d: the inference gateway, and per model service an InferencePool with its endpoint picker
(EPP), the vLLM model servers, and the HTTPRoute from the gateway to the pool.

Two components:

* ``LlmD`` (one per stack): the gateway from the ``llm-d-infra`` chart (provider from config).
  Its ``platform`` attribute (``LlmdPlatform``) is everything a model service needs: gateway
  name/namespace, charts, images, readiness.
* ``LlmdModelService`` (one per service with ``frontend: llm-d``; created by the models layer):
  - the inference pool + EPP from the ``llm-d-router-gateway`` chart (v0.10.0);
  - the model servers from the ``llm-d-modelservice`` chart (decode, optional prefill for
    prefill/decode disaggregation, tensor parallelism, routing sidecar);
  - an ``HTTPRoute`` (gateway.networking.k8s.io/v1) ``/<service>/...`` -> the InferencePool;
  - optionally a KEDA ``ScaledObject`` on the decode Deployment.

Chart choice for the pool and EPP: the Gateway API Inference Extension ``inferencepool`` chart
was deleted after v1.5.0 (kubernetes-sigs/gateway-api-inference-extension a70292c1); the EPP
and its charts moved to llm-d/llm-d-router. We pin ``llm-d-router-gateway`` v0.10.0 (the
variant that attaches the pool to an existing Gateway; ``-standalone`` runs its own proxy):
it keeps receiving fixes, creates the same ``inference.networking.k8s.io/v1`` InferencePool,
and its EPP image is versioned with it. Values sit under ``router:``.

The labels tying the pool to its model servers come from ONE function, ``pool_selector_labels``:
the pool's ``router.modelServers.matchLabels`` and the model servers' ``modelArtifacts.labels``
are both built from it (and so are the PodMonitor selectors of the models layer).

Calling ``LlmdModelService`` (models layer)::

    LlmdModelService(f"{name}-llmd", LlmdModelServiceArgs(
        platform=serving.llmd,                 # ServingLayer.llmd (an LlmdPlatform)
        service="llama-70b", namespace=ns, served_name="llama-3.1-70b",
        server=lora_server_pod(..., port=vllm_port()),   # a VllmServerPod (components.serving.vllm_pod)
        replicas=2, tensor_parallel=2),
        opts=pulumi.ResourceOptions(parent=self))

vLLM must be started with ``--model MODEL_DIR`` (weights are always mounted there, whatever the
URI scheme: a PVC is mounted with its path as subPath, S3 is downloaded into an emptyDir by the
storage initializer) and ``--port vllm_port(...)`` (the routing sidecar owns the service port on
decode pods). ``check_vllm_args`` refuses anything else before a pod crash-loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common.helm import ChartRef, helm_release
from components.common.images import ImageRef
from components.common.input_errors import refuse_inputs, value_issues
from components.common.labels import standard_labels
from components.gpu.pool_ref import GpuPoolRef
from components.gpu.requests import placement_rules
from components.serving.multinode import layout_problem
from components.serving.names import service_name_problems
from components.serving.vllm_pod import MODEL_DIR, VllmServerPod
SERVICE_PORT = 8000
"""Port the InferencePool targets (routing sidecar on decode pods, vLLM on prefill pods)."""
PROXY_TARGET_PORT = 8200
"""Port vLLM listens on behind the routing sidecar."""
METRICS_PORT_NAME = "metrics"
"""Name of the vLLM container port serving ``/metrics``."""
ROLE_LABEL = "llm-d.ai/role"
"""Label the modelservice chart adds to every model-server pod (``decode`` or ``prefill``)."""
GATEWAY_API = "gateway.networking.k8s.io/v1"
INFERENCE_POOL_GROUP = "inference.networking.k8s.io"


def pool_selector_labels(service: str) -> dict[str, str]:
    """The labels that tie an InferencePool to its model-server pods (the only place they are made)."""
    return {"llm-d.ai/inference-serving": "true", "llm-d.ai/model": service}


def vllm_port(role: str = "decode", routing_proxy: bool = True) -> int:
    """The port vLLM must listen on in a model-server pod of ``role``."""
    return PROXY_TARGET_PORT if role == "decode" and routing_proxy else SERVICE_PORT


def _flag_value(args: Sequence[str], flag: str) -> list[str]:
    """Values given to ``flag`` in ``--flag=v`` or ``--flag v`` form (all occurrences)."""
    values = []
    for i, token in enumerate(args):
        if token.startswith(flag + "="):
            values.append(token.split("=", 1)[1])
        elif token == flag and i + 1 < len(args):
            values.append(args[i + 1])
    return values


def check_vllm_args(args: Sequence[str], *, served_name: str, port: int, tensor_parallel: int) -> list[str]:
    """Problems with vLLM arguments for an llm-d model server (empty when fine)."""
    problems = []
    models = _flag_value(args, "--model")
    if models != [MODEL_DIR]:
        problems.append(f"--model must be given once as {MODEL_DIR!r} (weights are mounted there), got {models or 'none'}")
    ports = _flag_value(args, "--port")
    if ports != [str(port)]:
        problems.append(f"--port must be {port} (the pool and routing sidecar expect it), got {ports or 'none (vLLM default 8000)'}")
    names_at = [i for i, t in enumerate(args) if t == "--served-model-name" or t.startswith("--served-model-name=")]
    names: list[str] = []
    for i in names_at:
        if args[i].startswith("--served-model-name="):
            names.append(args[i].split("=", 1)[1])
        else:
            j = i + 1
            while j < len(args) and not args[j].startswith("--"):
                names.append(args[j])
                j += 1
    if served_name not in names:
        problems.append(f"--served-model-name must include {served_name!r} (requests and metrics use it), got {names or 'none'}")
    tp = _flag_value(args, "--tensor-parallel-size")
    if int(tp[0] if tp else 1) != tensor_parallel:
        problems.append(f"--tensor-parallel-size {tp[0] if tp else 1} disagrees with tensor_parallel={tensor_parallel}")
    return problems


@dataclass(frozen=True)
class LlmdPlatform:
    """What every llm-d model service shares; ``LlmD.platform`` / ``ServingLayer.llmd``."""

    gateway_name: str
    """Name of the inference Gateway the HTTPRoutes attach to."""
    gateway_namespace: str
    """Namespace of the Gateway (model services run there too, so routes need no ReferenceGrant)."""
    gateway_provider: str
    """Gateway implementation (``istio``, ``agentgateway``, ``kgateway``, ``gke-...``)."""
    router_chart: ChartRef
    """``llm-d-router-gateway`` chart (InferencePool + endpoint picker)."""
    modelservice_chart: ChartRef
    """``llm-d-modelservice`` chart (decode/prefill model servers)."""
    epp_image: ImageRef
    """Endpoint picker image (pinned; the chart's default tag is ``main``)."""
    routing_sidecar_image: ImageRef
    """Routing sidecar image of decode pods."""
    prometheus_url: str
    """Prometheus that KEDA queries."""
    monitoring_release_label: str | None
    """``release`` label of the EPP ServiceMonitor, or None for no ServiceMonitor."""
    storage_initializer_image: ImageRef | None = None
    """Image that downloads ``s3://`` base models (KServe's storage initializer)."""
    keda_ready: tuple[pulumi.Resource, ...] = ()
    """What a ScaledObject waits for (the KEDA release, when this stack installs it)."""
    image_pull_secrets: tuple[str, ...] = ()
    """Pull secrets every model-server and EPP pod gets (the internal registry's on air-gapped stacks)."""
    ready: tuple[pulumi.Resource, ...] = ()
    """Resources a model service must wait for (the gateway release)."""

    @property
    def gateway_host(self) -> str:
        """In-cluster DNS name of the gateway's proxy Service. Istio and kgateway/agentgateway
        deploy it for the Gateway: Istio names it ``<gateway>-istio``, the others ``<gateway>``."""
        name = f"{self.gateway_name}-istio" if self.gateway_provider == "istio" else self.gateway_name
        return f"{name}.{self.gateway_namespace}.svc.cluster.local"

    def service_url(self, service: str) -> str:
        """OpenAI base URL of a model service behind the gateway (``.../v1`` is appended by clients)."""
        return f"http://{self.gateway_host}/{service}"


@dataclass(frozen=True)
class LlmdScaling:
    """KEDA scaling of the decode Deployment on a vLLM queue metric.

    The modelservice chart always renders ``replicas``, so an upgrade of its release sets the
    Deployment back to ``LlmdModelServiceArgs.replicas`` until KEDA's next poll; pass the
    minimum there (the models layer does) so an upgrade never scales a busy service below it."""

    min_replicas: int
    """Fewest decode replicas (>= 1: Standard mode never scales to zero)."""
    max_replicas: int
    """Most decode replicas."""
    metric: str = "vllm:num_requests_waiting"
    """vLLM gauge summed over the service's pods."""
    target: float = 4
    """Per-replica value above which KEDA adds replicas."""


@dataclass(frozen=True)
class LlmdModelServiceArgs:
    """One llm-d model service (see the module docstring for a call)."""

    platform: LlmdPlatform
    """Shared gateway, charts and images (``ServingLayer.llmd``). Required."""
    service: str
    """Service name (DNS label): release names, pool name, route path ``/<service>``. Required."""
    namespace: pulumi.Input[str]
    """Namespace: the gateway's (``platform.gateway_namespace``); pass the platform namespace Output so the
    releases wait for its creation. Required."""
    served_name: str
    """OpenAI ``model`` name of the base model (vLLM ``--served-model-name``, metrics ``model_name``).
    Required."""
    server: VllmServerPod
    """The decode model-server pod (engine arguments with ``--model MODEL_DIR`` and ``--port vllm_port(...)``,
    env, model, placement, companions); see ``vllm_pod``. Required."""
    replicas: int = 1
    """Decode replicas (initial count when ``scaling`` is set). Default: 1."""
    tensor_parallel: int = 1
    """Tensor-parallel size of one decode pod (GPUs per pod for whole-GPU pools). Default: 1."""
    prefill_replicas: int = 0
    """Prefill pods for prefill/decode disaggregation. Default: 0 (prefill stays in the decode pods)."""
    prefill_vllm_args: Sequence[str] = ()
    """vLLM arguments of prefill pods (``--port SERVICE_PORT``, KV transfer config); required when
    ``prefill_replicas`` > 0. Default: none."""
    routing_proxy: bool = True
    """Run the llm-d routing sidecar in decode pods (needed for P/D). Default: true."""
    connector: str = "nixlv2"
    """KV connector of the routing sidecar for P/D. Default: nixlv2."""
    scaling: LlmdScaling | None = None
    """KEDA scaling of the decode Deployment. Default: None (``replicas`` fixed)."""
    image_pull_secrets: Sequence[str] = ()
    """Pull secrets for the images, in addition to ``platform.image_pull_secrets``. Default: none."""
    pool: GpuPoolRef | None = None
    """The GPU pool the decode pods run on: tensor (x pipeline) parallelism must lay out on its
    nodes, and ``server.placement`` must ask for what the pool offers, the way ``placement_for``
    places a pod on it. Default: None (not checked against a pool)."""

    @property
    def pod(self) -> VllmServerPod:
        """The server pod, with the platform's storage initializer when the model needs one."""
        if self.server.model.scheme == "s3" and self.server.model.downloader is None:
            return replace(self.server, model=replace(self.server.model, downloader=self.platform.storage_initializer_image))
        return self.server

    @property
    def pull_secrets(self) -> list[str]:
        """Platform and service pull secrets, each once."""
        return list(dict.fromkeys([*self.platform.image_pull_secrets, *self.image_pull_secrets]))

    def problems(self) -> list[tuple[str, str]]:
        """Everything wrong with these args, as ``(path, reason)`` relative to them (empty when fine)."""
        out = [("service", p) for p in service_name_problems(self.service, "llm-d", "Standard")]
        out += [("server.model", p) for p in self.pod.model.problems()]
        if self.prefill_replicas and not self.routing_proxy:
            out.append(("routingProxy", "prefill/decode disaggregation needs the routing sidecar (routing_proxy=True)"))
        if self.prefill_replicas and not self.prefill_vllm_args:
            out.append(("prefillVllmArgs", "prefill_replicas > 0 needs prefill_vllm_args"))
        if self.server.port != vllm_port("decode", self.routing_proxy):
            out.append(("server.port", f"server.port must be {vllm_port('decode', self.routing_proxy)} (the pool and routing "
                                       f"sidecar expect it), got {self.server.port}"))
        # Behind the tenant gate vLLM listens on 127.0.0.1:engine_port; the gate takes the pool's port.
        out += [("server.args", p) for p in check_vllm_args(self.server.args, served_name=self.served_name,
                                                            port=self.server.vllm_port, tensor_parallel=self.tensor_parallel)]
        if self.pool is not None:
            pipeline = _flag_value(self.server.args, "--pipeline-parallel-size")
            layout = layout_problem(self.tensor_parallel, int(pipeline[0]) if pipeline else 1, self.pool.name,
                                    self.pool.gpus_per_node)
            if layout is not None:
                out.append(("tensorParallel", layout))
            out += placement_rules(self.server.placement, self.pool, tensor_parallel=self.tensor_parallel,
                                   path="server.placement", tensor_path="tensorParallel")
        if self.prefill_replicas and self.server.engine_port is not None:
            out.append(("prefillReplicas", "prefill/decode disaggregation behind the tenant gate is not supported yet "
                                           "(prefill pods serve on another port than the decode gate)"))
        if self.prefill_replicas:
            out += [("prefillVllmArgs", f"prefill: {p}") for p in check_vllm_args(
                self.prefill_vllm_args, served_name=self.served_name, port=vllm_port("prefill"),
                tensor_parallel=self.tensor_parallel)]
        if self.scaling is not None:
            if self.scaling.min_replicas < 1 or self.scaling.max_replicas < self.scaling.min_replicas:
                out.append(("scaling", f"scaling needs 1 <= min_replicas <= max_replicas, got "
                                       f"{self.scaling.min_replicas}..{self.scaling.max_replicas}"))
        return out


def _role_values(args: LlmdModelServiceArgs, role: str, vllm_args: Sequence[str], replicas: int) -> dict[str, Any]:
    pod = replace(args.pod, args=tuple(vllm_args), port=vllm_port(role, args.routing_proxy))
    vllm = pod.vllm_container("vllm", METRICS_PORT_NAME)
    # The chart builds the model volume itself unless told not to; ours comes from the pod value.
    vllm = {"name": vllm.pop("name"), "image": vllm.pop("image"), "modelCommand": "custom", **vllm,
            "mountModelVolume": False}
    values: dict[str, Any] = {
        "create": True,
        "replicas": replicas,
        "parallelism": {"tensor": args.tensor_parallel},
        "containers": [vllm, *pod.companions(api=True)],
        "volumes": pod.pod_volumes(),
        "initContainers": pod.pod_init_containers(),
        "nodeSelector": dict(pod.placement.node_selector),
        "tolerations": [dict(t) for t in pod.placement.tolerations],
        "resourceClaims": [dict(c) for c in pod.placement.resource_claims],
        "monitoring": {"podmonitor": {"enabled": False}},  # observability owns the scrape config
        "podSecurityContext": pod.pod_security_context(),
    }
    if args.pull_secrets:
        values["imagePullSecrets"] = [{"name": s} for s in args.pull_secrets]
    return values


def modelservice_values(args: LlmdModelServiceArgs) -> dict[str, Any]:
    """Values of the ``llm-d-modelservice`` chart for one service (pure; validated by tests
    against the chart's values.schema.json)."""
    problems = args.problems()
    if problems:
        raise ValueError(f"llm-d model service {args.service!r}: " + "; ".join(f"{p}: {r}" for p, r in problems))
    gpu_resource = next(iter(args.server.placement.resources), "")
    values: dict[str, Any] = {
        "fullnameOverride": args.service,
        "multinode": False,
        # Only the labels: the chart reads modelArtifacts' uri, name and mountPath for its own model
        # volume and vllm command, and every container here brings its own (mountModelVolume: false,
        # modelCommand: custom; the server pod's model volume).
        "modelArtifacts": {"labels": pool_selector_labels(args.service)},
        # The GPU resource is set explicitly from the pool's placement (MIG slice, shared GPU or
        # none with DRA); naming it here keeps the chart from adding nvidia.com/gpu on its own
        # (accelerator.type defaults to nvidia).
        "accelerator": {"dra": False, "resources": {"nvidia": gpu_resource}},
        "routing": {
            "servicePort": SERVICE_PORT,
            "proxy": {
                "enabled": args.routing_proxy,
                "image": args.platform.routing_sidecar_image.ref,
                "imagePullPolicy": "IfNotPresent",
                "targetPort": PROXY_TARGET_PORT,
                "connector": args.connector,
                "zapEncoder": "json",
                "zapLogLevel": "info",
            },
        },
        "decode": _role_values(args, "decode", args.server.args, args.replicas),
        "prefill": (_role_values(args, "prefill", args.prefill_vllm_args, args.prefill_replicas)
                    if args.prefill_replicas else {"create": False}),
    }
    if args.server.service_account:
        values["serviceAccountOverride"] = args.server.service_account
    return values


def router_values(args: LlmdModelServiceArgs) -> dict[str, Any]:
    """Values of the ``llm-d-router-gateway`` chart: the InferencePool over this service's
    model servers and its endpoint picker."""
    p = args.platform
    monitoring: dict[str, Any] = {"prometheus": {"enabled": p.monitoring_release_label is not None}}
    if p.monitoring_release_label is not None:
        monitoring["prometheus"]["extraLabels"] = {"release": p.monitoring_release_label}
        # The chart creates this token Secret; its default name is the same for every release, so
        # a second pool in the namespace would fail on a Secret owned by the first release.
        monitoring["prometheus"]["auth"] = {"enabled": True, "secretName": f"{pool_name(args.service)}-metrics-reader"}
    return {
        # istio: the chart adds the DestinationRule that lets the gateway reach the EPP's TLS port.
        "provider": {"name": router_provider(p.gateway_provider)},
        "router": {
            "modelServers": {
                "type": "vllm",
                "protocol": "http",
                "targetPorts": [{"number": SERVICE_PORT}],
                "matchLabels": pool_selector_labels(args.service),
            },
            "inferencePool": {"create": True, "failureMode": "FailOpen"},
            "epp": {
                "replicas": 1,
                "image": {
                    "registry": p.epp_image.registry,
                    "repository": p.epp_image.repository,
                    "tag": p.epp_image.tag if p.epp_image.digest is None else f"{p.epp_image.tag}@{p.epp_image.digest}",
                    "pullPolicy": "IfNotPresent",
                },
            },
            # No pull secrets: llm-d-router-gateway v0.10.0 has no value for them (see README, known limits).
            "monitoring": monitoring,
        },
    }


def router_provider(gateway_provider: str) -> str:
    """``provider.name`` of the llm-d-router-gateway chart (istio, gke or none) for a gateway implementation."""
    if gateway_provider == "istio":
        return "istio"
    if gateway_provider.startswith("gke-"):
        return "gke"
    return "none"


def pool_name(service: str) -> str:
    """Name of a service's InferencePool (the router release name)."""
    return f"{service}-pool"


def http_route_spec(service: str, platform: LlmdPlatform) -> dict[str, Any]:
    """HTTPRoute ``/<service>/v1/...`` on the inference gateway -> the service's InferencePool,
    with ``/<service>`` stripped so clients use ``http://<gateway>/<service>/v1``.

    Only ``/v1/`` is routed (the pods' gate also lets the endpoint picker read ``/metrics``,
    which must stay in-cluster), and a client's ``x-llm-d-inference-fairness-id`` is removed
    before the endpoint picker sees it: fairness identities come from the gate, never a client."""
    from components.gate.haproxy import FAIRNESS_HEADER

    return {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                        "name": platform.gateway_name, "namespace": platform.gateway_namespace}],
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": f"/{service}/v1/"}}],
            # Generations stream for minutes: no gateway timeout (as llm-d-modelservice's own route).
            "timeouts": {"request": "0s", "backendRequest": "0s"},
            "filters": [{"type": "URLRewrite",
                         "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v1/"}}},
                        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [FAIRNESS_HEADER]}}],
            "backendRefs": [{"group": INFERENCE_POOL_GROUP, "kind": "InferencePool",
                             "name": pool_name(service), "port": SERVICE_PORT}],
        }],
    }


class LlmdModelService(pulumi.ComponentResource):
    """Inference pool + endpoint picker, model servers and the route to them, for one service.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args
    (:meth:`LlmdModelServiceArgs.problems`) before it registers anything."""

    pool_name: str
    """Name of the InferencePool."""
    decode_deployment_name: str
    """Name of the decode Deployment the chart creates (``<service>-decode``)."""
    pod_labels: dict[str, str]
    """Labels of every model-server pod (for PodMonitors)."""
    route_path: str
    """Path prefix of the service on the gateway."""
    releases: list[k8s.helm.v3.Release]
    """The router and modelservice releases."""

    def __init__(self, name: str, args: LlmdModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("LlmdModelService", name, args.problems())
        super().__init__("llmplatform:serving:LlmdModelService", name, None, opts)
        values = modelservice_values(args)
        p = args.platform
        child = pulumi.ResourceOptions(parent=self, depends_on=list(p.ready))
        self.pool_name = pool_name(args.service)
        self.decode_deployment_name = f"{args.service}-decode"
        self.pod_labels = pool_selector_labels(args.service)
        self.route_path = f"/{args.service}/"
        router = helm_release(self.pool_name, p.router_chart, args.namespace, router_values(args), child,
                              create_namespace=False)
        servers = helm_release(f"{args.service}-ms", p.modelservice_chart, args.namespace, values, child,
                               create_namespace=False, timeout_seconds=3600)
        self.releases = [router, servers]
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata={"name": args.service, "namespace": args.namespace,
                      "labels": standard_labels("inference-route", args.service)},
            spec=http_route_spec(args.service, p),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[router, *p.ready]),
        )
        if args.scaling is not None:
            from components.serving.keda import scaled_object
            from components.observability.promql import service_sum

            scaled_object(
                f"{name}-scaler",
                name=self.decode_deployment_name,
                namespace=args.namespace,
                target=self.decode_deployment_name,
                min_replicas=args.scaling.min_replicas,
                max_replicas=args.scaling.max_replicas,
                server_address=p.prometheus_url,
                query=service_sum(args.scaling.metric, p.gateway_namespace, args.served_name),
                threshold=args.scaling.target,
                labels=standard_labels("autoscaler", args.service),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[servers, *p.keda_ready]),
            )
        self.register_outputs({"pool_name": self.pool_name, "decode_deployment_name": self.decode_deployment_name,
                               "route_path": self.route_path})


@dataclass(frozen=True)
class LlmdArgs:
    """The stack's llm-d gateway."""

    namespace: pulumi.Input[str]
    """Namespace of the gateway (and of the model services). Required."""
    namespace_name: str
    """The same namespace as a plain string (the Gateway reference of every HTTPRoute). Required."""
    provider: str
    """Gateway implementation (``istio``, ``agentgateway``, ...). Required."""
    infra_chart: ChartRef
    """``llm-d-infra`` chart. Required."""
    router_chart: ChartRef
    """``llm-d-router-gateway`` chart. Required."""
    modelservice_chart: ChartRef
    """``llm-d-modelservice`` chart. Required."""
    epp_image: ImageRef
    """Endpoint picker image. Required."""
    routing_sidecar_image: ImageRef
    """Routing sidecar image. Required."""
    storage_initializer_image: ImageRef
    """Downloader of s3:// base models. Required."""
    prometheus_url: str
    """Prometheus KEDA queries. Required."""
    monitoring_release_label: str | None = None
    """``release`` label for the charts' ServiceMonitors. Default: None: the charts create no monitors."""
    gateway_name: str = "llm-d-inference-gateway"
    """Name of the Gateway. Default: llm-d-inference-gateway."""
    service_type: str = "ClusterIP"
    """Service type of the gateway's proxy (``LoadBalancer`` to expose it outside the cluster). Default:
    ClusterIP."""
    keda_ready: Sequence[pulumi.Resource] = ()
    """What ScaledObjects of model services wait for (the KEDA release). Default: none."""
    image_pull_secrets: Sequence[str] = ()
    """Pull secrets for every model-server and EPP pod. Default: none."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources the gateway waits for. Default: none."""


def infra_values(args: LlmdArgs) -> dict[str, Any]:
    """Values of the ``llm-d-infra`` chart (validated by tests against its values.schema.json)."""
    return {
        "gateway": {
            "enabled": True,
            "provider": args.provider,
            "fullnameOverride": args.gateway_name,
            "service": {"type": args.service_type},
            "listeners": [{"name": "default", "port": 80, "protocol": "HTTP"}],
            "labels": standard_labels("inference-gateway", args.gateway_name),
        },
        "ingress": {"enabled": False},
    }


def gateway_problems(args: LlmdArgs) -> list[tuple[str, str]]:
    """Everything wrong with ``args`` (paths relative to them), by the rules the stack applies to
    ``serving.llmd``: the gateway implementation and its Service type (the ``LlmdSpec`` field types)."""
    from components.serving.spec import LlmdSpec  # the specs import the models layer, which imports this layer

    return (value_issues(LlmdSpec, "gateway_provider", args.provider, path="provider")
            + value_issues(LlmdSpec, "gateway_service_type", args.service_type, path="serviceType"))


class LlmD(pulumi.ComponentResource):
    """The llm-d inference gateway; ``platform`` is handed to every ``LlmdModelService``.

    Raises ``pulumi.InputPropertiesError`` listing every problem of its args
    (:func:`gateway_problems`) before it registers anything."""

    platform: LlmdPlatform
    """Gateway reference, charts, images and readiness for model services."""
    gateway_name: str
    """Name of the Gateway."""

    def __init__(self, name: str, args: LlmdArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_inputs("LlmD", name, gateway_problems(args))
        super().__init__("llmplatform:serving:LlmD", name, None, opts)
        release = helm_release(f"{name}-infra", args.infra_chart, args.namespace, infra_values(args),
                               pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
                               create_namespace=False)
        self.gateway_name = args.gateway_name
        self.platform = LlmdPlatform(
            gateway_name=args.gateway_name,
            gateway_namespace=args.namespace_name,
            gateway_provider=args.provider,
            router_chart=args.router_chart,
            modelservice_chart=args.modelservice_chart,
            epp_image=args.epp_image,
            routing_sidecar_image=args.routing_sidecar_image,
            prometheus_url=args.prometheus_url,
            monitoring_release_label=args.monitoring_release_label,
            storage_initializer_image=args.storage_initializer_image,
            keda_ready=tuple(args.keda_ready),
            image_pull_secrets=tuple(args.image_pull_secrets),
            ready=(release, *args.depends_on),
        )
        self.register_outputs({"gateway_name": self.gateway_name})
