"""Topic contracts in the schema registry: each topic's value schema is the subject `<topic>-value`.

The repository is the source of truth: lakehouse/contracts/<topic>.v<N>.schema.json (JSON Schema)
and <topic>.v<N>.avsc (Avro) are a topic's versions, registered in order by every `kappa up` with
the subject's compatibility level (`[registry] compatibility`). Registering is idempotent: a version
the registry already holds is looked up, not registered again.

The platform talks to the registry on its socket in the private state directory; every other client
goes through the gateway (HTTPS, user `registry`), as `kappa schema` prints.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastavro

from kappa.errors import KappaError
from kappa.settings import KappaSettings
from kappa.unix_http import request
from lakehouse.contracts import contracts_dir, versions
from lakehouse.scenarios.base import Event

API = "/apis/ccompat/v7"
MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


def subject(topic: str) -> str:
    return f"{topic}-value"


@dataclass(frozen=True)
class SchemaFile:
    """One version of a topic's contract, as the repository keeps it."""

    topic: str
    version: int
    schema_type: str  # JSON | AVRO
    path: Path

    @property
    def text(self) -> str:
        """The schema as registered: compact JSON, so that whitespace never makes a new version."""
        return json.dumps(json.loads(self.path.read_text()), separators=(",", ":"))


def schema_files(topic: str, directory: Path | None = None) -> list[SchemaFile]:
    """A topic's contract versions (in the contracts directory unless `directory`), oldest first. One
    format per topic."""
    directory = directory or contracts_dir()
    found = [SchemaFile(topic, version, "AVRO" if path.name.endswith(".avsc") else "JSON", path)
             for version, path in versions(topic, directory).items()]
    numbers = [f.version for f in found]
    if numbers != list(range(1, len(found) + 1)):
        raise KappaError(f"topic {topic}'s contract versions in {directory} are {numbers}; they must be 1, 2, ...")
    if len({f.schema_type for f in found}) > 1:
        raise KappaError(f"topic {topic} has contracts in more than one format in {directory}")
    return found


def _fields(schema_type: str, doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, type, definition) of each field: the SQL type a JSON contract gives (`x-sql-type`), the
    Avro type (compact JSON unless a name) of an Avro one."""
    if schema_type == "JSON":
        return [(n, str(p.get("x-sql-type", p.get("type"))), p) for n, p in doc.get("properties", {}).items()]
    return [(f["name"], f["type"] if isinstance(f["type"], str) else json.dumps(f["type"], separators=(",", ":")), f)
            for f in doc.get("fields", [])]


def fields_of(f: SchemaFile) -> list[tuple[str, str, str]]:
    """(name, type, description) of each field of a contract version."""
    return [(name, kind, str(d.get("description" if f.schema_type == "JSON" else "doc", "")))
            for name, kind, d in _fields(f.schema_type, json.loads(f.path.read_text()))]


def describe_fields(schema_type: str, doc: dict[str, Any]) -> dict[str, str]:
    """Each field of a schema, described in a line: its type, and whether it is required (JSON) or
    optional with its default (Avro)."""
    required = set(doc.get("required", []))
    return {name: kind + (", required" if name in required else "")
            + (f", default {json.dumps(d['default'])}" if schema_type == "AVRO" and "default" in d else "")
            for name, kind, d in _fields(schema_type, doc)}


def diff_fields(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """`+ name: ...` added, `- name: ...` removed, `~ name: old -> new` changed, in the new order."""
    lines = [f"+ {n}: {d}" if n not in old else f"~ {n}: {old[n]} -> {d}" for n, d in new.items() if old.get(n) != d]
    return lines + [f"- {n}: {d}" for n, d in old.items() if n not in new]


class RegistryError(KappaError):
    pass


class Registry:
    """The Confluent Schema Registry API of the platform's registry, on its socket."""

    def __init__(self, socket: Path, timeout_s: float = 10) -> None:
        self.socket = socket
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, payload: Any = None, ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        try:
            status, answer = request(self.socket, method, API + path, payload, self.timeout_s, MEDIA_TYPE)
        except OSError as exc:
            raise RegistryError(f"the schema registry is not reachable on {self.socket} ({exc}); "
                                "is the stack up (`kappa up`)?") from None
        if status not in ok:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise RegistryError(f"the schema registry answered {method} {path} with HTTP {status}: {message}")
        return status, answer

    def subjects(self) -> list[str]:
        return sorted(self._call("GET", "/subjects")[1])

    def versions(self, name: str) -> list[int]:
        status, answer = self._call("GET", f"/subjects/{quote(name)}/versions", ok=(200, 404))
        return sorted(answer) if status == 200 else []

    def version(self, name: str, version: int | str = "latest") -> dict[str, Any]:
        """`subject`, `version`, `id`, `schema` and `schemaType` (absent for Avro, the default)."""
        return dict(self._call("GET", f"/subjects/{quote(name)}/versions/{version}")[1])

    def lookup(self, name: str, schema: str, schema_type: str) -> dict[str, Any] | None:
        """The registered version holding exactly this schema, or None."""
        status, answer = self._call("POST", f"/subjects/{quote(name)}", _body(schema, schema_type), ok=(200, 404))
        return dict(answer) if status == 200 else None

    def register(self, name: str, schema: str, schema_type: str) -> int:
        """Registers a new version (the registry checks the subject's compatibility first); its id."""
        return int(self._call("POST", f"/subjects/{quote(name)}/versions", _body(schema, schema_type))[1]["id"])

    def compatibility(self, name: str) -> str | None:
        status, answer = self._call("GET", f"/config/{quote(name)}", ok=(200, 404))
        return str(answer.get("compatibilityLevel") or answer.get("compatibility")) if status == 200 else None

    def set_compatibility(self, name: str, level: str) -> None:
        self._call("PUT", f"/config/{quote(name)}", {"compatibility": level})

    def compatible(self, name: str, schema: str, schema_type: str) -> bool:
        """Whether the schema passes the subject's compatibility level against its latest version."""
        status, answer = self._call("POST", f"/compatibility/subjects/{quote(name)}/versions/latest",
                                    _body(schema, schema_type), ok=(200, 404))
        return status == 404 or bool(answer.get("is_compatible"))

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/schemas/ids/{schema_id}")[1])

    def healthy(self) -> bool:
        try:
            status, answer = request(self.socket, "GET", "/health/ready", timeout=self.timeout_s)
        except OSError:
            return False
        return status == 200 and isinstance(answer, dict) and answer.get("status") == "UP"


