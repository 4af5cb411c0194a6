"""Read the records of an offline W&B run file (``run-<id>.wandb``), to test what was logged.

The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of chunks (crc32, length,
type: full / first / middle / last), each record a ``wandb_internal_pb2.Record`` protobuf.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, found, pending = HEADER, [], b""
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        _, length, kind = struct.unpack("<IHB", data[position:position + HEADER])
        if left < HEADER or (kind == 0 and length == 0):
            position += left
            continue
        chunk = data[position + HEADER:position + HEADER + length]
        position += HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def run_summary(path: Path) -> dict:
    """The run's group, job type, name, tags, config (key -> value) and last summary values."""
    run, config, summary = None, {}, {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run" and run is None:
            run = record.run
            config.update({item.key: json.loads(item.value_json) for item in run.config.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            summary.update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.summary.update})
    return {"group": run.run_group, "job_type": run.job_type, "name": run.display_name,
            "tags": list(run.tags), "config": config, "summary": summary}


def logged_artifacts(path: Path) -> list[dict]:
    """The artifacts a run logged: name, type, content digest, aliases."""
    return [{"name": r.artifact.name, "type": r.artifact.type, "digest": r.artifact.digest,
             "aliases": list(r.artifact.aliases)}
            for r in records(path) if r.WhichOneof("record_type") == "artifact"]
