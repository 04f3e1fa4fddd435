"""Config rules of the OpenShift AI target: what OpenShift AI owns is never installed again, the
cluster's CA is used, exposure needs auth, and the section only applies there."""

from __future__ import annotations

import copy

import pytest

from infra.config_loading import PlatformConfigError, load_platform_config, read_stack_file


def openshift_sections() -> dict:
    sections, _ = read_stack_file("openshift")
    return copy.deepcopy(sections)


def errors_for(edit, base=None) -> list[tuple[str, str]]:
    sections = base if base is not None else openshift_sections()
    edit(sections)
    with pytest.raises(PlatformConfigError) as info:
        load_platform_config("openshift", sections, "stacks/Pulumi.openshift.yaml")
    assert str(info.value).startswith("stack 'openshift' (stacks/Pulumi.openshift.yaml):")
    return [(i.path, i.message) for i in info.value.issues]


def test_the_stack_is_valid_and_defaults_apply():
    cfg = load_platform_config("openshift", openshift_sections())
    assert cfg.rhoai.operators == "olm" and cfg.rhoai.gpu_operator.install_plan_approval == "Manual"
    sections = openshift_sections()
    del sections["openshift"]
    assert load_platform_config("openshift", sections).rhoai.operators == "prerequisites"


def test_kserve_knative_and_cert_manager_are_openshift_ais():
    def edit(s):
        s["serving"]["kserve"].update(install=True, mode="Knative", certManager={"install": True})
        s["serving"]["services"]["tsuzumi"]["replicas"] = {"min": 0, "max": 1}
    errs = dict(errors_for(edit))
    assert "OpenShift AI installs and manages KServe" in errs["serving.kserve.install"]
    assert "Standard (RawDeployment) mode only, not 'Knative'" in errs["serving.kserve.mode"]


def test_the_gpu_operator_is_never_a_helm_release_there():
    errs = dict(errors_for(lambda s: s["gpu"]["operator"].update(install=True)))
    assert "comes from OLM" in errs["gpu.operator.install"] and "'olm'" in errs["gpu.operator.install"]


def test_the_file_ca_is_for_other_clusters():
    errs = dict(errors_for(lambda s: s["airgap"].update(caBundle={"file": "stacks/airgap-ca.pem"})))
    assert "'openshift-injected' or 'rhoai'" in errs["airgap.caBundle.source"]
    sections, _ = read_stack_file("airgap")
    errs = dict(errors_for(lambda s: s["airgap"].update(caBundle={"source": "rhoai"}), base=copy.deepcopy(sections)))
    assert errs["airgap.caBundle.source"] == "'rhoai' needs cluster.kind 'openshift'; use 'file' on 'kubeconfig'"


def test_ca_source_fields():
    errs = dict(errors_for(lambda s: s["airgap"].update(caBundle={"source": "rhoai", "file": "x.pem", "configMap": "mine"})))
    assert "only applies to source 'file'" in errs["airgap.caBundle.file"]
    assert "always mounts 'odh-kserve-custom-ca-bundle'" in errs["airgap.caBundle.configMap"]


def test_exposure_needs_auth():
    errs = errors_for(lambda s: s["serving"]["services"]["tsuzumi"].update(auth=False))
    assert errs == [("serving.services.tsuzumi.auth", "openshift.expose publishes every service through a Route; set "
                     "auth: true so the auth proxy checks callers (or openshift.expose: false)")]
    sections = openshift_sections()
    sections["serving"]["services"]["tsuzumi"]["auth"] = False
    sections["openshift"]["expose"] = False
    load_platform_config("openshift", sections)


def test_the_section_only_applies_to_openshift():
    sections, _ = read_stack_file("airgap")
    errs = errors_for(lambda s: s.update(openshift={"operators": "olm"}), base=copy.deepcopy(sections))
    assert errs == [("openshift", "only applies to cluster.kind 'openshift', not 'kubeconfig'; remove the section")]


def test_the_removed_fs_group_knob_is_an_unknown_key():
    sections, _ = read_stack_file("airgap")
    errs = errors_for(lambda s: s["airgap"].update(fsGroup=1000), base=copy.deepcopy(sections))
    assert errs[0][0] == "airgap.fsGroup" and "unknown key" in errs[0][1]


def test_llm_d_frontend_is_not_the_openshift_ai_path():
    errs = dict(errors_for(lambda s: s["serving"]["services"]["tsuzumi"].update(frontend="llm-d")))
    assert "use 'kserve'" in errs["serving.services.tsuzumi.frontend"]
