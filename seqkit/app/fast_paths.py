"""The server's ASGI entry: a few hot ``POST`` paths answered straight from ASGI, everything else by the web app.

A ``/predict`` of a small model costs less in the model than FastAPI's per-request machinery (routing,
middleware, dependency solving, body validation, response classes) costs in CPU on top of it (docs/serving.md).
``FastPaths`` reads the body of a hot path's request itself, hands the bytes to that path's handler
(``body -> (status, JSON bytes)``) and sends the answer: the handler validates and answers as the web app's route
for the same path does (that route stays, for the OpenAPI docs and callers of the app itself).
Every other request, and the lifespan, go to the wrapped app unchanged.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Tuple

Handler = Callable[[bytes], Awaitable[Tuple[int, bytes]]]  # a request's body -> (HTTP status, JSON answer)
_JSON_HEADER = (b"content-type", b"application/json")


def route_path(scope: Dict[str, Any]) -> str:
    """The request's path inside the app (less ``root_path`` when the app is mounted under one)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class FastPaths:
    """An ASGI app: ``POST`` to a path of ``handlers`` answered by its handler, any other request by ``app``.

    Args:
        app: the ASGI app that answers everything else (its ``state`` is this app's ``state``).
        handlers: path -> ``async (body bytes) -> (status, JSON bytes)``.
    """

    def __init__(self, app: Any, handlers: Dict[str, Handler]):
        self.app, self.handlers = app, dict(handlers)
        self.state = app.state

    async def __call__(self, scope: Dict[str, Any], receive: Callable, send: Callable) -> None:
        handler = (
            self.handlers.get(route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before its body was read: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        status, answer = await handler(b"".join(chunks))
        headers = [_JSON_HEADER, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
