"""The backup manifest: written last, next to the object; without it a backup does not count.

    <prefix><source>/<backup_id>.dump[.age]        the engine's dump (pg_dump custom format, mysqldump SQL,
                                                   Redis RDB; see `source.kind`), maybe age-encrypted
    <prefix><source>/<backup_id>.manifest.json     this manifest

It never contains a secret: the source identity is host, port and database name only (plus, for a
source looked up on a platform, `via`: e.g. `railway:<project>/<environment>/<service>`).
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Manifest",
    "TableCount",
    "SourceIdentity",
    "ObjectInfo",
    "DumpTool",
    "MANIFEST_FORMAT",
    "object_key",
    "manifest_key",
]

MANIFEST_FORMAT = "blastwall-backup-manifest/1"


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379}


class SourceIdentity(_M):
    name: str  # the configured source name
    kind: str = "postgres"
    host: str | None = None
    port: int | None = None
    database: str | None = None
    system_identifier: str | None = None  # pg_control_system(), when readable
    via: str | None = None  # where the URL was looked up, names only: "railway:<project>/<environment>/<service>"

    @property
    def uri(self) -> str:
        port = self.port or _DEFAULT_PORTS.get(self.kind)
        return f"{self.kind}://{self.host or 'localhost'}" + (f":{port}" if port else "") + f"/{self.database or ''}"


class DumpTool(_M):
    name: str = "pg_dump"
    version: str
    major: int
    format: str = "custom"


class ObjectInfo(_M):
    key: str
    store: str
    location: str
    size: int
    sha256: str  # of the stored bytes (after encryption)
    encrypted: bool = False
    recipients: tuple[str, ...] = ()
    version_id: str | None = None
    lock_mode: str | None = None
    retain_until: datetime | None = None


class TableCount(_M):
    schema_name: str
    name: str
    rows: int

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.name}"


class Manifest(_M):
    format: str = MANIFEST_FORMAT
    backup_id: str
    source: SourceIdentity
    server_version: str
    server_version_num: int
    dump_tool: DumpTool
    started_at: datetime
    finished_at: datetime
    object: ObjectInfo
    tables: tuple[TableCount, ...] = ()
    snapshot: str | None = None  # the exported snapshot the counts and the dump share
    point_in_time: bool = True  # False: a fuzzy copy (e.g. Redis SCAN+DUMP where replication is refused)
    gaps: tuple[str, ...] = ()  # what the dump does not cover consistently (e.g. non-InnoDB tables)

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        return cls.model_validate(json.loads(data))

    def expected_counts(self) -> dict[str, int]:
        return {t.qualified: t.rows for t in self.tables}


def object_key(prefix: str, source: str, backup_id: str, encrypted: bool) -> str:
    return f"{prefix}{source}/{backup_id}.dump" + (".age" if encrypted else "")


def manifest_key(prefix: str, source: str, backup_id: str) -> str:
    return f"{prefix}{source}/{backup_id}.manifest.json"
