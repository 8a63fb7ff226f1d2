"""Read an offline W&B run's ``.wandb`` transaction log (for tests): the history keys and
the summary keys it holds, as the W&B server would receive them on ``wandb sync``.

The file is the LevelDB log format W&B uses: a 7-byte header (``:W&B``, a 2-byte magic,
version 0), then 32 KiB blocks of records, each ``crc32c (4) | length (2, LE) | type (1) |
payload``, a payload split over blocks as FIRST / MIDDLE / LAST pieces; each whole payload
is a ``wandb_internal_pb2.Record`` protobuf.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

HEADER, BLOCK = 7, 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path) -> list:
    data = Path(path).read_bytes()[HEADER:]
    out, pending, pos = [], b"", 0
    while pos + 7 <= len(data):
        left = BLOCK - (pos + HEADER) % BLOCK
        if left < 7:  # the block's tail is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        payload = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending + payload)
            out.append(record)
            pending = b""
        elif kind in (FIRST, MIDDLE):
            pending += payload
        else:
            break  # zero padding at the end of a file being written
    return out


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def history_and_summary_keys(path) -> tuple[set, set]:
    history, summary = set(), set()
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history |= {_key(item) for item in record.history.item}
        elif kind == "summary":
            summary |= {_key(item) for item in record.summary.update}
    return history, summary
