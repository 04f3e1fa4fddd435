"""Each config rule refuses bad input with a message naming the stack, the field and what is allowed."""

from __future__ import annotations

import copy

import pytest

from infra.config_loading import PlatformConfigError, load_platform_config

BASE = {
    "cluster": {"kind": "render"},
    "gpu": {"pools": {
        "ts": {"provisioner": "static", "gpu": "L4", "gpusPerNode": 1, "sharing": {"mode": "time-slicing", "replicas": 4}},
        "mig": {"provisioner": "static", "gpu": "H100-80GB", "sharing": {"mode": "mig", "layout": {"3g.40gb": 2}}},
    }},
    "serving": {"services": {"llama": {"baseModel": "llama", "pool": "mig", "gpu": {"migProfile": "3g.40gb"}}}},
    "models": {
        "baseModels": {"llama": {"architecture": "Llama-3.1-8B", "source": {"kind": "pvc", "claimName": "weights"}}},
        "adapters": [{"name": "sql", "baseModel": "llama", "version": "v1", "sourceDir": "adapters/llama-3.1-8b/sql/v2026-11-01", "rank": 16}],
    },
}


def errors_for(edit) -> list[tuple[str, str]]:
    sections = copy.deepcopy(BASE)
    edit(sections)
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config("dev", sections, "stacks/Pulumi.dev.yaml")
    message = str(info.value)
    assert message.startswith("stack 'dev' (stacks/Pulumi.dev.yaml):"), message
    return [(i.path, i.message) for i in info.value.issues]


def test_base_config_is_valid():
    cfg = load_platform_config("dev", copy.deepcopy(BASE))
    assert cfg.served_name("llama") == "llama"
    assert [a.name for a in cfg.adapters_for("llama")] == ["sql"]


def test_typo_in_key_suggests_the_field():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"engine": {"maxLora": 2}}))
    assert errs[0][0] == "serving.services.llama.engine.maxLora"
    assert "did you mean 'maxLoras'?" in errs[0][1]


def test_unknown_section_suggests_the_section():
    errs = errors_for(lambda s: s.update({"servng": {}}))
    assert errs == [("servng", errs[0][1])]
    assert "did you mean 'serving'?" in errs[0][1]


def test_wrong_type_names_value():
    errs = errors_for(lambda s: s["gpu"]["pools"]["ts"]["sharing"].update({"replicas": "four"}))
    assert errs[0][0] == "gpu.pools.ts.sharing.replicas"
    assert "'four'" in errs[0][1] and "integer" in errs[0][1]


def test_unknown_sharing_mode_lists_allowed_modes():
    errs = errors_for(lambda s: s["gpu"]["pools"]["ts"]["sharing"].update({"mode": "mps"}))
    assert errs[0][0] == "gpu.pools.ts.sharing.mode"
    assert "'time-slicing'" in errs[0][1] and "'mig'" in errs[0][1]


def test_adapter_rank_above_service_max_lora_rank():
    errs = errors_for(lambda s: s["models"]["adapters"][0].update({"rank": 64}))
    assert ("models.adapters[0].rank",
            "rank 64 exceeds serving.services.llama.engine.maxLoraRank (16); vLLM would refuse to load it") in errs


def test_mig_profile_not_in_pool_layout():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"]["gpu"].update({"migProfile": "1g.10gb"}))
    path, msg = errs[0]
    assert path == "serving.services.llama.gpu.migProfile"
    assert "'1g.10gb' is not among them" in msg and "3g.40gb" in msg


def test_mig_profile_on_time_sliced_pool():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"pool": "ts"}))
    assert errs[0][0] == "serving.services.llama.gpu.migProfile"
    assert "time-slicing" in errs[0][1]


def test_two_services_with_same_served_name():
    def edit(s):
        s["serving"]["services"]["llama-b"] = copy.deepcopy(s["serving"]["services"]["llama"])
    errs = errors_for(edit)
    paths = {p for p, _ in errs}
    assert paths == {"serving.services.llama.servedName", "serving.services.llama-b.servedName"}
    assert all("'llama' is used by more than one service" in m for _, m in errs)


def test_knative_mode_with_keda():
    def edit(s):
        s["cluster"] = {"kind": "kubeconfig"}
        s["serving"]["kserve"] = {"mode": "Knative"}
        s["serving"]["keda"] = {"install": True}
    errs = errors_for(edit)
    assert ("serving.keda.install",
            "KServe Knative mode scales with Knative's autoscaler; KEDA applies to Standard mode only") in errs


def test_scale_to_zero_needs_knative():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"replicas": {"min": 0, "max": 2}}))
    assert ("serving.services.llama.replicas.min", "scale to zero (0) needs serving.kserve.mode 'Knative'") in errs


def test_unknown_pool_suggests_close_name():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"pool": "mgi"}))
    assert errs[0][0] == "serving.services.llama.pool"
    assert "did you mean 'mig'?" in errs[0][1]


def test_latest_adapter_version_refused():
    errs = errors_for(lambda s: s["models"]["adapters"][0].update({"version": "latest"}))
    assert errs[0][0] == "models.adapters[0].version"
    assert "moving alias" in errs[0][1]


def test_duplicate_adapter_versions_refused():
    def edit(s):
        s["models"]["adapters"].append(dict(s["models"]["adapters"][0], version="v2"))
    errs = errors_for(edit)
    assert errs[0][0] == "models.adapters[0].name" and "exactly one pinned version" in errs[0][1]


def test_helm_installs_refused_in_render_mode():
    errs = errors_for(lambda s: s["serving"].update({"kserve": {"install": True}}))
    assert errs[0][0] == "serving.kserve.install" and "pulumi-kubernetes#1716" in errs[0][1]


