#!/usr/bin/env python3
"""A test client for the desktop WebSocket of trellis-web.

It speaks TLS, the WebSocket handshake and framing (RFC 6455) and the RFB
client side by hand, with the standard library only, so a test can control
how bytes are split across writes:

  desktop_ws.py upgrade --port P --ca CERT --path PATH [--cookie C]
        [--origin O] [--no-key] [--protocol binary]
      Sends one upgrade request and prints status=CODE.

  desktop_ws.py rfb --port P --ca CERT --path PATH --cookie C --origin O
        [--click X,Y] [--type TEXT] [--pointer-burst N] [--byte-frames]
        [--ready-file F] [--wait-close SECONDS] [--pipeline]
        [--stream SECONDS | --latency PRESSES]
      Opens the desktop. With --pipeline, the client's RFB version goes
      in the same write as the upgrade request. Then it sends N pointer
      events as N frames in one write, a click, and the text as key
      events (each frame byte by byte with --byte-frames). With --wait-close it reads until the server
      closes and prints close_code and close_reason. --stream and
      --latency measure instead, for bench/desktop_stream_bench.sh.

Output is key=value lines. Exit status: 0 done, 1 failed.
"""
import argparse
import base64
import os
import socket
import ssl
import struct
import sys
import time

XK_RETURN = 0xFF0D


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


def connect(args):
    context = ssl.create_default_context(cafile=args.ca)
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=20)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(raw, server_hostname=args.host)


