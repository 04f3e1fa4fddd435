"""Data policies: resources holding data users care about are protected from deletion."""

from __future__ import annotations

from components.common.labels import DATA_PROTECTION_ANNOTATION

from .base import resource_policy
from .k8s import meta, object_name

DATA_TYPES = {
    "kubernetes:core/v1:PersistentVolumeClaim": "PersistentVolumeClaim",
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:s3/bucketV2:BucketV2": "S3 bucket",
}


def _protected(args, report):
    kind = DATA_TYPES.get(args.resource_type)
    if kind is None and args.resource_type == "kubernetes:core/v1:Namespace":
        labels = meta(args.props).get("labels") or {}
        annotations = meta(args.props).get("annotations") or {}
        if DATA_PROTECTION_ANNOTATION in annotations or DATA_PROTECTION_ANNOTATION in labels:
            kind = "data namespace"
    if kind is None and args.resource_type == "kubernetes:apps/v1:StatefulSet":
        spec = args.props.get("spec") or {}
        if not spec.get("volumeClaimTemplates"):
            return
        kind = "StatefulSet with volumeClaimTemplates"
        retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        for when in ("whenDeleted", "whenScaled"):
            if retention.get(when) == "Delete":
                report(f"{kind} {object_name(args.props, args.name)} deletes its claims ({when}: Delete); "
                       f"set persistentVolumeClaimRetentionPolicy.{when} to Retain")
    if kind is None:
        return
    if not args.opts.protect:
        report(f"{kind} {object_name(args.props, args.name)} holds data but is not protected; "
               "register it with components.common.protection.protected(opts)")


data_protected = resource_policy(
    "data-resources-protected",
    "PersistentVolumeClaims, StatefulSets with volumeClaimTemplates (which must retain their claims), buckets and "
    "data namespaces carry the protect resource option.",
    _protected,
)

POLICIES = [data_protected]
