"""The storage layer: the adapter object store (MinIO in the cluster, or AWS S3), both behind one set of outputs.

The public API of ``components.storage``: its components and their args, which a program builds
from plain values (``from components.storage import ...``). Pure functions stay in their modules.
"""

from components.storage.interface import ObjectStoreOutputs
from components.storage.minio import ObjectStore, ObjectStoreArgs
from components.storage.s3 import S3ObjectStore, S3ObjectStoreArgs

__all__ = [
    "ObjectStore",
    "ObjectStoreArgs",
    "ObjectStoreOutputs",
    "S3ObjectStore",
    "S3ObjectStoreArgs",
]
