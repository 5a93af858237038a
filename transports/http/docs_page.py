"""The OpenAPI document rendered for people: one static HTML page, no script, no CDN.

Every operation with its parameters, request body and responses; every schema with its
fields. Built once per document variant (with or without the dev console).
"""

from __future__ import annotations

from functools import cache
from html import escape
from typing import Any

from transports.http.openapi import openapi_document

__all__ = ["docs_html"]

Spec = dict[str, Any]

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d2330}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}"
    "section.op{border:1px solid #d9dee8;border-radius:.5rem;padding:.2rem 1rem .6rem;"
    "margin:1rem 0}h3{font-size:1.05rem}h4{margin:.8rem 0 .2rem;font-size:.9rem;color:#445}"
    ".m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:.3rem;color:#fff;"
    "font-size:.8rem;padding:.05rem .4rem;margin-right:.4rem}.get{background:#2d7d46}"
    ".post{background:#2d5bd7}.put{background:#a15c00}.delete{background:#b42318}"
    ".auth{font-size:.8rem;color:#667085;margin-left:.5rem}"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{text-align:left;"
    "padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}"
    "code{font-size:.9em;background:#f3f4f7;padding:0 .2rem;border-radius:.2rem}"
    "nav ul{columns:2;font-size:.9rem}"
)


def _resolve(document: Spec, spec: Spec) -> Spec:
    """Follow a local $ref to the component it names."""
    while "$ref" in spec:
        node: Any = document
        for step in spec["$ref"].removeprefix("#/").split("/"):
            node = node[step]
        spec = node
    return spec


def _type(schema: Spec) -> str:
    """Describe a schema in a few words: its $ref name, type, enum, pattern or bounds."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        return " | ".join(_type(part) for part in alternatives)
    kind = schema.get("type", "any")
    text = escape(" | ".join(kind) if isinstance(kind, list) else str(kind))
    if kind == "array" and "items" in schema:
        text = f"array of {_type(schema['items'])}"
    if "enum" in schema:
        text += " one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if "pattern" in schema:
        text += f" <code>{escape(schema['pattern'])}</code>"
    bounds = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("maxProperties", "keys ≤"),
        )
        if key in schema
    ]
    if bounds:
        text += " (" + escape(", ".join(bounds)) + ")"
    return text


def _parameters(document: Spec, operation: Spec) -> str:
    rows = []
    for raw in operation.get("parameters", []):
        parameter = _resolve(document, raw)
        required = "required" if parameter.get("required") else "optional"
        rows.append(
            f"<tr><td><code>{escape(parameter['name'])}</code></td>"
            f"<td>{escape(parameter['in'])}</td><td>{required}</td>"
            f"<td>{_type(parameter.get('schema', {}))}</td>"
            f"<td>{escape(parameter.get('description', ''))}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th></th><th>schema</th>"
        f"<th>meaning</th></tr>{''.join(rows)}</table>"
    )


def _body(document: Spec, operation: Spec) -> str:
    body = operation.get("requestBody")
    if body is None:
        return ""
    required = "required" if body.get("required") else "optional"
    parts = [
        f"<code>{escape(media)}</code>: {_type(content.get('schema', {}))}"
        for media, content in body["content"].items()
    ]
    return f"<h4>Request body ({required})</h4><p>{'; '.join(parts)}</p>"


def _responses(operation: Spec) -> str:
    rows = []
    for status, answer in operation["responses"].items():
        content = answer.get("content", {})
        media = "<br>".join(
            f"<code>{escape(name)}</code> {_type(item.get('schema', {}))}"
            for name, item in content.items()
        )
        headers = ", ".join(f"<code>{escape(name)}</code>" for name in answer.get("headers", {}))
        rows.append(
            f"<tr><td>{escape(status)}</td><td>{escape(answer['description'])}</td>"
            f"<td>{media or '—'}</td><td>{headers}</td></tr>"
        )
    return (
        "<h4>Responses</h4><table><tr><th>status</th><th></th><th>body</th><th>headers</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _anchor(method: str, path: str) -> str:
    return "op-" + method + "-" + "".join(c if c.isalnum() else "-" for c in path)


def _operations(document: Spec) -> tuple[str, str]:
    index, sections = [], []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            anchor = _anchor(method, path)
            auth = "public" if operation.get("security") == [] else "bearer token + context"
            index.append(
                f'<li><a href="#{anchor}"><code>{escape(method.upper())} {escape(path)}</code></a>'
            )
            sections.append(
                f'<section class="op" id="{anchor}"><h3><span class="m {escape(method)}">'
                f"{escape(method.upper())}</span><code>{escape(path)}</code>"
                f'<span class="auth">{auth}</span></h3><p>{escape(operation["summary"])}</p>'
                f"{_parameters(document, operation)}{_body(document, operation)}"
                f"{_responses(operation)}</section>"
            )
    return "".join(index), "".join(sections)


def _schemas(document: Spec) -> str:
    sections = []
    for name, schema in document["components"]["schemas"].items():
        required = set(schema.get("required", []))
        rows = [
            f"<tr><td><code>{escape(field)}</code></td>"
            f"<td>{'required' if field in required else 'optional'}</td>"
            f"<td>{_type(value)}</td></tr>"
            for field, value in schema.get("properties", {}).items()
        ]
        body = (
            f"<table><tr><th>field</th><th></th><th>schema</th></tr>{''.join(rows)}</table>"
            if rows
            else f"<p>{_type(schema)}</p>"
        )
        sections.append(f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>{body}')
    return "".join(sections)


@cache
def docs_html(*, console: bool = True) -> str:
    """Return the page for the document a server in that mode serves, built once."""
    document = openapi_document(console=console)
    info = document["info"]
    title = escape(f"{info['title']} {info['version']}")
    index, operations = _operations(document)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>{escape(info['description'])} The machine-readable description is "
        '<a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Every route but the public '
        "ones takes <code>Authorization: Bearer &lt;JWT&gt;</code>, <code>X-Tenant-Id</code> "
        "and <code>X-Env</code>; errors are <code>application/problem+json</code>.</p>"
        f"<nav><h2>Operations</h2><ul>{index}</ul></nav>{operations}"
        f"<h2>Schemas</h2>{_schemas(document)}</body></html>"
    )
