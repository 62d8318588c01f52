#!/usr/bin/env python3
"""`coolfusion chat` through a pseudo-terminal (issue 24): Ctrl-C while an answer is written
stops that answer and returns to the prompt, the next turn works, and Ctrl-C at the prompt
ends the chat (exit 130). Usage: chat_interrupt.py COOLFUSION_BIN MODEL [MODEL...]"""
import os
import pty
import select
import sys
import time

scale = float(os.environ.get("COOLFUSION_TEST_TIME_SCALE", "1"))


pending = b""


def read_until(fd, needle, timeout):
    """Reads until `needle`; returns what came up to it and keeps the rest for later."""
    global pending
    end = time.time() + timeout * scale
    while needle not in pending and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
    if needle not in pending:
        raise SystemExit(f"timed out waiting for {needle!r}; got {pending[-400:]!r}")
    at = pending.index(needle) + len(needle)
    out, pending = pending[:at], pending[at:]
    return out


def main():
    binary, models = sys.argv[1], sys.argv[2:]
    args = [binary, "chat", "-n", "4000", "-c", "4096"]
    for m in models:
        args += ["-m", m]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, args)
    read_until(fd, b"> ", 60)
    # A long answer; Ctrl-C once some of it has streamed.
    os.write(fd, b"Once upon a time\r")
    out = read_until(fd, b" ", 30)
    time.sleep(0.3)
    os.write(fd, b"\x03")
    out = read_until(fd, b"[answer stopped]", 30)
    read_until(fd, b"> ", 10)
    # The chat goes on: the next turn is answered (a short one).
    os.write(fd, b"/help\r")
    read_until(fd, b"/reset", 10)
    os.write(fd, b"The dog\r")
    second = read_until(fd, b".", 60)  # it answers (a sentence of it), then Ctrl-C again
    os.write(fd, b"\x03")
    read_until(fd, b"[answer stopped]", 30)
    read_until(fd, b"> ", 10)
    # Ctrl-C at the prompt ends the chat.
    os.write(fd, b"\x03")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 130:
        raise SystemExit(f"exit status {code}, expected 130")
    print("chat: Ctrl-C stopped the answer, the next turn worked, Ctrl-C at the prompt exited 130")


main()
