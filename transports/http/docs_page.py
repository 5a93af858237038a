"""A self-contained HTML page listing the routes of the OpenAPI document (no CDN, no script)."""

from __future__ import annotations

from functools import cache
from html import escape

from transports.http.openapi import openapi_document

__all__ = ["docs_html"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .6rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}code{font-size:.95em}"
)


def _rows() -> list[str]:
    rows = []
    for path, methods in openapi_document()["paths"].items():
        for method, operation in methods.items():
            statuses = ", ".join(operation["responses"])
            public = "public" if operation.get("security") == [] else "bearer"
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td>"
                f"<td><code>{escape(path)}</code></td><td>{escape(operation['summary'])}</td>"
                f"<td>{escape(statuses)}</td><td>{public}</td></tr>"
            )
    return rows


@cache
def docs_html() -> str:
    """Return the page, built once from the document."""
    info = openapi_document()["info"]
    title = escape(f"{info['title']} {info['version']}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>{escape(info['description'])} The full description is "
        '<a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>'
        "<table><thead><tr><th>method</th><th>path</th><th>does</th><th>statuses</th>"
        f"<th>auth</th></tr></thead><tbody>{''.join(_rows())}</tbody></table></body></html>"
    )
