"""Pure GPU-layer logic: config names, labels and advertised resources per sharing mode, the
Karpenter/EC2 shapes that depend on the AMI, claim CEL, and chart values."""

from __future__ import annotations

import yaml

from components.gpu.dra import claim_template_spec, dra_values
from components.gpu.karpenter import controller_trust_policy, karpenter_values
from components.gpu.mig import MigStrategy
from components.gpu.node_pool import block_device_mappings, node_overlay_spec, node_pool_spec
from components.gpu.operator import operator_values
from components.gpu.sharing import mig_config_name, node_labels, overlay_capacity, sharing_config
from components.gpu.spec import ClaimTemplateSpec, GpuPoolSpec


def pool(**kw) -> GpuPoolSpec:
    base = {"gpu": "H100-80GB", "instanceFamilies": ["p5"]}
    return GpuPoolSpec.model_validate({**base, **kw})


def test_config_name_is_nvidias_when_the_layout_is_nvidias_else_per_pool():
    assert mig_config_name("p", pool(sharing={"mode": "mig", "layout": {"1g.10gb": 7}})) == "all-1g.10gb"
    assert mig_config_name("p", pool(sharing={"mode": "mig", "layout": {"1g.10gb": 3}})) == "p-mig"
    assert mig_config_name("p", pool(sharing={"mode": "mig", "layout": {"1g.10gb": 3}, "configName": "small"})) == "small"
    assert mig_config_name("p", pool()) is None


def test_single_strategy_needs_no_overlay_mixed_does():
    single = pool(sharing={"mode": "mig", "strategy": "single", "layout": {"1g.10gb": 7}})
    assert overlay_capacity(single) == {} and node_overlay_spec("p", single) is None
    mixed = pool(sharing={"mode": "mig", "layout": {"1g.10gb": 7}}, gpusPerNode=8)
    assert overlay_capacity(mixed) == {"nvidia.com/mig-1g.10gb": "56"}


def test_hybrid_time_slices_mig_slices_in_the_device_plugin_config():
    hybrid = pool(sharing={"mode": "hybrid", "layout": {"1g.10gb": 4, "3g.40gb": 1}, "timeSliced": {"1g.10gb": 3}})
    assert overlay_capacity(hybrid) == {"nvidia.com/mig-1g.10gb": "96", "nvidia.com/mig-3g.40gb": "8"}
    labels = node_labels("hy", hybrid)
    assert labels["nvidia.com/device-plugin.config"] == "hy" and labels["nvidia.com/mig.config"] == "hy-mig"
    config = sharing_config({"hy": hybrid})
    assert config.strategy is MigStrategy.MIXED
    assert config.device_plugin["hy"]["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/mig-1g.10gb", "replicas": 3}]
    assert config.mig_parted["mig-configs"]["hy-mig"][0]["mig-devices"] == {"1g.10gb": 4, "3g.40gb": 1}


def test_no_sharing_no_configmaps():
    config = sharing_config({"p": pool()})
    assert config.mig_parted is None and config.device_plugin == {} and config.strategy is MigStrategy.NONE


def test_bottlerocket_images_go_to_the_data_volume_and_operator_operands_stay_off():
    br = pool(amiAlias="bottlerocket@v1.30.0", rootVolumeGib=500)
    devices = {d["deviceName"]: d["ebs"]["volumeSize"] for d in block_device_mappings(br)}
    assert devices == {"/dev/xvda": "4Gi", "/dev/xvdb": "500Gi"}
    assert node_labels("br", br)["nvidia.com/gpu.deploy.device-plugin"] == "false"
    al = block_device_mappings(pool(rootVolumeGib=500))
    assert [(d["deviceName"], d.get("rootVolume"), d["ebs"]["volumeSize"]) for d in al] == [("/dev/xvda", True, "500Gi")]


def test_node_pool_limit_taint_and_budgets():
    spec = node_pool_spec("p", pool(gpuLimit=16, taint=False, disruption={"budgets": [
        {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h", "reasons": ["Underutilized"]}]}), "p")
    assert spec["limits"] == {"nvidia.com/gpu": "16"}
    assert "taints" not in spec["template"]["spec"]
    assert spec["disruption"]["budgets"] == [{"nodes": "0", "reasons": ["Underutilized"], "schedule": "0 9 * * mon-fri",
                                              "duration": "8h"}]


def test_mig_claim_uses_the_mig_device_class():
    spec = claim_template_spec(ClaimTemplateSpec(count=2, mig_profile="3g.40gb"))
    [request] = spec["spec"]["devices"]["requests"]
    assert request["exactly"]["deviceClassName"] == "mig.nvidia.com" and request["exactly"]["count"] == 2
    assert request["exactly"]["selectors"] == [{"cel": {"expression": "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"}}]
    assert "selectors" not in claim_template_spec(ClaimTemplateSpec())["spec"]["devices"]["requests"][0]["exactly"]


def test_dra_values():
    values = dra_values(driver_root="/run/nvidia/driver", dynamic_mig=True)
    assert values["featureGates"] == {"DynamicMIG": True} and values["nvidiaDriverRoot"] == "/run/nvidia/driver"
    assert "featureGates" not in dra_values(driver_root="/", dynamic_mig=False)


def test_operator_values_without_sharing_leave_mig_manager_and_plugin_config_alone():
    values = operator_values(driver=True, mig_strategy=MigStrategy.NONE, mig_config_map=None, device_plugin_config_map=None,
                             device_plugin_default=None, dcgm_exporter=False, service_monitor=True)
    assert "migManager" not in values and "devicePlugin" not in values
    assert values["dcgmExporter"] == {"enabled": False, "serviceMonitor": {"enabled": False, "honorLabels": True}}
    assert yaml.safe_dump(values).count("defaultRuntime") == 0


def test_karpenter_values_and_trust():
    values = karpenter_values(cluster="c", queue_name=None, node_overlay=False)
    assert "interruptionQueue" not in values["settings"] and "annotations" not in values["serviceAccount"]
    trust = controller_trust_policy("irsa", partition="aws-us-gov", account_id="1", oidc_issuer="https://oidc.example/id/X")
    assert trust["Statement"][0]["Principal"]["Federated"] == "arn:aws-us-gov:iam::1:oidc-provider/oidc.example/id/X"


def test_every_service_asks_for_a_resource_its_pool_advertises():
    """Across the five stacks: what placement puts in a pod is what the pool's nodes advertise
    once the operator configured them (else the pod would stay Pending forever)."""
    from components.gpu.placement import placement_for
    from components.gpu.sharing import advertised
    from infra.config_loading import list_stacks, load_platform_config, read_stack_file

    checked = 0
    for stack in list_stacks():
        cfg = load_platform_config(stack, read_stack_file(stack)[0])
        for name, svc in cfg.serving.services.items():
            pool = cfg.gpu.pools[svc.pool]
            place = placement_for(svc.pool, pool, count=svc.gpu.count, mig_profile=svc.gpu.mig_profile,
                                  dra_claim=svc.gpu.dra_claim)
            offered = advertised(pool)
            for resource, count in place.resources.items():
                assert resource in offered, f"{stack}/{name} asks {resource}; {svc.pool} offers {sorted(offered)}"
                assert int(count) <= offered[resource]
            checked += 1
    assert checked >= 5
