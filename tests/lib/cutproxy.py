#!/usr/bin/env python3
"""tests/lib/cutproxy.py - a TCP proxy standing for the network path between one
app host and memcached, which a test can cut and heal (standard library only).

usage: cutproxy.py LISTEN_PORT TARGET_PORT PIDFILE

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection to
127.0.0.1:TARGET_PORT, byte for byte, both ways.
  SIGHUP   cut: every open connection is reset on both sides (SO_LINGER 0, so
           the peers get RST, not FIN) and the listening socket is closed, so
           new connections are refused (RST to the SYN), until healed
  SIGUSR2  heal: listen again on the same port
  SIGTERM  exit
The pid file is written once the proxy accepts connections. One line per
event on stderr.
"""
import os
import selectors
import signal
import socket
import struct
import sys
import time

LINGER0 = struct.pack("ii", 1, 0)


def log(msg):
    print("cutproxy %d: %s" % (os.getpid(), msg), file=sys.stderr, flush=True)


class Proxy:
    def __init__(self, listen_port, target_port):
        self.listen_port, self.target_port = listen_port, target_port
        self.sel = selectors.DefaultSelector()
        self.lsock = None
        self.peer = {}      # socket -> the socket it forwards to
        self.pending = {}   # socket -> bytes not yet written to it
        self.cut = False
        self.signals = []
        # wake the select loop on a signal: the handler only queues it
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        for s in (signal.SIGHUP, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
            signal.signal(s, lambda n, f: self.signals.append(n))

    def listen(self):
        for _ in range(100):   # the port was ours a moment ago; retry a bind race briefly
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.listen_port))
            except OSError as e:
                s.close()
                err = e
                time.sleep(0.05)
                continue
            s.listen(128)
            s.setblocking(False)
            self.lsock = s
            self.sel.register(s, selectors.EVENT_READ, "listen")
            return
        raise SystemExit("cutproxy: cannot listen on %d: %s" % (self.listen_port, err))

    def unlisten(self):
        if self.lsock is not None:
            self.sel.unregister(self.lsock)
            self.lsock.close()
            self.lsock = None

    def reset(self, s):
        """Close s with an RST (SO_LINGER 0)."""
        if s not in self.peer:
            return
        del self.peer[s]
        self.pending.pop(s, None)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        except OSError:
            pass
        s.close()

    def close_pair(self, s):
        o = self.peer.get(s)
        self.reset(s)
        if o is not None:
            self.reset(o)

    def accept(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
        except OSError:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            c.close()
            return
        for s in (c, u):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer[c], self.peer[u] = u, c
        self.sel.register(c, selectors.EVENT_READ, "conn")
        self.sel.register(u, selectors.EVENT_READ, "conn")

    def want_write(self, s, on):
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        self.sel.modify(s, ev, "conn")

    def forward(self, s, mask):
        o = self.peer.get(s)
        if o is None:
            return
        if mask & selectors.EVENT_WRITE:
            buf = self.pending.get(s, b"")
            try:
                n = s.send(buf)
            except BlockingIOError:
                n = 0
            except OSError:
                self.close_pair(s)
                return
            buf = buf[n:]
            if buf:
                self.pending[s] = buf
            else:
                self.pending.pop(s, None)
                self.want_write(s, False)
        if mask & selectors.EVENT_READ and s in self.peer:
            if len(self.pending.get(o, b"")) > (1 << 20):
                return   # the other side is not reading: let TCP push back
            try:
                data = s.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                self.close_pair(s)
                return
            if not data:
                self.close_pair(s)
                return
            if o in self.pending:
                self.pending[o] += data
                return
            try:
                n = o.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                self.close_pair(s)
                return
            if n < len(data):
                self.pending[o] = data[n:]
                self.want_write(o, True)

    def on_signal(self, n):
        if n == signal.SIGHUP:
            k = len(self.peer) // 2
            for s in list(self.peer):
                self.reset(s)
            self.unlisten()
            self.cut = True
            log("cut: %d connections reset, new ones refused" % k)
        elif n == signal.SIGUSR2:
            if self.cut:
                self.listen()
                self.cut = False
            log("healed: accepting again")
        else:
            for s in list(self.peer):
                self.reset(s)
            self.unlisten()
            log("exit")
            sys.exit(0)

    def run(self, pidfile):
        self.listen()
        tmp = pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, pidfile)
        log("listening on %d -> %d" % (self.listen_port, self.target_port))
        while True:
            for key, mask in self.sel.select(timeout=1.0):
                if key.data == "wake":
                    try:
                        while self.wake_r.recv(512):
                            pass
                    except BlockingIOError:
                        pass
                elif key.data == "listen":
                    if self.lsock is not None:
                        self.accept()
                elif key.fileobj in self.peer:
                    self.forward(key.fileobj, mask)
            while self.signals:
                self.on_signal(self.signals.pop(0))


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    Proxy(int(sys.argv[1]), int(sys.argv[2])).run(sys.argv[3])


if __name__ == "__main__":
    main()
