"""A report as a list of plain blocks, rendered to Markdown and to self-contained HTML.

The same blocks become a W&B Report in :mod:`analysis.report.wandb_report`, so every rendering says
the same thing. Inline markup is a tiny subset shared by all: ``**bold**`` and ``code``.
The HTML embeds every image as a base64 ``data:`` URI and loads nothing from elsewhere.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Heading", "Paragraph", "Bullets", "Table", "FigureBlock", "Details", "render_markdown",
           "render_html"]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple


@dataclass(frozen=True)
class Table:
    columns: tuple
    rows: tuple  # tuples of already formatted strings


@dataclass(frozen=True)
class FigureBlock:
    """A saved figure (``png`` None: not drawn); ``panel`` describes the live W&B panel."""

    png: Path | None
    caption: str
    svg: Path | None = None
    panel: dict | None = None


@dataclass(frozen=True)
class Details:
    """Blocks folded under a one-line summary (HTML ``<details>``; GitHub renders the same
    markup in Markdown)."""

    summary: str
    blocks: tuple


# --------------------------------------------------------------------------- Markdown

def _one_line(text) -> str:
    return " ".join(str(text).split())


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(block: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in block.columns) + " |",
             "|" + "|".join("---" for _ in block.columns) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def render_markdown(blocks: list, *, base: Path) -> str:
    """Markdown text; figure paths are written relative to ``base`` (the report's folder)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_one_line(item)}" for item in block.items) or "- (none)")
        elif isinstance(block, Table):
            parts.append(_md_table(block))
        elif isinstance(block, Details):
            inner = render_markdown(list(block.blocks), base=base).strip()
            parts.append(f"<details><summary>{html.escape(block.summary)}</summary>\n\n{inner}\n\n</details>")
        elif isinstance(block, FigureBlock):
            if block.png is None:
                continue
            text = f"![{block.caption}]({_relative(block.png, base)})\n\n*{block.caption}*"
            if block.svg is not None:
                text += f" ([SVG]({_relative(block.svg, base)}))"
            parts.append(text)
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-style: italic; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0 0.2em; }
""".strip()
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    escaped = html.escape(str(text))
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _html_block(block) -> str:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 6)
        return f"<h{level}>{_inline(block.text)}</h{level}>"
    if isinstance(block, Paragraph):
        return "<p>" + "<br>".join(_inline(line) for line in block.text.split("\n")) + "</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_inline(item)}</li>" for item in block.items) or "<li>(none)</li>"
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_inline(c)}</th>" for c in block.columns)
        body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                       for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Details):
        inner = "\n".join(_html_block(b) for b in block.blocks)
        return f"<details><summary>{_inline(block.summary)}</summary>\n{inner}\n</details>"
    if isinstance(block, FigureBlock):
        if block.png is None:
            return ""
        alt = html.escape(block.caption, quote=True)
        return (f'<figure><img alt="{alt}" src="{_data_uri(block.png)}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_html(blocks: list, *, title: str) -> str:
    """One self-contained HTML page (inline CSS, images as data URIs)."""
    body = "\n".join(_html_block(block) for block in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
