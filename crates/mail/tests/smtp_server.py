"""A real SMTP server for roster-mail's SMTP tests (tests/smtp.rs starts it as a child process).

Every message it accepts is written to MAILDIR before the server answers 250, as

    MAILDIR/<n>.json  the envelope and session: MAIL FROM, RCPT TOs, the EHLO name, whether
                      the session was TLS (and whether by STARTTLS), which TLS version,
                      whether it authenticated and as whom
    MAILDIR/<n>.eml   the message exactly as received

each written to a temporary name and renamed, the .json first, so a reader that sees an .eml
also sees its .json and never half a file. With --auth, every AUTH attempt (user, mechanism,
whether over TLS, whether accepted; never the password) is appended to MAILDIR/auth.jsonl
before the server answers it.

With --tls the script makes a throwaway CA with trustme, writes it to --ca-out (PEM) and serves
a certificate for localhost and 127.0.0.1 signed by it: by STARTTLS (--tls starttls) or from
the first byte (--tls implicit).

Prints "READY <port>" on stdout once it listens, and serves until it is killed.

Needs aiosmtpd and trustme (see .ci/requirements-test.txt).
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--tls", choices=["starttls", "implicit"])
    p.add_argument("--ca-out", help="where to write the throwaway CA (PEM); needs --tls")
    p.add_argument("--require-starttls", action="store_true",
                   help="refuse commands other than EHLO/STARTTLS/QUIT before STARTTLS")
    p.add_argument("--auth", metavar="USER:PASS", help="offer AUTH PLAIN/LOGIN for this user")
    p.add_argument("--require-auth", action="store_true", help="refuse mail before AUTH")
    args = p.parse_args()
    if args.tls and not args.ca_out:
        p.error("--tls needs --ca-out")
    if args.require_auth and not args.auth:
        p.error("--require-auth needs --auth")
    if args.require_starttls and args.tls != "starttls":
        p.error("--require-starttls needs --tls starttls")
    return args


def write_atomically(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Maildir:
    """Stores each accepted message under the next free number."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.next = 1

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": tls is not None,
            "tls_version": tls.version() if tls is not None else None,
            "starttls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "auth_user": (
                session.auth_data.login.decode("utf-8", "replace")
                if isinstance(session.auth_data, LoginPassword)
                else None
            ),
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
        }
        # Skip numbers a previous server on the same directory used.
        while any(
            os.path.exists(os.path.join(self.directory, f"{self.next}.{ext}"))
            for ext in ("eml", "json")
        ):
            self.next += 1
        n = self.next
        self.next += 1
        write_atomically(
            os.path.join(self.directory, f"{n}.json"),
            json.dumps(record, indent=2).encode(),
        )
        write_atomically(os.path.join(self.directory, f"{n}.eml"), envelope.original_content)
        return "250 OK stored as %d" % n


def make_authenticator(user, password, maildir):
    attempts = os.path.join(maildir, "auth.jsonl")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # Every attempt, so tests can tell whether (and how) credentials were sent; the
        # password itself is not written down.
        with open(attempts, "a") as f:
            f.write(json.dumps({
                "mechanism": mechanism,
                "user": (
                    auth_data.login.decode("utf-8", "replace")
                    if isinstance(auth_data, LoginPassword)
                    else None
                ),
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "success": ok,
            }) + "\n")
        # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticator


def tls_context(ca_out):
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(ca_out)
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


async def main():
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    handler = Maildir(args.maildir)
    ctx = tls_context(args.ca_out) if args.tls else None

    kwargs = {"hostname": "smtp.test", "enable_SMTPUTF8": True}
    if args.tls == "starttls":
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = args.require_starttls
    if args.auth:
        user, _, password = args.auth.partition(":")
        kwargs["authenticator"] = make_authenticator(user, password, args.maildir)
        # The tests also authenticate over plain connections.
        kwargs["auth_require_tls"] = False
        kwargs["auth_required"] = args.require_auth

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **kwargs),
        host=args.host,
        port=args.port,
        ssl=ctx if args.tls == "implicit" else None,
    )
    print(f"READY {args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