def test_karpenter_pool_needs_eks():
    errs = errors_for(lambda s: s["gpu"]["pools"]["ts"].update({"provisioner": "karpenter", "instanceFamilies": ["g6"]}))
    assert ("gpu.pools.ts.provisioner", "'karpenter' needs cluster.kind 'eks', not 'render'; use 'static'") in errs


def test_eks_needs_region():
    errs = errors_for(lambda s: s.update({"cluster": {"kind": "eks", "name": "c"}}))
    assert ("cluster.region", "required when cluster.kind is 'eks'") in errs


def test_max_cpu_loras_below_max_loras():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"engine": {"maxLoras": 8, "maxCpuLoras": 4}}))
    assert errs == [("serving.services.llama.engine.maxCpuLoras", "must be >= maxLoras (8), vLLM refuses a smaller host cache")]


def test_max_lora_rank_outside_vllm_choices():
    errs = errors_for(lambda s: s["serving"]["services"]["llama"].update({"engine": {"maxLoraRank": 48}}))
    assert errs[0][0] == "serving.services.llama.engine.maxLoraRank"
    assert "64" in errs[0][1] and "48" in errs[0][1]


def test_airgap_needs_registry_and_ca():
    errs = errors_for(lambda s: s.update({"airgap": {"enabled": True}}))
    paths = {p for p, _ in errs}
    assert {"airgap.registry", "airgap.caBundle"} <= paths


def test_hf_model_source_refused():
    errs = errors_for(lambda s: s["models"]["baseModels"]["llama"].update({"source": {"kind": "s3", "uri": "hf://meta/llama"}}))
    assert errs[0][0] == "models.baseModels.llama.source.uri"
    assert "s3://" in errs[0][1]


def test_several_problems_reported_together():
    def edit(s):
        s["models"]["adapters"][0]["rank"] = 64
        s["serving"]["services"]["llama"]["replicas"] = {"min": 0, "max": 1}
    errs = errors_for(edit)
    assert len(errs) == 2


# --- #16: values the cluster, vLLM or Pulumi would refuse, each refused at config time ------

def _set(path, value):
    def edit(s):
        node = s
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize(("path", "value", "field", "says"), [
    (["serving", "namespace"], "LLM", "serving.namespace", "DNS-1123 label"),
    (["storage", "adaptersBucket"], "ab", "storage.adaptersBucket", "S3 bucket name"),
    (["storage", "minio", "cpu"], "0", "storage.minio.cpu", "positive Kubernetes quantity"),
    (["storage", "minio", "storageClass"], "Fast_SSD", "storage.minio.storageClass", "DNS-1123 subdomain"),
    (["observability", "prometheusUrl"], "prom:9090", "observability.prometheusUrl", "http:// or https:// URL"),
    (["observability", "extraAlertLabels"], {"team-name": "x"}, "observability.extraAlertLabels.team-name",
     "Prometheus label name"),
    (["gpu", "pools", "mig", "labels"], {"a b": "x"}, "gpu.pools.mig.labels.a b", "label key name"),
    (["models", "vllmImage"], {"registry": "docker.io", "repository": "vllm/vllm-openai", "tag": "v0.34.0"},
     "models.vllmImage.tag", "not the vLLM version the arguments are checked against; use 'v0.33.0'"),
    (["serving", "services", "llama", "engine", "maxModelLen"], 131073, "serving.services.llama.engine.maxModelLen",
     "exceeds the maximum context of 'llama' (131072 tokens"),
    (["serving", "services", "llama", "gpu", "count"], 17, "serving.services.llama.gpu.count",
     "17 3g.40gb slices per pod exceed the 16 a 'mig' node holds"),
    (["serving", "services", "llama", "engine", "gpuMemoryUtilization"], float("nan"),
     "serving.services.llama.engine.gpuMemoryUtilization", "finite number"),
    (["policy", "overrides"], {"run-as-nonroot": "advisory"}, "policy.overrides.run-as-nonroot",
     "unknown policy; did you mean 'run-as-non-root'?"),
    (["serving", "services", "llama", "servedName"], "meta/llama", "serving.services.llama.servedName", "no '/'"),
])
def test_invalid_values_name_their_field(path, value, field, says):
    errs = errors_for(_set(path, value))
    assert [p for p, _ in errs] == [field], errs
    assert says in errs[0][1], errs


def test_integers_beyond_int64_are_refused_before_validation():
    errs = errors_for(_set(["gpu", "pools", "mig", "gpusPerNode"], 2**63))
    assert errs == [("gpu.pools.mig.gpusPerNode", f"integer {2**63} is outside int64, the range Kubernetes and Pulumi hold")]


def test_service_names_whose_derived_objects_pass_63_characters_are_refused():
    def rename(s):
        s["serving"]["services"]["l" * 54] = s["serving"]["services"].pop("llama")
    errs = errors_for(rename)
    assert errs == [(f"serving.services.{'l' * 54}",
                     f"service name {'l' * 54!r} is too long: KServe's predictor Service {'l' * 54 + '-predictor'!r} would "
                     "have 64 characters, the limit is 63 (shorten it to 53)")]


def test_base_model_keys_must_be_path_segments():
    def rename(s):
        s["models"]["baseModels"]["meta/llama"] = s["models"]["baseModels"].pop("llama")
    errs = errors_for(rename)
    assert [p for p, _ in errs] == ["models.baseModels.meta/llama"] and "object path segment" in errs[0][1]


def test_urls_with_credentials_are_refused_without_echoing_them():
    errs = errors_for(_set(["storage", "minio", "publishEndpoint"], "https://admin:hunter2@minio:9000"))
    assert errs == [("storage.minio.publishEndpoint", "must not embed credentials (user:password@); they would be "
                                                      "stored and shown in plain text (value not shown)")]
