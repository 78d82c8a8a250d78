#!/usr/bin/env python3
"""STAND-IN portal: NOT the Sealpost portal, and not shipped anywhere.

This small server exists only to prove the browser test harness
(tests/web/portal.py) works end to end while the real pages (crates/web) are
being written. It implements the minimum of docs/design/portal.md's page
contract: the token link, sign-in, e-mailed 6-digit code, inbox, message,
byte-exact 1 MiB attachment, multipart reply, the headers every portal response
must carry (including the strict CSP: no inline script, no inline style), the
cookie attributes, CSRF + Origin checks, a language switch (?lang=es) and
accessible markup (lang, labels, one h1, landmarks).

It does none of the real portal's security work (no hashing of tokens, no
rate limits, no expiry): do not copy it into the product.

Run:  python tests/web/standin/server.py [--port 0] [--maildir DIR]
          [--state DIR] [--broken missing-label|missing-header|weak-cookie ...]
It serves HTTPS on 127.0.0.1 with a self-signed certificate made by
`openssl req` at start and prints ONE JSON line on stdout when ready:
  {"base", "link", "maildir", "state", "attachment_sha256", "address"}
The code mails go to MAILDIR/new; each accepted reply is written to
STATE/replies/N/ (body.txt + the uploaded files).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

COOKIE = "__Host-sealpost_portal"
LANG_COOKIE = "__Host-sealpost_lang"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ADDRESS = "patient@example.test"
REF = "r-1"
ATTACHMENT_NAME = "lab-results.dat"

T = {
    "en": {
        "signin": "Sign in to read your secure message",
        "signin_p": "Example Clinic sent you a secure message. The link expires in 30 days.",
        "send_code": "Email me a code",
        "enter": "Enter your code",
        "enter_p": "We sent a 6-digit code to your email address. It is valid for 10 minutes.",
        "code": "Code",
        "verify": "Verify",
        "wrong": "That code is not right. Check the latest email and try again.",
        "inbox": "Your secure messages",
        "from": "From",
        "attachments": "Attachments",
        "reply": "Reply",
        "reply_all": "Reply to all",
        "reply_h": "Reply",
        "body": "Your message",
        "attach": "Attach files",
        "send": "Send",
        "sent": "Your reply was sent.",
        "signout": "Sign out",
        "session": "Your session ends at",
        "extend": "Stay signed in",
        "expired": "This link has expired",
        "expired_p": "Ask the sender to send the message again.",
        "switch": "Español",
        "switch_lang": "es",
        "lang_nav": "Language",
        "mail_subject": "Your sign-in code",
        "mail_body": "Your sign-in code is {code}. It is valid for 10 minutes.\n",
    },
    "es": {
        "signin": "Inicie sesión para leer su mensaje seguro",
        "signin_p": "Example Clinic le envió un mensaje seguro. El enlace caduca en 30 días.",
        "send_code": "Enviarme un código",
        "enter": "Escriba su código",
        "enter_p": "Enviamos un código de 6 dígitos a su correo. Es válido durante 10 minutos.",
        "code": "Código",
        "verify": "Verificar",
        "wrong": "El código no es correcto. Revise el último correo e inténtelo de nuevo.",
        "inbox": "Sus mensajes seguros",
        "from": "De",
        "attachments": "Adjuntos",
        "reply": "Responder",
        "reply_all": "Responder a todos",
        "reply_h": "Responder",
        "body": "Su mensaje",
        "attach": "Adjuntar archivos",
        "send": "Enviar",
        "sent": "Su respuesta fue enviada.",
        "signout": "Cerrar sesión",
        "session": "Su sesión termina a las",
        "extend": "Seguir conectado",
        "expired": "Este enlace ha caducado",
        "expired_p": "Pida al remitente que vuelva a enviar el mensaje.",
        "switch": "English",
        "switch_lang": "en",
        "lang_nav": "Idioma",
        "mail_subject": "Su código de acceso",
        "mail_body": "Su código de acceso es {code}. Es válido durante 10 minutos.\n",
    },
}

CSS = b"""body{font-family:sans-serif;max-width:48rem;margin:1rem auto;padding:0 1rem;color:#111;background:#fff}
a{color:#0645ad}
label{display:block;margin-top:1rem;font-weight:bold}
textarea{width:100%;min-height:8rem}
.error{color:#a00000}
#notice{border:2px solid #1a6b1a;padding:.5rem;color:#0b3d0b}
header,footer{border-bottom:1px solid #ccc;padding:.5rem 0}
footer{border-top:1px solid #ccc;border-bottom:none}
"""


class State:
    def __init__(self, maildir: str, statedir: str, broken: list[str]):
        self.lock = threading.Lock()
        self.maildir = maildir
        self.statedir = statedir
        self.broken = broken
        self.token = secrets.token_urlsafe(24)
        self.sessions: dict[str, dict] = {}
        self.attachment = os.urandom(1 << 20)
        self.replies = 0
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        os.makedirs(os.path.join(statedir, "replies"), exist_ok=True)

    def deliver_code(self, code: str, lang: str) -> None:
        msg = EmailMessage()
        msg["From"] = "Example Clinic <no-reply@clinic.example.test>"
        msg["To"] = ADDRESS
        msg["Subject"] = T[lang]["mail_subject"]
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="clinic.example.test")
        msg.set_content(T[lang]["mail_body"].format(code=code))
        name = f"{time.time():.6f}.{os.getpid()}_{secrets.token_hex(4)}.standin"
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(msg.as_bytes())
        os.rename(tmp, os.path.join(self.maildir, "new", name))


def page(lang: str, title: str, main: str, *, main_id: str = "", signed_in: bool = False,
         csrf: str = "", path: str = "/portal/") -> bytes:
    t = T[lang]
    other = t["switch_lang"]
    signout = ""
    if signed_in:
        signout = (f'<p><span>{html.escape(t["session"])}</span> <time id="session-expiry" '
                   f'datetime="2026-12-31T23:00:00Z">23:00 UTC</time></p>'
                   f'<form id="extend-form" method="post" action="/portal/extend">'
                   f'<input type="hidden" name="csrf" value="{csrf}">'
                   f'<button id="extend" type="submit">{html.escape(t["extend"])}</button></form>'
                   f'<form id="signout-form" method="post" action="/portal/signout">'
                   f'<input type="hidden" name="csrf" value="{csrf}">'
                   f'<button id="signout" type="submit">{html.escape(t["signout"])}</button></form>')
    mid = f' id="{main_id}"' if main_id else ""
    doc = f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - Sealpost (stand-in)</title>
<link rel="stylesheet" href="/portal/static/portal.css">
</head>
<body>
<header>
<nav aria-label="{html.escape(t['lang_nav'])}"><a href="{html.escape(path)}?lang={other}" hreflang="{other}" lang="{other}">{html.escape(t['switch'])}</a></nav>
{signout}
</header>
<main{mid}>
{main}
</main>
<footer><p>Sealpost stand-in portal (test harness only)</p></footer>
</body>
</html>
"""
    return doc.encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "sealpost-standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    st: State = None  # set by main()

    def log_message(self, fmt, *args):  # quiet unless asked
        if os.environ.get("STANDIN_LOG"):
            sys.stderr.write("standin: " + (fmt % args) + "\n")

    # -- helpers -----------------------------------------------------------------
    def cookies(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                out[k] = v
        return out

    def session(self) -> tuple[str | None, dict | None]:
        sid = self.cookies().get(COOKIE)
        with self.st.lock:
            return sid, self.st.sessions.get(sid or "")

    def lang(self, query: dict) -> tuple[str, str | None]:
        q = (query.get("lang") or [""])[0]
        if q in T:
            return q, f"{LANG_COOKIE}={q}; Secure; SameSite=Strict; Path=/"
        c = self.cookies().get(LANG_COOKIE)
        return (c if c in T else "en"), None

    def send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
             extra: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        headers = dict(SECURITY_HEADERS)
        if "missing-header" in self.st.broken:
            headers.pop("X-Content-Type-Options")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def redirect(self, to: str, extra: list[tuple[str, str]] = ()) -> None:
        self.send(HTTPStatus.SEE_OTHER, b"", extra=[("Location", to), *extra])

    def set_session_cookie(self, sid: str) -> tuple[str, str]:
        if "weak-cookie" in self.st.broken:
            return ("Set-Cookie", f"{COOKIE}={sid}; Secure; SameSite=Lax; Path=/")
        return ("Set-Cookie", f"{COOKIE}={sid}; Secure; HttpOnly; SameSite=Strict; Path=/")

    def not_found(self, lang: str = "en") -> None:
        self.send(HTTPStatus.NOT_FOUND, page(lang, "Not found", "<h1>Not found</h1>"))

    def same_origin(self) -> bool:
        # Note: with `Referrer-Policy: no-referrer` Chromium sends `Origin: null`
        # on same-origin form POSTs, so Sec-Fetch-Site must be accepted then.
        if os.environ.get("STANDIN_LOG"):
            sys.stderr.write(f"standin: Origin={self.headers.get('Origin')!r} "
                             f"Sec-Fetch-Site={self.headers.get('Sec-Fetch-Site')!r}\n")
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        if origin not in (None, "null"):
            return origin == f"https://{host}"
        return self.headers.get("Sec-Fetch-Site") == "same-origin"

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- GET ---------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        u = urlsplit(self.path)
        query = parse_qs(u.query)
        lang, lang_cookie = self.lang(query)
        extra = [("Set-Cookie", lang_cookie)] if lang_cookie else []
        path = u.path
        if path == "/portal/static/portal.css":
            return self.send(200, CSS, "text/css; charset=utf-8")
        if path.startswith("/p/"):
            if path[3:] != self.st.token:
                t = T[lang]
                return self.send(HTTPStatus.NOT_FOUND, page(
                    lang, t["expired"], f"<h1>{t['expired']}</h1><p>{t['expired_p']}</p>",
                    main_id="expired"), extra=extra)
            sid = secrets.token_urlsafe(32)
            with self.st.lock:
                self.st.sessions[sid] = {"state": "pending", "csrf": secrets.token_urlsafe(16),
                                         "code": None, "flash": None}
            return self.redirect("/portal/", [self.set_session_cookie(sid), *extra])
        sid, s = self.session()
        if s is None:
            return self.not_found(lang)
        t = T[lang]
        csrf = s["csrf"]
        if path == "/portal/":
            if s["state"] == "pending":
                body = (f"<h1>{t['signin']}</h1><p>{t['signin_p']}</p>"
                        f'<form id="send-code-form" method="post" action="/portal/code">'
                        f'<input type="hidden" name="csrf" value="{csrf}">'
                        f'<button id="send-code" type="submit">{t["send_code"]}</button></form>')
                return self.send(200, page(lang, t["signin"], body, path=path), extra=extra)
            if s["state"] == "code_sent":
                return self.send(200, self.code_page(lang, csrf, error=False), extra=extra)
            items = (f'<li><a class="message-link" href="/portal/m/{REF}">Test results</a> '
                     f'<span>{t["from"]} Example Clinic</span></li>')
            body = f'<h1>{t["inbox"]}</h1><ul id="inbox">{items}</ul>'
            return self.send(200, page(lang, t["inbox"], body, signed_in=True, csrf=csrf, path=path),
                             extra=extra)
        if s["state"] != "signed_in":
            return self.not_found(lang)
        if path == f"/portal/m/{REF}":
            with self.st.lock:
                flash, s["flash"] = s["flash"], None
            notice = f'<p id="notice" role="status">{t["sent"]}</p>' if flash else ""
            body = (f'{notice}<h1 id="subject">Test results</h1>'
                    f'<p>{t["from"]} Example Clinic &lt;clinic@example.test&gt;</p>'
                    f'<div id="body"><p>Hello, your results are attached.</p></div>'
                    f'<h2>{t["attachments"]}</h2><ul id="attachments"><li>'
                    f'<a class="attachment" href="/portal/m/{REF}/a/1">{ATTACHMENT_NAME}</a> (1 MiB)</li></ul>'
                    f'<p><a id="reply" href="/portal/m/{REF}/reply">{t["reply"]}</a> '
                    f'<a id="reply-all" href="/portal/m/{REF}/reply?all=1">{t["reply_all"]}</a></p>')
            return self.send(200, page(lang, "Test results", body, signed_in=True, csrf=csrf, path=path),
                             extra=extra)
        if path == f"/portal/m/{REF}/a/1":
            return self.send(200, self.st.attachment, "application/octet-stream",
                             [("Content-Disposition", f'attachment; filename="{ATTACHMENT_NAME}"'), *extra])
        if path == f"/portal/m/{REF}/reply":
            body = (f'<h1>{t["reply_h"]}: Test results</h1>'
                    f'<form id="reply-form" method="post" enctype="multipart/form-data" '
                    f'action="/portal/m/{REF}/reply">'
                    f'<input type="hidden" name="csrf" value="{csrf}">'
                    f'<label for="body">{t["body"]}</label>'
                    f'<textarea id="body" name="body" required></textarea>'
                    f'<label for="attachment">{t["attach"]}</label>'
                    f'<input type="file" id="attachment" name="attachment" multiple>'
                    f'<p><button id="send" type="submit">{t["send"]}</button></p></form>')
            return self.send(200, page(lang, t["reply_h"], body, signed_in=True, csrf=csrf, path=path),
                             extra=extra)
        return self.not_found(lang)

    def code_page(self, lang: str, csrf: str, error: bool) -> bytes:
        t = T[lang]
        err_attr = ' aria-invalid="true" aria-describedby="code-error"' if error else ""
        err = f'<p id="code-error" class="error">{t["wrong"]}</p>' if error else ""
        label = "" if "missing-label" in self.st.broken else f'<label for="code">{t["code"]}</label>'
        body = (f"<h1>{t['enter']}</h1><p>{t['enter_p']}</p>"
                f'<form id="verify-form" method="post" action="/portal/verify">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                f'{label}<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" '
                f'pattern="[0-9]{{6}}" maxlength="6"{err_attr}>{err}'
                f'<p><button id="verify" type="submit">{t["verify"]}</button></p></form>')
        return page(lang, t["enter"], body)

    # -- POST --------------------------------------------------------------------
    def do_POST(self):
        u = urlsplit(self.path)
        lang, _ = self.lang({})
        sid, s = self.session()
        raw = self.read_body()
        if s is None:
            return self.not_found(lang)
        if not self.same_origin():
            return self.send(HTTPStatus.FORBIDDEN, page(lang, "Forbidden", "<h1>Forbidden</h1>"))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            form, files = parse_multipart(ctype, raw)
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            files = []
        if form.get("csrf") != s["csrf"]:
            return self.send(HTTPStatus.FORBIDDEN, page(lang, "Forbidden", "<h1>Forbidden</h1>"))
        path = u.path
        if path == "/portal/code" and s["state"] in ("pending", "code_sent"):
            code = f"{secrets.randbelow(10**6):06d}"
            with self.st.lock:
                s["code"], s["state"] = code, "code_sent"
            self.st.deliver_code(code, lang)
            return self.redirect("/portal/")
        if path == "/portal/verify" and s["state"] == "code_sent":
            if form.get("code", "").strip() == s["code"]:
                new_sid = secrets.token_urlsafe(32)  # rotate the session id at sign-in
                with self.st.lock:
                    del self.st.sessions[sid]
                    s.update(state="signed_in", code=None, csrf=secrets.token_urlsafe(16))
                    self.st.sessions[new_sid] = s
                return self.redirect("/portal/", [self.set_session_cookie(new_sid)])
            return self.send(200, self.code_page(lang, s["csrf"], error=True))
        if s["state"] != "signed_in":
            return self.not_found(lang)
        if path == f"/portal/m/{REF}/reply":
            with self.st.lock:
                self.st.replies += 1
                n = self.st.replies
            d = os.path.join(self.st.statedir, "replies", str(n))
            os.makedirs(d)
            with open(os.path.join(d, "body.txt"), "w", encoding="utf-8") as f:
                f.write(form.get("body", ""))
            for i, (fname, data) in enumerate(files):
                safe = os.path.basename(fname) or f"file{i}"
                with open(os.path.join(d, f"{i}-{safe}"), "wb") as f:
                    f.write(data)
            with self.st.lock:
                s["flash"] = "sent"
            return self.redirect(f"/portal/m/{REF}")
        if path == "/portal/signout":
            with self.st.lock:
                self.st.sessions.pop(sid, None)
            return self.redirect("/portal/", [("Set-Cookie", f"{COOKIE}=; Secure; HttpOnly; SameSite=Strict; "
                                                             "Path=/; Max-Age=0")])
        if path == "/portal/extend":
            return self.redirect("/portal/")
        return self.not_found(lang)


def parse_multipart(ctype: str, raw: bytes) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    msg = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw)
    form: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            if filename or data:
                files.append((filename, data))
        elif name:
            form[name] = data.decode("utf-8", "replace")
    return form, files


def _stop(*_):
    raise KeyboardInterrupt


def make_cert(d: str) -> tuple[str, str]:
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--maildir", help="Maildir for the code mails (default: a temp dir)")
    ap.add_argument("--state", help="where replies are stored (default: a temp dir)")
    ap.add_argument("--broken", action="append", default=[],
                    choices=["missing-label", "missing-header", "weak-cookie"],
                    help="serve a deliberately broken variant (for the harness self-test); repeatable")
    a = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="sealpost-standin-")
    try:
        maildir = a.maildir or os.path.join(work, "Maildir")
        statedir = a.state or os.path.join(work, "state")
        crt, key = make_cert(work)
        Handler.st = State(maildir, statedir, a.broken)
        httpd = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
        httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        # The TLS handshake happens on first read, in the request's own thread,
        # so a browser's idle preconnect cannot block accept().
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        port = httpd.server_address[1]
        base = f"https://127.0.0.1:{port}"
        print(json.dumps({
            "base": base, "link": f"{base}/p/{Handler.st.token}", "maildir": maildir,
            "state": statedir, "address": ADDRESS,
            "attachment_sha256": hashlib.sha256(Handler.st.attachment).hexdigest(),
        }), flush=True)
        signal.signal(signal.SIGTERM, _stop)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
