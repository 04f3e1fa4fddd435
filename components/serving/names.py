"""Names the serving controllers derive from a model service's name, and the limits they must
meet; the Knative domain every generated URL ends in.

One rule, several callers: the stack applies it to ``serving.services.<name>``, and the service
components (``VllmLoraService``, ``LlmdModelService``) to the name they are given, so a name that
is fine for Pulumi but too long for KServe's predictor Service or an llm-d Helm release is
refused before anything is created.
"""

from __future__ import annotations

import re

from components.common.fields import is_dns_label


def derived_names(service: str, frontend: str, mode: str) -> list[tuple[str, str, int]]:
    """Object names the controllers derive from a service name, with the limit each must meet."""
    if frontend == "llm-d":
        # Helm release names are at most 53; the router chart names its Service <release>-epp.
        return [(f"{service}-pool", "the llm-d router Helm release", 53), (f"{service}-ms", "the llm-d model service Helm release", 53),
                (f"{service}-pool-epp", "the endpoint picker Service", 63)]
    if mode == "Knative":
        return [(f"{service}-predictor-00001", "the first Knative revision of KServe's predictor", 63)]
    return [(f"{service}-predictor", "KServe's predictor Service", 63)]


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


def knative_domain_rules(domain: str, *, path: str) -> list[tuple[str, str]]:
    """Knative's ``config.domain`` must be a DNS domain: every URL it generates ends in it."""
    if not _DOMAIN.match(domain):
        return [(path, f"{domain!r} is not a DNS domain (lowercase labels separated by dots)")]
    return []


def service_name_problems(service: str, frontend: str, mode: str) -> list[str]:
    """Why ``service`` cannot name a model service of ``frontend`` (``kserve``/``llm-d``) in KServe
    ``mode``; empty when it can."""
    if not is_dns_label(service):
        return [f"service name {service!r} must be a DNS label (lowercase letters, digits, '-', max 63)"]
    return [f"service name {service!r} is too long: {what} {derived!r} would have {len(derived)} characters, "
            f"the limit is {limit} (shorten it to {len(service) - len(derived) + limit})"
            for derived, what, limit in derived_names(service, frontend, mode) if len(derived) > limit]
