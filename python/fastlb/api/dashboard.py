"""`GET /`: the live dashboard, one self-contained HTML page (inline CSS and JavaScript, no
CDN, no external fonts) that polls `GET /api/stats` every second and draws its own charts.

The page is package data, one concern per file, assembled once into one self-contained page:
`static/dashboard.html` (the markup) gets `dashboard.css` as its `<style>`, then the main
script `dashboard.js` (polling, rates, the tables) and each panel's script
(`dashboard_*.js`: charts, VRRP, BGP, MySQL topology, query digests) as `<script>`s of
their own. It is served with a Content-Security-Policy that allows exactly its own inline
`<style>` and `<script>`s (by SHA-256 hash) and fetches to this origin only, so the page can
load nothing from elsewhere. It only reads, so it works unchanged when `api.token` guards the
write endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

_PACKAGE = "fastlb.api"
_PAGE = ("static", "dashboard.html")
_STYLE = "dashboard.css"
_MAIN_SCRIPT = "dashboard.js"
_STYLE_MARK = "<!-- style: dashboard.css, inlined here as a <style> by the server -->"
_PANELS_MARK = "<!-- panels: dashboard_*.js, each inlined here as a <script> of its own -->"
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def page() -> tuple[str, str]:
    """The dashboard's HTML and the Content-Security-Policy that goes with it."""
    static = resources.files(_PACKAGE).joinpath(_PAGE[0])
    html = static.joinpath(_PAGE[1]).read_text("utf-8")
    style = static.joinpath(_STYLE).read_text("utf-8")
    html = html.replace(_STYLE_MARK, f"<style>\n{style}</style>", 1)
    panels = sorted(
        (item for item in static.iterdir() if re.fullmatch(r"dashboard_\w+\.js", item.name)),
        key=lambda item: item.name,
    )
    # The main script first: it defines window.fastlbDashboard, which the panels register with.
    parts = [static.joinpath(_MAIN_SCRIPT), *panels]
    scripts = "".join(f"<script>\n{item.read_text('utf-8')}</script>\n" for item in parts)
    html = html.replace(_PANELS_MARK, scripts.rstrip("\n"), 1)
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for match in _INLINE.finditer(html):
        digest = hashlib.sha256(match.group(2).encode()).digest()
        hashes[match.group(1)].append(f"'sha256-{base64.b64encode(digest).decode()}'")
    scripts = " ".join(hashes["script"]) or "'none'"
    styles = " ".join(hashes["style"]) or "'none'"
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {scripts}",
            f"style-src {styles}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html, policy


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="Live dashboard",
    responses={200: {"description": "The dashboard page (HTML; it polls /api/stats)."}},
)
async def dashboard() -> HTMLResponse:
    """A live view of frontends, servers, states, rates and latencies (HTML page)."""
    html, policy = page()
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
