"""A flame graph of weighted stacks as a standalone SVG (pure): one box per function on a path from the
process's outermost call, as wide as the time spent in it, its callees stacked on top.

Bounded whatever the profile: boxes narrower than `MIN_WIDTH_PX` are left out (their time still widens
their caller), stacks deeper than `MAX_ROWS` are cut, and at most `MAX_BOXES` boxes are drawn. Every text
is escaped, and a character XML does not allow (a control character in a frame's name or file, which the
target's own code objects may hold) is replaced, so the file stays well-formed; each box carries a
`<title>` (the tooltip a browser shows) with its seconds and share.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from html import escape

from loadorch.profiling.speedscope import Stacks

WIDTH_PX = 1200
ROW_PX = 16
MIN_WIDTH_PX = 0.5
MAX_ROWS = 64
MAX_BOXES = 5000
CHAR_PX = 6.2  # an 11 px monospace character, about
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not XML 1.0 characters


def _text(text: str) -> str:
    """`text` as an SVG's text or attribute: escaped, and every character XML does not allow replaced."""
    return escape(_NOT_XML.sub("\ufffd", text))


@dataclass
class _Node:
    name: str
    file: str
    seconds: float = 0.0
    children: dict[tuple[str, str], _Node] = field(default_factory=dict)


@dataclass(frozen=True)
class _Box:
    x: float
    row: int
    width: float
    name: str
    file: str
    seconds: float


def _tree(stacks: Stacks) -> _Node:
    root = _Node("all", "")
    for stack, seconds in stacks.weights.items():
        root.seconds += seconds
        node = root
        for frame in stack[:MAX_ROWS]:
            node = node.children.setdefault(frame.function, _Node(frame.name, frame.file))
            node.seconds += seconds
    return root


def _boxes(root: _Node) -> list[_Box]:
    """Breadth first, so that past MAX_BOXES it is the deepest, narrowest calls that are left out."""
    scale = WIDTH_PX / root.seconds if root.seconds > 0 else 0.0
    out: list[_Box] = []
    level = [(root, 0.0)]
    for row in range(MAX_ROWS + 1):
        following: list[tuple[_Node, float]] = []
        for node, x in level:
            width = node.seconds * scale
            if width < MIN_WIDTH_PX or len(out) >= MAX_BOXES:
                continue
            out.append(_Box(x, row, width, node.name, node.file, node.seconds))
            child_x = x
            for child in sorted(node.children.values(), key=lambda c: (c.name, c.file)):
                following.append((child, child_x))
                child_x += child.seconds * scale
        level = following
        if not level:
            break
    return out


def _colour(name: str, file: str) -> str:
    """Warm and stable: the same function has the same colour in every graph."""
    h = zlib.crc32(f"{name}\0{file}".encode())
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 120},{40 + (h >> 16) % 40})"


def render(stacks: Stacks, title: str) -> str:
    """The SVG document (text)."""
    root = _tree(stacks)
    boxes = _boxes(root)
    rows = max((b.row for b in boxes), default=0) + 1
    height = 40 + rows * ROW_PX
    total = root.seconds or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height}" '
        f'viewBox="0 0 {WIDTH_PX} {height}" font-family="monospace" font-size="11" role="img">',
        f"<title>{_text(title)}</title>",
        f'<text x="4" y="16" font-size="13">{_text(title)}</text>',
        f'<text x="4" y="32" fill="#555">{stacks.samples} samples, {root.seconds:.2f} s sampled; '
        f"width: time; a box's callees stand on it</text>",
    ]
    for b in boxes:
        y = height - (b.row + 1) * ROW_PX
        tip = f"{b.name} ({b.file})" if b.file else b.name
        tip += f": {b.seconds:.3f} s, {b.seconds / total:.1%}"
        fill = "#ccc" if b.row == 0 else _colour(b.name, b.file)
        parts.append(
            f'<g><title>{_text(tip)}</title><rect x="{b.x:.2f}" y="{y}" width="{b.width:.2f}" '
            f'height="{ROW_PX - 1}" fill="{fill}"/>{_label(b, y)}</g>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _label(b: _Box, y: int) -> str:
    fits = int((b.width - 4) / CHAR_PX)
    if fits < 3:
        return ""
    text = b.name if len(b.name) <= fits else b.name[: fits - 2] + ".."
    return f'<text x="{b.x + 2:.2f}" y="{y + ROW_PX - 4}">{_text(text)}</text>'


_TAGS = frozenset({"svg", "title", "text", "g", "rect"})
_ATTRIBUTES = frozenset({"xmlns", "width", "height", "viewBox", "font-family", "font-size", "role", "x", "y", "fill"})
_TAG = re.compile(r"<(/?)([^\s/>]*)([^>]*)>")
_ATTRIBUTE = re.compile(r'\s+([^\s=/>]+)="[^"<]*"')


def drawn_here(svg: str) -> bool:
    """Whether an SVG text has only what `render` writes (its elements and attributes, no comment, declaration
    or entity): only such a file is shown inline in report.html, where a script or an event attribute in a file
    put in a run folder (`loadorch report DIR` rebuilds the page from one it did not write) would run."""
    if not svg.lstrip().startswith("<svg") or "<!" in svg or "<?" in svg:
        return False
    for m in _TAG.finditer(svg):
        closing, name, rest = m.groups()
        if name not in _TAGS:
            return False
        rest = rest.removesuffix("/")
        if closing and rest.strip():
            return False
        attributes = _ATTRIBUTE.findall(rest)
        if _ATTRIBUTE.sub("", rest).strip() or not set(attributes) <= _ATTRIBUTES:
            return False
    return True

