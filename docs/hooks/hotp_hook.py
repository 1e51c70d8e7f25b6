#!/usr/bin/python3
"""A delegated second-factor hook for twofactor-server: HOTP tokens (RFC 4226).

Usage (server.toml):  [hook]  program = ["/path/hotp_hook.py", "/path/tokens.json"]

tokens.json (mode 0600, owned by the server's user) holds each user's token:
  {"alice": {"secret_hex": "3132...", "counter": 0, "digits": 6}}
The server sends one JSON request on stdin and reads one JSON answer on stdout:
  {"call":"init","user":..,"peer":..,"session_id":..} -> {"result":"sent","hint":..}
  {"call":"check","user":..,"session_id":..,"code":..} -> {"result":"accepted"|"rejected"}
A code is accepted if it matches one of the next LOOK_AHEAD counter values; the counter
then moves past it, so a code works once. The file is locked (fcntl) while it is read and
rewritten, so concurrent logins never accept one code twice. Stdlib only.
"""
import fcntl, hashlib, hmac, json, os, struct, sys

LOOK_AHEAD = 10


def hotp(secret, counter, digits):
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def check(tokens_path, user, code):
    with open(tokens_path, "r+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)  # held until the file is closed
        tokens = json.load(f)
        token = tokens.get(user)
        if token is None:
            return "rejected"
        secret, digits = bytes.fromhex(token["secret_hex"]), int(token.get("digits", 6))
        for counter in range(token["counter"], token["counter"] + LOOK_AHEAD):
            if hmac.compare_digest(hotp(secret, counter, digits), code):
                token["counter"] = counter + 1
                f.seek(0)
                json.dump(tokens, f)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
                return "accepted"
        return "rejected"


def main():
    tokens_path = sys.argv[1]
    req = json.load(sys.stdin)
    if req["call"] == "init":
        with open(tokens_path) as f:
            known = req["user"] in json.load(f)
        answer = {"result": "sent", "hint": "the next code of your HOTP token"} if known else \
            {"result": "error", "message": "no HOTP token for this user"}
    elif req["call"] == "check":
        answer = {"result": check(tokens_path, req["user"], str(req["code"]))}
    else:
        answer = {"result": "error", "message": "unknown call"}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
