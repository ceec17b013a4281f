"""Drives examples/http_server with Python's http.client: one kept-alive connection for GET,
HEAD, a static file, a Content-Length body, a chunked body, 404, 405 and the escape attempts,
then "Connection: close". Usage: http_client.py PORT. Prints "ok" and exits 0, or fails with
the assertion that did not hold."""
import http.client
import sys


def main(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(method, path, body=None, headers=None, **kwargs):
        conn.request(method, path, body=body, headers=headers or {}, **kwargs)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()

    status, headers, body = request("GET", "/")
    assert (status, body) == (200, b"Hello, world!\n"), (status, body)
    fields = {name.lower(): value for name, value in headers}
    assert fields["content-length"] == "14" and fields["content-type"] == "text/plain", fields
    assert "date" in fields and "connection" not in fields, fields
    first_socket = conn.sock

    status, headers, body = request("HEAD", "/")
    assert (status, body) == (200, b""), (status, body)
    assert dict((n.lower(), v) for n, v in headers)["content-length"] == "14"

    status, headers, body = request("GET", "/static/hello.txt")
    assert (status, body) == (200, b"hello from a file\n"), (status, body)
    assert dict((n.lower(), v) for n, v in headers)["content-type"].startswith("text/plain")

    payload = bytes(range(256)) * 1000  # 256000 bytes, every byte value
    status, _, body = request("POST", "/echo", body=payload)
    assert status == 200 and body == payload, (status, len(body))

    def chunks():
        for i in range(50):
            yield b"chunk %d;" % i

    status, _, body = request("POST", "/echo", body=chunks(), encode_chunked=True)
    expected = b"".join(b"chunk %d;" % i for i in range(50))
    assert status == 200 and body == expected, (status, body)

    for path in ("/nothing", "/static/missing.txt", "/static/../secret.txt",
                 "/static/%2e%2e/secret.txt", "/static/sub/../../secret.txt",
                 "/static/link-out.txt", "/static/"):
        status, _, body = request("GET", path)
        assert status == 404 and b"secret" not in body, (path, status, body)

    status, headers, _ = request("DELETE", "/")
    assert status == 405, status
    assert dict((n.lower(), v) for n, v in headers)["allow"] == "GET, HEAD"
    status, headers, _ = request("GET", "/echo")
    assert status == 405 and dict((n.lower(), v) for n, v in headers)["allow"] == "POST"

    # Every request so far went over the first connection (keep-alive).
    assert conn.sock is first_socket

    status, headers, body = request("GET", "/", headers={"Connection": "close"})
    assert (status, body) == (200, b"Hello, world!\n")
    assert dict((n.lower(), v) for n, v in headers)["connection"] == "close"
    conn.close()
    print("ok")


if __name__ == "__main__":
    main(int(sys.argv[1]))