def _body(schema: str, schema_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":  # the API's default; Apicurio treats an explicit AVRO alike
        body["schemaType"] = schema_type
    return body


@dataclass(frozen=True)
class Applied:
    topic: str
    registered: list[int]  # the repository's versions registered now (with dry_run: that would be)
    latest_id: int | None  # the subject's latest id (None: nothing registered yet)


def apply_declared(settings: KappaSettings, registry: Registry | None = None, *, topics: list[str] | None = None,
                   dry_run: bool = False) -> list[Applied]:
    """Every declared topic's contract versions registered, in order, with the subject's compatibility
    level; idempotent. A version the level refuses stops here, with the rule named, before it or any
    later version is registered. `dry_run` checks the same without changing anything."""
    registry = registry or Registry(settings.registry_socket)
    level = settings.registry.compatibility
    out = []
    for topic in topics or sorted(settings.pipelines.topics):
        files = schema_files(topic)
        if not files:
            continue
        name = subject(topic)
        if registry.compatibility(name) != level and not dry_run:
            registry.set_compatibility(name, level)
        registered: list[int] = []
        latest: int | None = None
        for f in files:
            found = registry.lookup(name, f.text, f.schema_type)
            if found is not None:
                latest = int(found["id"])
                continue
            if (registered and dry_run) or level == "NONE" or not registry.versions(name):
                pass  # the first version, or (dry run) one after a version not registered yet: nothing to check against
            elif not _compatible(registry, name, f, level):
                raise RegistryError(f"{f.path.name} is not {level}-compatible with subject {name}'s latest "
                                    f"version (rule {level}: {RULES[level]}); nothing was registered")
            registered.append(f.version)
            if not dry_run:
                latest = registry.register(name, f.text, f.schema_type)
        out.append(Applied(topic, registered, latest))
    return out


RULES = {
    "BACKWARD": "readers of the new version must read data written with the latest one: add fields only with a "
                "default, remove only fields that had one, widen types only as the format's promotions allow",
    "BACKWARD_TRANSITIVE": "as BACKWARD, against every earlier version",
    "FORWARD": "readers of the latest version must read data written with the new one",
    "FORWARD_TRANSITIVE": "as FORWARD, against every earlier version",
    "FULL": "both BACKWARD and FORWARD",
    "FULL_TRANSITIVE": "both, against every earlier version",
    "NONE": "no check",
}


def _compatible(registry: Registry, name: str, f: SchemaFile, level: str) -> bool:
    try:
        return registry.compatible(name, f.text, f.schema_type)
    except RegistryError as exc:
        if f.schema_type == "JSON" and "could not determine version" in str(exc):
            raise RegistryError(f"{f.path.name}: the registry checks JSON Schema drafts 4 to 7 only, and this "
                                f"contract declares {json.loads(f.text).get('$schema')}; evolve the topic in Avro, "
                                f"or set [registry] compatibility = \"NONE\" to register it unchecked") from None
        raise


FORMATS = ("json", "avro")


def topic_format(topic: str) -> str:
    """How the topic's records are written: avro when its contract is an Avro schema, else json."""
    files = schema_files(topic)
    return "avro" if files and files[-1].schema_type == "AVRO" else "json"


def in_wire_format(settings: KappaSettings, topic: str, events: Iterable[Event], fmt: str | None = None,
                   registry: Registry | None = None) -> Iterator[Event]:
    """Scenario events as the topic's producers write them. For an Avro topic: each well-formed record
    in the Confluent wire format (magic byte 0, the registry id of the repository's latest version,
    the Avro body); a malformed one as generated (a JSON producer on the Avro topic: quarantined).
    `fmt` json sends the JSON as generated, whatever the topic."""
    fmt = fmt or topic_format(topic)
    if fmt not in FORMATS:
        raise KappaError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json":
        return iter(events)
    files = schema_files(topic)
    if not files or files[-1].schema_type != "AVRO":
        raise KappaError(f"topic {topic}'s contract is not an Avro schema (lakehouse/contracts/{topic}.v<N>.avsc); "
                         "produce it as json")
    latest = files[-1]
    found = (registry or Registry(settings.registry_socket)).lookup(subject(topic), latest.text, "AVRO")
    if found is None:
        raise KappaError(f"{latest.path.name} is not registered as {subject(topic)} yet; run `kappa up`")
    return _avro(events, struct.pack(">bI", 0, int(found["id"])), fastavro.parse_schema(json.loads(latest.text)))


def _avro(events: Iterable[Event], header: bytes, schema: Any) -> Iterator[Event]:
    for event in events:
        if event.record is None:
            yield event
            continue
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema, event.record)
        yield replace(event, value=header + body.getvalue())
