"""Cross-field rules of the GPU layer: pure functions returning ``[(dotted.path, message)]``.

Called from ``PlatformConfig._cross_field_rules`` so a stack whose pools the hardware, the GPU
Operator, the DRA driver or Karpenter would refuse fails before anything is registered. Every
message names the field, the bad value and what is allowed.
"""

from __future__ import annotations

import re

from components.common.fields import is_label_value
from components.gpu.catalog import HARDWARE
from components.gpu.mig import INSTANCE_FAMILIES, InstanceFamilyGpu, MigLayoutError, gpu_spec, mig_resource_names, validate_layout
from components.gpu.sharing import (
    DEVICE_PLUGIN_DEPLOY_LABEL,
    GPU_ALLOCATION_LABEL,
    mig_config_name,
    overlay_capacity,
)
from components.gpu.spec import (
    ClaimTemplateSpec,
    DraSharing,
    GpuPoolSpec,
    GpuSpec,
    HybridSharing,
    MigSharing,
    NoSharing,
    TimeSlicingSharing,
)

# Patterns of the Karpenter v1 CRDs (karpenter.sh_nodepools.yaml), checked here so a typo fails
# at `pulumi preview` with a field path instead of at apply time with an API server error.
_DURATION = re.compile(r"^(([0-9]+(s|m|h))+|Never)$")
_GRACE = re.compile(r"^([0-9]+(s|m|h))+$")
_BUDGET_NODES = re.compile(r"^((100|[0-9]{1,2})%|[0-9]+)$")
_BUDGET_DURATION = re.compile(r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$")
_AMI_ALIAS = re.compile(r"^(al2023|bottlerocket)@(latest|v[0-9][0-9a-z.\-]*)$")
_RESERVATION_ID = re.compile(r"^cr-[0-9a-z]+$")
_PRODUCT = re.compile(r"^[a-z0-9][a-z0-9 \-]*$")
_NON_NVIDIA_SHARING = (TimeSlicingSharing, MigSharing, HybridSharing, DraSharing)


def gpu_rules(gpu: GpuSpec, *, cluster_kind: str) -> list[tuple[str, str]]:
    """Every GPU-layer rule over the ``gpu`` section of a stack on a ``cluster_kind`` cluster."""
    issues: list[tuple[str, str]] = []
    for name, pool in gpu.pools.items():
        issues += pool_rules(name, pool, path=f"gpu.pools.{name}")
        issues += node_overlay_rules(name, pool, gpu.karpenter.node_overlay, path="gpu.karpenter.nodeOverlay")
        issues += _controller_needed(name, pool, gpu, cluster_kind)
    if gpu.karpenter.install and gpu.karpenter.crd_chart.version != gpu.karpenter.chart.version:
        issues.append(("gpu.karpenter.crdChart.version",
                       f"{gpu.karpenter.crd_chart.version!r} must equal gpu.karpenter.chart.version "
                       f"({gpu.karpenter.chart.version!r}): the controller expects its own CRDs"))
    issues += _strategy_agreement(gpu)
    issues += _config_name_collisions(gpu)
    issues += _claim_template_rules(gpu)
    return issues


def node_overlay_rules(name: str, pool: GpuPoolSpec, node_overlay: bool, *, path: str) -> list[tuple[str, str]]:
    """A Karpenter pool advertising resources Karpenter cannot see needs its NodeOverlay.
    ``path``: of the switch (``gpu.karpenter.nodeOverlay``, or ``nodeOverlay`` of ``GpuNodePoolArgs``)."""
    if pool.provisioner == "karpenter" and overlay_capacity_or_none(pool) and not node_overlay:
        return [(path, f"pool {name!r} advertises {sorted(overlay_capacity_or_none(pool))}, which Karpenter cannot see "
                       f"without a NodeOverlay: it would never launch a node for those pods; enable nodeOverlay, or use "
                       f"MIG strategy 'single' / renameByDefault false")]
    return []


def pool_rules(name: str, pool: GpuPoolSpec, *, path: str) -> list[tuple[str, str]]:
    """One pool's own rules (sharing vs accelerator, MIG layout, labels; Karpenter instance
    families, AMI, durations) with paths under ``path``: ``gpu.pools.<name>`` from the stack
    rules, ``pool`` from ``GpuNodePool``, which calls this before it creates anything."""
    return _pool_rules(name, pool, path) + _karpenter_pool_rules(name, pool, path)


def _pool_rules(name: str, pool: GpuPoolSpec, path: str | None = None) -> list[tuple[str, str]]:
    path = path or f"gpu.pools.{name}"
    sharing = pool.sharing
    issues = []
    if not is_label_value(name):
        issues.append((path, f"pool name {name!r} must be a valid label value (<= 63 chars of [A-Za-z0-9._-])"))
    if pool.accelerator != "nvidia" and isinstance(sharing, _NON_NVIDIA_SHARING):
        issues.append((f"{path}.sharing.mode", f"{sharing.mode!r} is NVIDIA-only (device plugin, MIG, DRA driver); "
                                               f"accelerator {pool.accelerator!r} pools use 'none'"))
        return issues
    if isinstance(sharing, (MigSharing, HybridSharing)):
        try:
            validate_layout(pool.gpu, dict(sharing.layout))
        except MigLayoutError as exc:
            issues.append((f"{path}.sharing.layout", f"{dict(sharing.layout)} does not fit {pool.gpu!r}: {exc}"))
            return issues
        if isinstance(sharing, MigSharing) and sharing.strategy == "single":
            try:
                mig_resource_names(pool.gpu, dict(sharing.layout), "single", pool.gpus_per_node)
            except MigLayoutError as exc:
                issues.append((f"{path}.sharing.strategy", f"'single' refused for layout {dict(sharing.layout)}: {exc}"))
        name_value = mig_config_name(name, pool)
        if name_value is not None and not is_label_value(name_value):
            issues.append((f"{path}.sharing.configName", f"{name_value!r} must be a valid label value "
                                                         f"(<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)"))
    if isinstance(sharing, HybridSharing):
        extra = sorted(set(sharing.time_sliced) - set(sharing.layout))
        if extra:
            issues.append((f"{path}.sharing.timeSliced", f"profiles {extra} are not in the layout {sorted(sharing.layout)}; "
                                                         f"only slices the node has can be time-sliced"))
    labels = pool.labels
    if isinstance(sharing, DraSharing):
        if labels.get(DEVICE_PLUGIN_DEPLOY_LABEL, "false") != "false":
            issues.append((f"{path}.labels", f"{DEVICE_PLUGIN_DEPLOY_LABEL}={labels[DEVICE_PLUGIN_DEPLOY_LABEL]!r} would run the "
                                             f"device plugin next to the DRA GPU plugin on the same nodes; DRA pools keep it 'false'"))
        if pool.provisioner == "static" and pool.node_selector.get(GPU_ALLOCATION_LABEL) not in (None, "dra"):
            issues.append((f"{path}.nodeSelector", f"{GPU_ALLOCATION_LABEL} must be 'dra' on a DRA pool"))
    else:
        if GPU_ALLOCATION_LABEL in labels or GPU_ALLOCATION_LABEL in pool.node_selector:
            issues.append((f"{path}.labels", f"{GPU_ALLOCATION_LABEL} would start the DRA GPU plugin on a pool whose GPUs the device "
                                             f"plugin advertises ({sharing.mode!r}); both on one node is refused by the DRA driver"))
        if labels.get(DEVICE_PLUGIN_DEPLOY_LABEL) == "false" and not isinstance(sharing, NoSharing):
            issues.append((f"{path}.labels", f"{DEVICE_PLUGIN_DEPLOY_LABEL}='false' disables the device plugin that "
                                             f"{sharing.mode!r} sharing needs"))
    return issues


def _karpenter_pool_rules(name: str, pool: GpuPoolSpec, path: str | None = None) -> list[tuple[str, str]]:
    if pool.provisioner != "karpenter":
        return []
    path = path or f"gpu.pools.{name}"
    issues = []
    if pool.accelerator == "nvidia":
        for i, family in enumerate(pool.instance_families):
            info = INSTANCE_FAMILIES.get(family)
            if info is None:
                issues.append((f"{path}.instanceFamilies[{i}]", f"unknown NVIDIA GPU instance family {family!r}; "
                                                                f"known: {', '.join(INSTANCE_FAMILIES)}"))
                continue
            if not _family_matches_gpu(info, pool.gpu):
                issues.append((f"{path}.instanceFamilies[{i}]", f"{family!r} carries {info.gpu_name} "
                                                                f"({info.gpu_memory_mib} MiB) GPUs, not {pool.gpu!r}"))
    if not _AMI_ALIAS.match(pool.ami_alias):
        issues.append((f"{path}.amiAlias", f"{pool.ami_alias!r} must be 'al2023@<version>' or 'bottlerocket@<version>' "
                                           f"(version 'latest' or e.g. 'v20261101')"))
    elif pool.ami_alias.startswith("bottlerocket@") and not isinstance(pool.sharing, NoSharing):
        issues.append((f"{path}.amiAlias", f"Bottlerocket runs its own NVIDIA device plugin, so the GPU Operator's device plugin "
                                           f"and MIG manager stay off its nodes; {pool.sharing.mode!r} sharing needs al2023"))
    if "reserved" in pool.capacity_types and not (pool.capacity_reservation_ids or pool.capacity_reservation_tags):
        issues.append((f"{path}.capacityTypes", "'reserved' needs capacityReservationIds or capacityReservationTags "
                                                "(Karpenter launches into reservations its EC2NodeClass selects)"))
    for i, rid in enumerate(pool.capacity_reservation_ids):
        if not _RESERVATION_ID.match(rid):
            issues.append((f"{path}.capacityReservationIds[{i}]", f"{rid!r} must look like 'cr-0123456789abcdef0'"))
    if len(set(pool.capacity_types)) != len(pool.capacity_types) or not pool.capacity_types:
        issues.append((f"{path}.capacityTypes", f"{pool.capacity_types} must list spot/on-demand/reserved at most once each, at least one"))
    if not _DURATION.match(pool.expire_after):
        issues.append((f"{path}.expireAfter", f"{pool.expire_after!r} must be a duration like '720h' or 'Never'"))
    if pool.termination_grace_period is not None and not _GRACE.match(pool.termination_grace_period):
        issues.append((f"{path}.terminationGracePeriod", f"{pool.termination_grace_period!r} must be a duration like '24h'"))
    d = pool.disruption
    if not _DURATION.match(d.consolidate_after):
        issues.append((f"{path}.disruption.consolidateAfter", f"{d.consolidate_after!r} must be a duration like '300s' or 'Never'"))
    for i, budget in enumerate(d.budgets):
        bpath = f"{path}.disruption.budgets[{i}]"
        if not _BUDGET_NODES.match(budget.nodes):
            issues.append((f"{bpath}.nodes", f"{budget.nodes!r} must be a node count ('1') or a percentage ('10%')"))
        if (budget.schedule is None) != (budget.duration is None):
            issues.append((f"{bpath}.schedule", "schedule and duration go together (a cron window and its length)"))
        if budget.duration is not None and not _BUDGET_DURATION.match(budget.duration):
            issues.append((f"{bpath}.duration", f"{budget.duration!r} must be hours/minutes like '8h' or '1h30m'"))
    return issues


def overlay_capacity_or_none(pool: GpuPoolSpec) -> dict[str, str]:
    """The pool's NodeOverlay capacity, or empty when its layout is invalid (reported elsewhere)."""
    try:
        return overlay_capacity(pool)
    except MigLayoutError:
        return {}


def _family_matches_gpu(info: InstanceFamilyGpu, gpu: str) -> bool:
    hw = HARDWARE.gpu(gpu)  # model or alias, case-insensitive, as the catalog names it
    return hw is not None and hw.model == info.gpu


def _controller_needed(name: str, pool: GpuPoolSpec, gpu: GpuSpec, cluster_kind: str) -> list[tuple[str, str]]:
    # OpenShift: the operator comes from OLM (openshift.operators), never from gpu.operator.install.
    if cluster_kind in ("render", "openshift") or isinstance(pool.sharing, (NoSharing, DraSharing)) or pool.accelerator != "nvidia":
        return []
    if not gpu.operator.install:
        return [(f"gpu.pools.{name}.sharing.mode",
                 f"{pool.sharing.mode!r} is applied by the NVIDIA GPU Operator (device plugin config, MIG manager); "
                 f"set gpu.operator.install")]
    return []


def _strategy_agreement(gpu: GpuSpec) -> list[tuple[str, str]]:
    strategies: dict[str, str] = {}
    for name, pool in gpu.pools.items():
        if isinstance(pool.sharing, MigSharing):
            strategies[name] = pool.sharing.strategy
        elif isinstance(pool.sharing, HybridSharing):
            strategies[name] = "mixed"
    if len(set(strategies.values())) <= 1:
        return []
    summary = ", ".join(f"{n}={s}" for n, s in sorted(strategies.items()))
    return [(f"gpu.pools.{n}.sharing.strategy",
             f"the GPU Operator's mig.strategy is cluster-wide, so MIG pools must agree ({summary}); use one strategy")
            for n, s in sorted(strategies.items()) if s == "single"]


def _config_name_collisions(gpu: GpuSpec) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, dict]] = {}
    issues = []
    for name, pool in sorted(gpu.pools.items()):
        config = mig_config_name(name, pool)
        if config is None:
            continue
        layout = dict(pool.sharing.layout)  # type: ignore[union-attr]
        if config in seen and seen[config][1] != layout:
            other, other_layout = seen[config]
            issues.append((f"gpu.pools.{name}.sharing.configName",
                           f"mig config {config!r} already names pool {other!r}'s layout {other_layout}; "
                           f"{layout} needs another configName"))
        seen.setdefault(config, (name, layout))
    return issues


