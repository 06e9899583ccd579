"""Safe rendering of artifact contents: markdown to sanitised HTML, table artifacts to rows and columns.

Markdown comes from flow code, so it is untrusted: markdown-it-py renders CommonMark with raw HTML turned
off (tables and strikethrough on), then nh3 (ammonia) keeps only an allow-list of tags, attributes and
link schemes — defence in depth should either one let something through.
"""

from __future__ import annotations

import json

import nh3
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"])
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"style"}, "td": {"style"},
               "ol": {"start"}}


def render_markdown(text: str) -> str:
    """Sanitised HTML for a markdown document (safe to mark safe in a template)."""
    html = _MARKDOWN.render(text or "")
    # Headings inside an artifact start at h3 on our pages; h1/h2 are demoted so the page outline holds.
    for level in (2, 1):
        html = html.replace(f"<h{level}>", f"<h{level + 2}>").replace(f"</h{level}>", f"</h{level + 2}>")
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow", filter_style_properties={"text-align"})


def table_rows(data) -> tuple[list[str], list[list]] | None:
    """(columns, rows) of a table artifact — Prefect stores a list of records, a dict of columns or a list
    of lists (JSON text) — or None when the data is none of those."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return None
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        columns = list(data)
        length = max((len(v) for v in data.values()), default=0)
        return columns, [[data[c][i] if i < len(data[c]) else "" for c in columns] for i in range(length)]
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        columns = list(dict.fromkeys(k for r in data for k in r))
        return columns, [[r.get(c, "") for c in columns] for r in data]
    if isinstance(data, list) and all(isinstance(r, list) for r in data):
        width = max((len(r) for r in data), default=0)
        return [str(i + 1) for i in range(width)], [r + [""] * (width - len(r)) for r in data]
    return None
