"""The artifacts block at the end of a master's log, and reading it back (`loadorch k8s collect`).

Each file is gzip-compressed, base64-encoded in 76-character lines (no log pipeline splits those) and
checked by its sha256, so a truncated or mangled log is detected instead of yielding a wrong verdict.
Lines may carry prefixes (e.g. `kubectl logs --timestamps`): only the last field of a line is read.
"""

from __future__ import annotations

import base64
import gzip
import hashlib

BEGIN = "----- BEGIN LOADORCH ARTIFACTS v1 -----"
END = "----- END LOADORCH ARTIFACTS -----"


class FramingError(ValueError):
    pass


def frame(files: dict[str, bytes]) -> str:
    out = [BEGIN]
    for name, data in files.items():
        encoded = base64.b64encode(gzip.compress(data, mtime=0)).decode()
        out.append(f"=file {name} {len(data)} {hashlib.sha256(data).hexdigest()}")
        out += [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
        out.append("=end")
    out.append(END)
    return "\n".join(out) + "\n"


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
    for raw in lines[start + 1 : ends[0]]:
        fields = raw.split()
        if not fields:
            continue
        if "=file" in fields:
            header = fields[fields.index("=file") + 1 :]
            current = []
        elif fields[-1] == "=end" and current is not None:
            name, size, digest = header
            data = gzip.decompress(base64.b64decode("".join(current)))
            if len(data) != int(size) or hashlib.sha256(data).hexdigest() != digest:
                raise FramingError(f"{name} in the artifacts block does not match its checksum")
            if "/" in name or name.startswith("."):
                raise FramingError(f"refusing artifact name {name!r}")
            files[name] = data
            current = None
        elif current is not None:
            current.append(fields[-1])
    return files