def upgrade_request(args, key=True):
    lines = [
        f"GET {args.path} HTTP/1.1",
        f"Host: localhost:{args.port}",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
    ]
    if key:
        lines.append("Sec-WebSocket-Key: " +
                     base64.b64encode(os.urandom(16)).decode())
    if args.origin:
        lines.append(f"Origin: {args.origin}")
    if args.cookie:
        lines.append(f"Cookie: trellis_session={args.cookie}")
    if args.protocol:
        lines.append(f"Sec-WebSocket-Protocol: {args.protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest


def frame(payload, opcode=2):
    """A masked client frame (clients must mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class Reader:
    """Reassembles RFB bytes from the server's binary messages."""

    def __init__(self, sock, initial):
        self.sock = sock
        self.raw = bytearray(initial)
        self.raw_pos = 0
        self.data = bytearray()
        self.data_pos = 0
        self.wire_bytes = len(initial)

    def _fill_raw(self, n):
        while len(self.raw) - self.raw_pos < n:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise Closed(1006, "connection closed without a close frame")
            self.wire_bytes += len(chunk)
            if self.raw_pos > 1 << 20:
                del self.raw[:self.raw_pos]
                self.raw_pos = 0
            self.raw += chunk

    def next_frame(self):
        self._fill_raw(2)
        p = self.raw_pos
        opcode = self.raw[p] & 0x0F
        length = self.raw[p + 1] & 0x7F
        offset = 2
        if length == 126:
            self._fill_raw(4)
            length = struct.unpack_from("!H", self.raw, p + 2)[0]
            offset = 4
        elif length == 127:
            self._fill_raw(10)
            length = struct.unpack_from("!Q", self.raw, p + 2)[0]
            offset = 10
        self._fill_raw(offset + length)
        payload = bytes(self.raw[p + offset:p + offset + length])
        self.raw_pos = p + offset + length
        if opcode == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            raise Closed(code, payload[2:].decode(errors="replace"))
        return opcode, payload

    def read(self, n):
        while len(self.data) - self.data_pos < n:
            opcode, payload = self.next_frame()
            if opcode == 2:
                if self.data_pos > 1 << 20:
                    del self.data[:self.data_pos]
                    self.data_pos = 0
                self.data += payload
        out = bytes(self.data[self.data_pos:self.data_pos + n])
        self.data_pos += n
        return out


def rfb_handshake(sock, reader, reply_version=False):
    version = reader.read(12)
    if reply_version:
        sock.sendall(frame(b"RFB 003.008\n"))
    if not version.startswith(b"RFB "):
        raise RuntimeError(f"not an RFB server: {version!r}")
    count = reader.read(1)[0]
    if count == 0:
        length = struct.unpack("!I", reader.read(4))[0]
        raise RuntimeError(reader.read(length).decode(errors="replace"))
    types = reader.read(count)
    if 1 not in types:
        raise RuntimeError(f"no None security type offered: {list(types)}")
    sock.sendall(frame(b"\x01"))
    result = struct.unpack("!I", reader.read(4))[0]
    if result != 0:
        raise RuntimeError(f"security result {result}")
    sock.sendall(frame(b"\x01"))  # ClientInit, shared
    width, height = struct.unpack("!HH", reader.read(4))
    reader.read(16)  # pixel format
    name_length = struct.unpack("!I", reader.read(4))[0]
    name = reader.read(name_length).decode(errors="replace")
    return version.decode().strip(), width, height, name


def pointer(x, y, buttons=0):
    return struct.pack("!BBHH", 5, buttons, x, y)


def key(keysym, down):
    return struct.pack("!BBHI", 4, 1 if down else 0, 0, keysym)


def keysym_of(char):
    return XK_RETURN if char == "\n" else ord(char)


def send_frames(sock, frames, byte_by_byte):
    for data in frames:
        if not byte_by_byte:
            sock.sendall(data)
            continue
        for i in range(len(data)):
            sock.sendall(data[i:i + 1])
            time.sleep(0.001)


def set_raw_32bpp(sock):
    """Asks for 32-bit true colour in Raw encoding only."""
    pixel_format = struct.pack("!BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255,
                               16, 8, 0)
    sock.sendall(frame(b"\x00\x00\x00\x00" + pixel_format))
    sock.sendall(frame(struct.pack("!BBHi", 2, 0, 1, 0)))


def update_request(sock, width, height, incremental):
    sock.sendall(frame(struct.pack("!BBHHHH", 3, 1 if incremental else 0,
                                   0, 0, width, height)))


def read_message(reader):
    """Reads one server message. Returns (type, rectangle count)."""
    message_type = reader.read(1)[0]
    if message_type == 0:
        reader.read(1)
        count = struct.unpack("!H", reader.read(2))[0]
        for _ in range(count):
            _, _, w, h, encoding = struct.unpack("!HHHHi", reader.read(12))
            if encoding == 0:
                reader.read(w * h * 4)
        return message_type, count
    if message_type == 1:
        reader.read(3)
        reader.read(6 * struct.unpack("!H", reader.read(2))[0])
    elif message_type == 3:
        reader.read(3)
        reader.read(struct.unpack("!I", reader.read(4))[0])
    elif message_type != 2:
        raise RuntimeError(f"unexpected server message type {message_type}")
    return message_type, 0


def next_update(reader):
    while True:
        message_type, _ = read_message(reader)
        if message_type == 0:
            return


def run_stream(sock, reader, width, height, seconds):
    """Counts framebuffer updates and bytes while the screen changes."""
    set_raw_32bpp(sock)
    update_request(sock, width, height, False)
    next_update(reader)
    start_bytes = reader.wire_bytes
    start = time.monotonic()
    updates = 0
    while time.monotonic() - start < seconds:
        update_request(sock, width, height, True)
        next_update(reader)
        updates += 1
    elapsed = time.monotonic() - start
    print(f"updates_per_s={updates / elapsed:.2f}")
    print(f"bytes_per_s={(reader.wire_bytes - start_bytes) / elapsed:.0f}")


def run_latency(sock, reader, width, height, presses):
    """Times each key press until the update that shows it."""
    set_raw_32bpp(sock)
    update_request(sock, width, height, False)
    next_update(reader)
    samples = []
    for i in range(presses):
        # An incremental request that gets no update within 200 ms
        # means the screen is settled, and that request stays pending, so
        # the next update is the one caused by the key.
        sock.settimeout(0.2)
        while True:
            update_request(sock, width, height, True)
            try:
                next_update(reader)
            except (socket.timeout, TimeoutError):
                break
        sock.settimeout(20)
        char = "abcdefghij"[i % 10]
        start = time.monotonic()
        sock.sendall(frame(key(keysym_of(char), True) +
                           key(keysym_of(char), False)))
        next_update(reader)
        samples.append((time.monotonic() - start) * 1000)
    for _ in range(presses):
        sock.sendall(frame(key(0xFF08, True) + key(0xFF08, False)))
    samples.sort()
    print(f"key_latency_median_ms={samples[len(samples) // 2]:.2f}")
    print(f"key_latency_p90_ms={samples[int(len(samples) * 0.9)]:.2f}")


def run_upgrade(args):
    sock = connect(args)
    sock.sendall(upgrade_request(args, key=not args.no_key))
    status, _ = read_response_head(sock)
    print(f"status={status}")
    sock.close()
    return 0


def run_rfb(args):
    sock = connect(args)
    # With --pipeline the upgrade request and the client's RFB version
    # share one write, so lws finds WebSocket bytes behind the request head.
    if args.pipeline:
        sock.sendall(upgrade_request(args) + frame(b"RFB 003.008\n"))
    else:
        sock.sendall(upgrade_request(args))
    status, rest = read_response_head(sock)
    print(f"status={status}", flush=True)
    if status != 101:
        return 1
    reader = Reader(sock, rest)
    try:
        version, width, height, name = rfb_handshake(
            sock, reader, not args.pipeline)
        print(f"server_version={version}\nwidth={width}\nheight={height}",
              flush=True)

        if args.stream:
            run_stream(sock, reader, width, height, args.stream)
            return 0
        if args.latency:
            if args.click:
                x, y = (int(v) for v in args.click.split(","))
                sock.sendall(frame(pointer(x, y)) + frame(pointer(x, y, 1)) +
                             frame(pointer(x, y)))
            run_latency(sock, reader, width, height, args.latency)
            return 0
        # Many pointer events, one frame each, all in a single write.
        if args.pointer_burst:
            burst = b"".join(
                frame(pointer(10 + i % (width - 20), 10 + i % (height - 20)))
                for i in range(args.pointer_burst))
            sock.sendall(burst)
        if args.click:
            x, y = (int(v) for v in args.click.split(","))
            send_frames(sock, [frame(pointer(x, y)), frame(pointer(x, y, 1)),
                               frame(pointer(x, y))], False)
            time.sleep(0.3)
        if args.type:
            frames = []
            for char in args.type:
                frames.append(frame(key(keysym_of(char), True) +
                                    key(keysym_of(char), False)))
            send_frames(sock, frames, args.byte_frames)
        # A FramebufferUpdateRequest must still be understood after all
        # that: the reply proves the stream stayed in step.
        sock.sendall(frame(struct.pack("!BBHHHH", 3, 0, 0, 0, width, height)))
        message_type = reader.read(1)[0]
        print(f"first_message_type={message_type}", flush=True)
        if args.ready_file:
            with open(args.ready_file, "w") as ready:
                ready.write("ready\n")
        if args.wait_close:
            deadline = time.time() + args.wait_close
            sock.settimeout(args.wait_close)
            while time.time() < deadline:
                reader.next_frame()
            print("close_code=none")
            return 1
    except Closed as closed:
        print(f"close_code={closed.code}\nclose_reason={closed.reason}")
        return 0
    except (socket.timeout, TimeoutError):
        print("close_code=timeout")
        return 1
    except RuntimeError as error:
        print(f"error={error}")
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["upgrade", "rfb"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--cookie")
    parser.add_argument("--origin")
    parser.add_argument("--protocol")
    parser.add_argument("--no-key", action="store_true")
    parser.add_argument("--click")
    parser.add_argument("--type")
    parser.add_argument("--pointer-burst", type=int, default=0)
    parser.add_argument("--byte-frames", action="store_true")
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--stream", type=float, default=0,
                        help="seconds to count updates and bytes")
    parser.add_argument("--latency", type=int, default=0,
                        help="key presses to time")
    parser.add_argument("--host", default="localhost",
                        help="TLS server name")
    parser.add_argument("--ready-file")
    parser.add_argument("--wait-close", type=float, default=0)
    args = parser.parse_args()
    try:
        if args.command == "upgrade":
            return run_upgrade(args)
        return run_rfb(args)
    except (OSError, ssl.SSLError) as error:
        print(f"error={error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
