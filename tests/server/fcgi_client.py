"""tests/server/fcgi_client.py - a FastCGI client small enough to read, for
tests that talk to the pool without nginx (idle, trickling and refused
connections).

usage: fcgi_client.py get  ADDR PATH          -> prints the status line, exit 0; "closed" exit 3
       fcgi_client.py hold ADDR N SECONDS READY_FILE   N connections that send nothing
       fcgi_client.py trickle ADDR SECONDS    send a request one byte every 0.5 s; prints
                                              "closed after S s" when the server hangs up
       fcgi_client.py raw ADDR KIND           send a malformed stream (KIND: http = an HTTP
                                              request, not FastCGI; badpairs = a name length
                                              running past the params); prints "closed" when
                                              the server hangs up without answering, else the
                                              first bytes it sent
ADDR: unix:/path or host:port
"""
import socket
import struct
import sys
import time


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr[5:])
        return s
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=10)


def record(kind, content, req_id=1):
    return struct.pack("!BBHHBB", 1, kind, req_id, len(content), 0, 0) + content


def pair(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n), len(v)]) + n + v


def request_bytes(path):
    params = b"".join(pair(k, v) for k, v in [
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", path), ("SERVER_PORT", "80"),
        ("HTTP_HOST", "127.0.0.1"), ("CONTENT_LENGTH", "0")])
    return (record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") +
            record(5, b""))


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "get":
        s = connect(addr)
        s.settimeout(10)
        try:
            s.sendall(request_bytes(sys.argv[3]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = read_all(s)
        if len(data) < 8:
            print("closed")
            sys.exit(3)
        body = data[8:8 + struct.unpack("!H", data[4:6])[0]]
        print(body.split(b"\r\n", 1)[0].decode(errors="replace"))
    elif cmd == "raw":
        if sys.argv[3] == "http":
            data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        else:
            data = (record(1, struct.pack("!HB5x", 1, 0)) + record(4, bytes([200, 1]) + b"AB") +
                    record(4, b"") + record(5, b""))
        s = connect(addr)
        s.settimeout(10)
        s.sendall(data)
        out = read_all(s)
        print("closed" if not out else repr(out[:40]))
    elif cmd == "hold":
        socks = [connect(addr) for _ in range(int(sys.argv[3]))]
        open(sys.argv[5], "w").write("connected\n")
        time.sleep(float(sys.argv[4]))
        del socks
    elif cmd == "trickle":
        s = connect(addr)
        start = time.monotonic()
        for b in request_bytes("/"):
            if time.monotonic() - start > float(sys.argv[3]):
                break
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.5)
        print("closed after %.1f s" % (time.monotonic() - start))


main()
