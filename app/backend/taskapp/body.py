"""The request body, read once, whole and bounded, before any view runs.

Servers differ: waitress buffers a chunked body and gives a Content-Length, gunicorn streams it
and raises its own parse errors from `wsgi.input.read()` when the chunk framing is broken. Read
here, every body is either the exact bytes the client sent (at most MAX_BODY_BYTES), or an
ApiError: 413 past the limit (with or without Content-Length), 400 for broken framing or a body
that ends early. Nothing is ever cut silently, and a framing error never reaches a view as a 500.
"""

from __future__ import annotations

import io
from typing import Any

from taskapp.validation import ApiError

READ_STEP = 16 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body too large: the limit is {limit} bytes")


def _read(stream: Any, size: int) -> bytes:
    try:
        return stream.read(size)
    except TimeoutError:
        raise ApiError(408, "the request body was not sent in time") from None
    except (OSError, MemoryError):
        raise ApiError(400, "the request body could not be read") from None
    except Exception as exc:  # gunicorn's InvalidChunkSize, ChunkMissingTerminator, NoMoreData, ...
        raise ApiError(400, f"malformed request body framing ({type(exc).__name__})") from None


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """Read the whole body into memory and leave it in `environ` as a seekable stream with its
    Content-Length, so Flask/Werkzeug see an ordinary request."""
    stream = environ.get("wsgi.input")
    raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if stream is None or (not raw_length and not chunked):
        body = b""
    elif raw_length and not chunked:
        if not raw_length.isdigit():
            raise ApiError(400, "Content-Length must be a non-negative integer")
        length = int(raw_length)
        if length > limit:
            raise _too_large(limit)
        parts: list[bytes] = []
        got = 0
        while got < length:
            piece = _read(stream, min(READ_STEP, length - got))
            if not piece:
                raise ApiError(400, f"the request body ended after {got} of {length} bytes")
            parts.append(piece)
            got += len(piece)
        body = b"".join(parts)
    else:
        parts = []
        got = 0
        while True:
            piece = _read(stream, READ_STEP)
            if not piece:
                break
            got += len(piece)
            if got > limit:
                raise _too_large(limit)
            parts.append(piece)
        body = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = True
    return body
