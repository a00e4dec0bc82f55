"""The system under test for the load engine's integration tests.

A small starlette app run by uvicorn in its own process (``python app.py PORT``)
so that its event loop does not compete with the generator's. Routes cover what
the engine must handle: fast answers, stalls, statuses, error bodies, an auth
flow with expiring tokens, uploads, hot-key writes, and a request log.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

TOKEN_USES = 3  # a token is refused (401) after this many uses, to force refreshes
LOG: list[dict[str, object]] = []
WRITES: Counter[str] = Counter()
TOKENS: dict[str, int] = {}
EVENTS: list[str] = []
UPLOADS: list[dict[str, int]] = []
_ids = itertools.count(1)


async def fast(request: Request) -> Response:
    return PlainTextResponse("ok")


async def echo(request: Request) -> Response:
    body = await request.body()
    entry = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "body": body.decode("utf-8", "replace"),
    }
    LOG.append(entry)
    return JSONResponse(entry)


async def log(request: Request) -> Response:
    entries = list(LOG)
    LOG.clear()
    return JSONResponse(entries)


async def stall(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "0.2")))
    return PlainTextResponse("slow")


async def marked(request: Request) -> Response:
    """A fallback's marks: a header, a JSON field, both or neither (``?via=``)."""
    via = request.query_params.get("via", "")
    headers = {"X-Fallback": "cache"} if "header" in via else {}
    return JSONResponse(
        {"fallback": "cache" if "json" in via else None}, headers=headers
    )


async def status(request: Request) -> Response:
    return PlainTextResponse("status", status_code=int(request.path_params["code"]))


async def locked(request: Request) -> Response:
    return PlainTextResponse("sqlite3.OperationalError: database is locked", 500)


async def register(request: Request) -> Response:
    data = await request.json()
    EVENTS.append(f"register {data['name']}")
    return JSONResponse({"id": next(_ids), "name": data["name"]}, status_code=201)


async def login(request: Request) -> Response:
    data = await request.json()
    token = f"t{next(_ids)}-{data['name']}"
    TOKENS[token] = 0
    EVENTS.append(f"login {data['name']}")
    return JSONResponse({"access_token": token, "refresh_token": f"r-{data['name']}"})


async def refresh(request: Request) -> Response:
    """A new access token for a refresh token from /login."""
    data = await request.json()
    name = str(data.get("refresh_token", "")).removeprefix("r-")
    token = f"t{next(_ids)}-{name}"
    TOKENS[token] = 0
    EVENTS.append(f"refresh {name}")
    return JSONResponse({"access_token": token})


async def me(request: Request) -> Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token not in TOKENS or TOKENS[token] >= TOKEN_USES:
        return PlainTextResponse("expired", status_code=401)
    TOKENS[token] += 1
    return JSONResponse({"token": token})


async def logout(request: Request) -> Response:
    EVENTS.append(f"logout {request.path_params['uid']}")
    return Response(status_code=204)


async def events(request: Request) -> Response:
    return JSONResponse(EVENTS)


async def upload(request: Request) -> Response:
    form = await request.form()
    sizes = {}
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            sizes[key] = len(await value.read())
        else:
            sizes[key] = len(str(value))
    UPLOADS.append(sizes)
    return JSONResponse(sizes)


async def uploads(request: Request) -> Response:
    return JSONResponse(UPLOADS)


async def write(request: Request) -> Response:
    WRITES[request.path_params["key"]] += 1
    return Response(status_code=204)


async def writes(request: Request) -> Response:
    return JSONResponse(dict(WRITES))


app = Starlette(
    routes=[
        Route("/fast", fast),
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/log", log),
        Route("/stall", stall),
        Route("/status/{code:int}", status),
        Route("/marked", marked),
        Route("/locked", locked),
        Route("/register", register, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/refresh", refresh, methods=["POST"]),
        Route("/me", me),
        Route("/logout/{uid}", logout, methods=["POST"]),
        Route("/events", events),
        Route("/upload", upload, methods=["POST"]),
        Route("/uploads", uploads),
        Route("/items/{key}", write, methods=["PUT"]),
        Route("/writes", writes),
    ]
)

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
