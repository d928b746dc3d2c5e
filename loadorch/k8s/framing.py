"""The artifacts block at the end of a master's log, and reading it back (`loadorch k8s collect`).

Each file is gzip-compressed, base64-encoded in 76-character lines (no log pipeline splits those) and
checked by its sha256, so a truncated or mangled log is detected instead of yielding a wrong verdict.
Lines may carry prefixes (e.g. `kubectl logs --timestamps`): only the last field of a line is read.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import zlib

BEGIN = "----- BEGIN LOADORCH ARTIFACTS v1 -----"
END = "----- END LOADORCH ARTIFACTS -----"
# kubelet rotates a container's log at 10 MiB by default: the block must stay well below that
MAX_BLOCK = 4 * 1024 * 1024


class FramingError(ValueError):
    pass


def frame(files: dict[str, bytes], limit: int = MAX_BLOCK) -> str:
    """The block for `files`; FramingError when it would exceed `limit` characters (the log could cut it)."""
    out = [BEGIN]
    for name, data in files.items():
        encoded = base64.b64encode(gzip.compress(data, mtime=0)).decode()
        out.append(f"=file {name} {len(data)} {hashlib.sha256(data).hexdigest()}")
        out += [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
        out.append("=end")
    out.append(f"=count {len(files)}")
    out.append(END)
    text = "\n".join(out) + "\n"
    if len(text) > limit:
        raise FramingError(
            f"the artifacts block would be {len(text) / 2**20:.1f} MiB, over the {limit / 2**20:.0f} MiB that a "
            "rotated pod log keeps safely"
        )
    return text


def unframe(text: str) -> dict[str, bytes]:
    """The files of the last complete block in `text` (a pod may have logged an earlier, cut one)."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.rstrip().endswith(BEGIN)]
    if not begins:
        raise FramingError("no loadorch artifacts block in the log: the master did not finish (read its log)")
    start = begins[-1]
    ends = [i for i in range(start, len(lines)) if lines[i].rstrip().endswith(END)]
    if not ends:
        raise FramingError("the artifacts block is cut short: the log is incomplete")
    files: dict[str, bytes] = {}
    current: list[str] | None = None
    header: list[str] = []
    count: int | None = None
    for raw in lines[start + 1 : ends[0]]:
        fields = raw.split()
        if not fields:
            continue
        if "=file" in fields:
            if current is not None:
                raise FramingError(f"{header[0] if header else 'a file'} in the artifacts block is cut short")
            header = fields[fields.index("=file") + 1 :]
            current = []
        elif fields[-1] == "=end" and current is not None:
            files.update([_decode(header, current)])
            current = None
        elif "=count" in fields and current is None:
            count = int(fields[-1]) if fields[-1].isdigit() else -1
        elif current is not None:
            current.append(fields[-1])
    if current is not None:
        raise FramingError(f"{header[0] if header else 'a file'} in the artifacts block is cut short")
    if count is not None and count != len(files):
        raise FramingError(f"the artifacts block lists {count} files but holds {len(files)}: the log is incomplete")
    return files


def _decode(header: list[str], lines: list[str]) -> tuple[str, bytes]:
    if len(header) != 3 or not header[1].isdigit():
        raise FramingError("a file header in the artifacts block is mangled")
    name, size, digest = header
    if "/" in name or name.startswith("."):
        raise FramingError(f"refusing artifact name {name!r}")
    try:
        data = gzip.decompress(base64.b64decode("".join(lines), validate=True))
    except (binascii.Error, zlib.error, EOFError, OSError, ValueError):
        raise FramingError(f"{name} in the artifacts block is cut or mangled") from None
    if len(data) != int(size) or hashlib.sha256(data).hexdigest() != digest:
        raise FramingError(f"{name} in the artifacts block does not match its checksum")
    return name, data
