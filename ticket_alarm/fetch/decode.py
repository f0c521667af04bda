"""Bodies: gzip/deflate decompressed while streaming and capped at ``http.max_response_bytes`` (a gzip
bomb never expands in memory), a corrupt body named as such; text decoded the way Korean sites write it."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ticket_alarm.errors import FetchError
from ticket_alarm.i18n import t


def decode_text(content: bytes | bytearray | str) -> str:
    """UTF-8 (BOM tolerated), falling back to CP949 (older Korean pages), then UTF-8 with replacement.

    Text passes through unchanged, so pure parsers can accept ``bytes | str`` with one call.
    """
    if isinstance(content, str):
        return content
    content = bytes(content)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return content.decode("cp949")
        except UnicodeDecodeError:
            return content.decode("utf-8", errors="replace")


async def read_capped(site: str, public_url: str, resp: httpx.Response, limit: int) -> bytes:
    """The body of ``resp`` decompressed, or a FetchError when it declares or grows past ``limit``
    bytes, or does not decompress."""

    def refused(reason: str, hint: str) -> FetchError:
        return FetchError(site, reason, url=public_url, status=resp.status_code, hint=t(hint))

    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise refused(t("http.declared_too_large", size=int(declared), limit=limit), "http.hint.too_large")
    # a response built in memory (MockTransport) arrives read and decoded already: no decoding here
    encoding = "" if resp.is_stream_consumed else resp.headers.get("content-encoding", "")
    decoder = _Decoder(encoding, limit)
    chunks: list[bytes] = []
    size = 0

    async def decoded() -> AsyncIterator[bytes]:
        async for raw in _raw_chunks(resp):
            for chunk in decoder.feed(raw):
                yield chunk
        for chunk in decoder.flush():
            yield chunk

    try:
        async for chunk in decoded():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
    except _TooLarge:
        decompressed = decoder.encoding and t("http.decompressed")
        raise refused(
            t("http.too_large", limit=limit, decompressed=decompressed), "http.hint.too_large"
        ) from None
    except zlib.error as exc:
        reason = t("http.corrupt", encoding=decoder.encoding, url=public_url, error=exc)
        raise refused(reason, "http.hint.corrupt") from None
    return b"".join(chunks)


class _TooLarge(Exception):
    pass


async def _raw_chunks(resp: httpx.Response) -> AsyncIterator[bytes]:
    """The body as sent (still compressed). A response built in memory (MockTransport) has been
    read and decoded by httpx already: its bytes are at hand."""
    if resp.is_stream_consumed:
        yield resp.content
        return
    async for raw in resp.aiter_raw():
        yield raw


class _Decoder:
    """Streaming gzip/deflate decompression that never produces more than ``limit`` + 1 bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise zlib.error(f"unsupported Content-Encoding {content_encoding!r}")
        self.encoding = codings[0] if codings else ""
        self.limit = limit
        self._zlib: Any = None
        self._first = True
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def feed(self, data: bytes) -> list[bytes]:
        if self._zlib is None:
            return [data]
        if self._first and self.encoding == "deflate":
            self._first = False
            try:  # "deflate" is zlib-wrapped by the RFC, raw deflate by some servers
                return self._drain(data)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._drain(data)

    def _drain(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        produced = 0
        while data:
            chunk = self._zlib.decompress(data, self.limit + 1 - produced)
            produced += len(chunk)
            out.append(chunk)
            if produced > self.limit:
                raise _TooLarge
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                break
        return out

    def flush(self) -> list[bytes]:
        if self._zlib is None:
            return []
        if not self._zlib.eof and self.encoding in ("gzip", "x-gzip"):
            raise zlib.error(t("http.truncated_stream"))
        return [self._zlib.flush()]
