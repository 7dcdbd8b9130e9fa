"""A browser for tests of the web pages over real HTTP: urllib with a cookie jar, forms posted
as a browser posts them (urlencoded, or multipart for a file), the page's CSRF token read from
its form. Redirects are followed unless ``follow_redirects=False`` (the test then follows them)."""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request

from tests.test_web import Response


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


class Browser:
    def __init__(self, base: str, *, follow_redirects: bool = True, timeout: float = 120):
        self.base = base
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow_redirects:
            handlers.append(_NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def get(self, path: str) -> Response:
        return self._send(urllib.request.Request(self.base + path))

    def get_bytes(self, path: str) -> tuple[int, bytes, dict]:
        with self.opener.open(self.base + path, timeout=self.timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)

    def post(self, path: str, fields: dict) -> Response:
        return self._send(urllib.request.Request(self.base + path, data=urllib.parse.urlencode(fields).encode(),
                                                 method="POST"))

    def post_file(self, path: str, fields: dict, name: str, data: bytes) -> Response:
        boundary = secrets.token_hex(16)
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="roster"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._send(urllib.request.Request(self.base + path, data=body, method="POST",
                                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))

    def csrf(self, path: str) -> str:
        return csrf_of(self.get(path).body)

    def _send(self, req) -> Response:
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return Response(resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers))
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.code, err.read().decode("utf-8", "replace"), dict(err.headers))
