"""fcgi_client.py: a minimal FastCGI client (responder role) for tests that
must talk to the pool directly, e.g. to hold a request in flight by sending
its body slowly while the pool is being stopped."""
import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7


def _record(rtype, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, req_id, len(content), pad, 0) + content + b"\0" * pad


def _length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def _params(params):
    body = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        body += _length(len(k)) + _length(len(v)) + k + v
    return body


class Request:
    """Opens a connection and sends the request head; the body follows later."""

    def __init__(self, path, params, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.sock.sendall(_record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 0)))
        self.sock.sendall(_record(PARAMS, _params(params)) + _record(PARAMS, b""))

    def send_body(self, data, last=True):
        for i in range(0, len(data), 32768):
            self.sock.sendall(_record(STDIN, data[i:i + 32768]))
        if last:
            self.sock.sendall(_record(STDIN, b""))

    def response(self):
        """Reads to END_REQUEST; returns the STDOUT bytes (b'' if the
        connection closed before the end)."""
        out = b""
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            buf += chunk
            while len(buf) >= 8:
                _, rtype, _, clen, pad, _ = struct.unpack(">BBHHBB", buf[:8])
                if len(buf) < 8 + clen + pad:
                    break
                content = buf[8:8 + clen]
                buf = buf[8 + clen + pad:]
                if rtype == STDOUT:
                    out += content
                elif rtype == END_REQUEST:
                    self.sock.close()
                    return out


def get(path, uri, method="GET", body=b"", extra=None):
    params = {"REQUEST_METHOD": method, "DOCUMENT_URI": uri, "QUERY_STRING": "",
              "CONTENT_LENGTH": str(len(body))}
    params.update(extra or {})
    r = Request(path, params)
    r.send_body(body)
    return r.response()
