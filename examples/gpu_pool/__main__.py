"""A program of your own that uses only a GPU pool: Karpenter launches p5 nodes whose H100s are
MIG-partitioned into two 3g.40gb slices each, and a NodeOverlay tells Karpenter about the slices.

Nothing of the platform program (``infra/``) is involved. The Kubernetes provider renders every
object to ``renderDir`` (config, default ``out/examples/gpu-pool``), so ``pulumi up`` needs no
cluster; the pool's reference is what a workload component takes to run on it.
"""

import pulumi
import pulumi_kubernetes as k8s

from components.gpu import GpuNodePool, GpuNodePoolArgs, GpuPoolSpec

config = pulumi.Config()
render = k8s.Provider("render", render_yaml_to_directory=config.get("renderDir") or "out/examples/gpu-pool")

pool = GpuNodePool(
    "h100-mig",
    GpuNodePoolArgs(
        pool_name="h100-mig",
        pool=GpuPoolSpec(provisioner="karpenter", gpu="H100-80GB", gpus_per_node=8, instance_families=["p5"],
                         ami_alias="al2023@v20261101", sharing={"mode": "mig", "strategy": "mixed", "layout": {"3g.40gb": 2}}),
        cluster_name="llm-prod",
        node_role="KarpenterNodeRole-llm-prod",
    ),
    opts=pulumi.ResourceOptions(providers=[render]),
)

pulumi.export("nodePoolName", pool.node_pool_name)
pulumi.export("nodeLabels", pool.pool_ref.node_labels)
pulumi.export("offeredResources", pool.pool_ref.offered_resources)
