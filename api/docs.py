"""The /redoc page, served with no outside URL at all.

``fastapi_offline`` vendors ReDoc's bundle, but the bundle's side menu renders Redocly's logo from
``https://cdn.redoc.ly`` on every page view (its image is hidden only once that load fails). The API serves
the bundle itself, with that one address pointing at the docs' own icon, so the page loads nothing from
another host and works offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
OUTSIDE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
STATIC = "/static-offline-docs"  # where fastapi_offline mounts its assets (the icon among them)
REDOC_JS = "/redoc/redoc.standalone.js"


@cache
def bundle() -> str:
    """ReDoc's bundle with the logo loaded from the API itself."""
    return BUNDLE.read_text(encoding="utf-8").replace(OUTSIDE_LOGO, f"{STATIC}/favicon.png")


def install(app: FastAPI) -> None:
    """Serves /redoc and its bundle (create ``app`` with ``redoc_url=None``)."""

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{REDOC_JS}",
            with_google_fonts=False,
            redoc_favicon_url=f"{root}{STATIC}/favicon.png",
        )

    @app.get(REDOC_JS, include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