def claim_template_rules(name: str, tmpl: ClaimTemplateSpec, *, path: str) -> list[tuple[str, str]]:
    """One claim template on its own: its name (a ResourceClaimTemplate's) and the product it
    matches. The stack calls it per ``gpu.dra.claimTemplates.<name>``, ``DraDriver`` per template."""
    issues = []
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", name):
        issues.append((path, f"{name!r} must be a DNS label (it names a ResourceClaimTemplate)"))
    if tmpl.product is not None and not _PRODUCT.match(tmpl.product):
        issues.append((f"{path}.product", f"{tmpl.product!r} must be lowercase letters, digits, spaces or '-' "
                                          f"(it is matched against productName.lowerAscii())"))
    return issues


def _claim_template_rules(gpu: GpuSpec) -> list[tuple[str, str]]:
    issues = []
    dra_gpus = {pool.gpu for pool in gpu.pools.values() if isinstance(pool.sharing, DraSharing)}
    if gpu.dra.claim_templates and not dra_gpus:
        issues.append(("gpu.dra.claimTemplates", "claim templates need a pool with sharing.mode 'dra' to allocate from"))
    for name, tmpl in gpu.dra.claim_templates.items():
        path = f"gpu.dra.claimTemplates.{name}"
        issues += claim_template_rules(name, tmpl, path=path)
        if tmpl.mig_profile is not None:
            if not gpu.dra.dynamic_mig:
                issues.append((f"{path}.migProfile", "DRA MIG devices are created on demand only with gpu.dra.dynamicMig; "
                                                     "set it or request whole GPUs"))
            owners = []
            for g in sorted(dra_gpus):
                try:
                    if tmpl.mig_profile in gpu_spec(g).profile_names:
                        owners.append(g)
                except MigLayoutError:
                    pass
            if dra_gpus and not owners:
                issues.append((f"{path}.migProfile", f"{tmpl.mig_profile!r} is not a MIG profile of any DRA pool GPU "
                                                     f"({', '.join(sorted(dra_gpus))})"))
    return issues


__all__ = ["claim_template_rules", "gpu_rules", "node_overlay_rules", "pool_rules"]
