#!/usr/bin/env python3
"""Browser tests for the Sealpost secure portal (headless Debian Chromium + selenium).

Relies only on what docs/design/portal.md ("Page contract") promises: URLs,
element ids, headers. Used by the Rust integration tests and by hand:

  portal.py flow --base URL --link LINK --maildir DIR --attachment-sha256 HEX
                 --reply-attachment FILE --out DIR [--lang en|es] [--to ADDRESS]
                 [--error-page] [--signout]
  portal.py axe --url URL [--cookie NAME=VALUE ...] [--lang en|es] --out DIR
  portal.py lockout --base URL --link LINK --out DIR [--lang en|es] [--failures N]
  portal.py selftest [--out DIR]

Each prints ONE JSON object on stdout and exits 0 only when it is ok
(1: a check failed, 2: bad arguments). Progress goes to stderr. See README.md.
"""
from __future__ import annotations

import argparse
import email
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("SEALPOST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SEALPOST_CHROMEDRIVER", "/usr/bin/chromedriver")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# The network is closed: without these Chromium hangs or stalls on background
# connections (updates, sync, safe browsing, QUIC probes). README.md explains each.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors", "--window-size=1280,900", "--disable-dev-shm-usage",
]

# docs/design/portal.md: "Headers on every portal response". None = must be present.
REQUIRED_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SESSION_COOKIE = "__Host-sealpost_portal"
# docs/design/portal.md "Page contract" markers; `axe` reports which are on its page.
PAGE_MARKERS = [
    "form#send-code-form", "form#verify-form", "#code-error", "ul#inbox", "h1#subject",
    "ul#attachments", "form#reply-form", "#notice", "main#expired", "form#resend-form",
    "main#locked", "form#signout-form", "#session-expiry", "form#extend-form",
]
TIMEOUT = float(os.environ.get("SEALPOST_WEB_TIMEOUT", "20"))

CODE_RE = re.compile(r"\b\d{6}\b")
CODE_WORD_RE = re.compile(r"c(?:ode|ódigo|odigo)", re.IGNORECASE)


def log(msg: str) -> None:
    print(f"portal.py: {msg}", file=sys.stderr, flush=True)


class CheckFailed(Exception):
    """A step could not go on (element missing, timeout, wrong redirect...)."""


# ----------------------------------------------------------------------------- browser
def start_browser(download_dir: Path, profile_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile_dir}")
    opts.accept_insecure_certs = True
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    service = Service(executable_path=CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    # Where downloads go (the prefs above are not always honoured headless).
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": str(download_dir), "eventsEnabled": True})
    except Exception:  # older Chromium: the page-level command
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def wait_for(driver, css: str, timeout: float = TIMEOUT):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, css)))
    except Exception as e:
        raise CheckFailed(f"no {css} on {redact(driver.current_url)} after {timeout:.0f}s") from e


def find(driver, css: str):
    from selenium.webdriver.common.by import By
    els = driver.find_elements(By.CSS_SELECTOR, css)
    if not els:
        raise CheckFailed(f"no {css} on {redact(driver.current_url)}")
    return els[0]


def click_and_wait(driver, css: str, then_css: str):
    """Click `css` (which navigates) and wait for the new page's `then_css`."""
    old = driver.find_element("tag name", "html")
    find(driver, css).click()
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def replaced(_driver) -> bool:
        # The old page's root is gone once the new page loaded. Chromedriver
        # sometimes says so with an inspector error ("Node with given id
        # does not belong to the document") instead of a stale-element
        # error; both mean the navigation happened.
        try:
            old.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise

    try:
        WebDriverWait(driver, TIMEOUT).until(replaced)
    except Exception as e:
        raise CheckFailed(f"clicking {css} did not load a new page ({type(e).__name__}: {str(e)[:200]})") from e
    return wait_for(driver, then_css)


def redact(url: str) -> str:
    """The token in /p/TOKEN is a credential: never print it."""
    return re.sub(r"/p/[^/?#]+", "/p/<token>", url or "")


# ----------------------------------------------------------------------------- checks
def run_axe(driver) -> list[dict]:
    """Inject axe-core and run the WCAG 2.0/2.1 A+AA rules. Returns violations (summarised).

    execute_script is a WebDriver/CDP evaluation, so the page's CSP (no inline
    script) does not apply to it; self-test proves the CSP itself is in force."""
    if not AXE_JS.exists():
        raise CheckFailed(f"{AXE_JS} missing: run scripts/setup-test-env.sh")
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
           .then(r => done({ok: true, violations: r.violations}))
           .catch(e => done({ok: false, error: String(e)}));""", AXE_TAGS)
    if not result or not result.get("ok"):
        raise CheckFailed(f"axe failed: {result and result.get('error')}")
    out = []
    for v in result["violations"]:
        out.append({
            "id": v["id"], "impact": v.get("impact"), "help": v.get("help"),
            "nodes": [{"target": n.get("target"), "summary": (n.get("failureSummary") or "")[:300]}
                      for n in v.get("nodes", [])[:10]],
        })
    return out


def screenshot(driver, out: Path, name: str) -> str:
    """Full-page PNG through CDP (selenium's own is viewport-only on Chrome)."""
    import base64
    m = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = m.get("cssContentSize") or m["contentSize"]
    w, h = max(1, int(size["width"])), max(1, int(size["height"]))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
    path = out / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return str(path)


def header_problems(headers: dict[str, str]) -> list[str]:
    """Contract headers missing (or with a different value) in one response."""
    h = {k.lower(): v for k, v in headers.items()}
    bad = []
    for name, want in REQUIRED_HEADERS.items():
        got = h.get(name.lower())
        if got is None:
            bad.append(name)
        elif want is not None and norm(got) != norm(want):
            bad.append(f"{name} (got {got!r})")
    return bad


def norm(v: str) -> str:
    return ";".join(p.strip() for p in v.strip().rstrip(";").split(";"))


def cookie_problems(set_cookie: str) -> list[str]:
    """The session cookie's attributes, as the contract requires."""
    probs = []
    for line in set_cookie.split("\n"):
        if not line.startswith(SESSION_COOKIE + "="):
            continue
        attrs = [a.strip().lower() for a in line.split(";")[1:]]
        for need in ("secure", "httponly", "samesite=strict", "path=/"):
            if need not in attrs:
                probs.append(f"{SESSION_COOKIE} lacks {need}")
        if any(a.startswith("domain=") for a in attrs):
            probs.append(f"{SESSION_COOKIE} has a Domain")
    return probs


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    kind: str  # Document, redirect, Other, Stylesheet...


class Network:
    """Responses the browser received, from chromedriver's performance log
    (CDP Network events): the page's own headers, including 303 redirects and
    downloads, with no second request that could change server state."""

    def __init__(self, driver, origin: str):
        self.driver = driver
        self.origin = origin
        self.extra: dict[str, list[dict]] = {}

    def drain(self) -> list[Response]:
        out: list[Response] = []
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            method, p = msg.get("method"), msg.get("params", {})
            if method == "Network.requestWillBeSent" and p.get("redirectResponse"):
                r = p["redirectResponse"]
                out.append(Response(r["url"], r["status"], r.get("headers", {}), "redirect"))
            elif method == "Network.responseReceived":
                r = p["response"]
                out.append(Response(r["url"], r["status"], r.get("headers", {}), p.get("type", "")))
            elif method == "Network.responseReceivedExtraInfo":
                self.extra.setdefault("set-cookie", []).append(p.get("headers", {}))
        return [r for r in out if same_origin(r.url, self.origin)]

    def set_cookies(self) -> list[str]:
        vals = []
        for h in self.extra.pop("set-cookie", []):
            for k, v in h.items():
                if k.lower() == "set-cookie":
                    vals.append(v)
        return vals


def same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def contract_problems(driver, lang: str | None) -> list[str]:
    """What the contract promises on every page: lang, one h1, main, a[hreflang]."""
    info = driver.execute_script("""return {
        lang: document.documentElement.getAttribute('lang'),
        h1: document.querySelectorAll('h1').length,
        main: document.querySelectorAll('main').length,
        hreflang: document.querySelectorAll('a[hreflang]').length};""")
    probs = []
    if info["lang"] not in ("en", "es"):
        probs.append(f"html lang is {info['lang']!r}")
    elif lang and info["lang"] != lang:
        probs.append(f"html lang is {info['lang']!r}, wanted {lang!r}")
    if info["h1"] != 1:
        probs.append(f"{info['h1']} h1 elements (want 1)")
    if info["main"] != 1:
        probs.append(f"{info['main']} main elements (want 1)")
    if info["hreflang"] < 1:
        probs.append("no language switch a[hreflang]")
    return probs


# ----------------------------------------------------------------------------- run state
@dataclass
class Run:
    driver: object
    out: Path
    origin: str
    lang: str | None = None
    steps: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    net: Network = None

    def __post_init__(self):
        self.net = Network(self.driver, self.origin)

    def record_page(self, name: str, *, axe: bool = True) -> dict:
        """axe + screenshot + headers + contract markers for the page now shown."""
        d = self.driver
        if d.execute_script("return document.URL").startswith("chrome-error:"):
            raise CheckFailed(f"{redact(d.current_url)} did not load (network error page)")
        step = {"name": name, "url": redact(d.current_url), "axe_violations": [],
                "screenshot": None, "missing_headers": [], "contract_problems": []}
        self.steps.append(step)
        responses = self.net.drain()
        step["missing_headers"] = self.check_responses(responses, d.current_url)
        for sc in self.net.set_cookies():
            step["contract_problems"] += cookie_problems(sc)
        step["contract_problems"] += contract_problems(d, self.lang)
        if axe:
            step["axe_violations"] = run_axe(d)
        step["screenshot"] = screenshot(d, self.out, f"{len(self.steps):02d}-{name}")
        return step

    def check_responses(self, responses: list[Response], page_url: str) -> list[str]:
        """Contract headers on every response from the portal in this step: the
        page itself (reported by header name), and redirects / subresources /
        downloads (reported as 'Header (STATUS path)')."""
        missing: list[str] = []
        seen_page = False
        for r in responses:
            probs = header_problems(r.headers)
            is_page = r.kind == "Document" and strip_frag(r.url) == strip_frag(page_url)
            seen_page |= is_page
            for p in probs:
                item = p if is_page else f"{p} ({r.status} {redact(urlsplit(r.url).path)})"
                if item not in missing:
                    missing.append(item)
        if not seen_page and page_url.startswith("http"):
            self.errors.append(f"no response headers seen for {redact(page_url)}")
        return missing

    def ok(self) -> bool:
        return not self.errors and all(
            not s["axe_violations"] and not s["missing_headers"] and not s["contract_problems"]
            for s in self.steps)


def strip_frag(url: str) -> str:
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, u.path, u.query, ""))


# ----------------------------------------------------------------------------- mail
def maildir_files(maildir: Path) -> dict[Path, float]:
    out = {}
    for sub in ("new", "cur"):
        d = maildir / sub
        if d.is_dir():
            for f in d.iterdir():
                if f.is_file():
                    try:
                        out[f] = f.stat().st_mtime
                    except FileNotFoundError:  # moved new/ -> cur/ meanwhile
                        pass
    return out


def text_body(msg) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    if part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text


def code_in(path: Path, to: str | None) -> str | None:
    """The first 6-digit number in the text body, when the text mentions a code."""
    try:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    except (FileNotFoundError, OSError):
        return None
    if to and to.lower() not in str(msg.get("To", "")).lower():
        return None
    text = text_body(msg)
    w = CODE_WORD_RE.search(text)
    if not w:
        return None
    m = CODE_RE.search(text)
    return m.group(0) if m else None


def wait_for_code(maildir: Path, before: dict[Path, float], to: str | None,
                  timeout: float = TIMEOUT) -> str:
    """Poll the Maildir for the newest message not there before that carries a code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = maildir_files(maildir)
        fresh = sorted((p for p in now if p.name.split(":")[0] not in
                        {q.name.split(":")[0] for q in before}),
                       key=lambda p: now[p], reverse=True)
        for p in fresh:
            code = code_in(p, to)
            if code:
                return code
        time.sleep(0.2)
    raise CheckFailed(f"no code mail in {maildir} after {timeout:.0f}s")


# ----------------------------------------------------------------------------- download
def wait_for_download(d: Path, timeout: float = TIMEOUT) -> Path:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        files = [f for f in d.iterdir() if f.is_file()]
        done = [f for f in files if not f.name.endswith((".crdownload", ".tmp"))
                and not f.name.startswith(".com.google")]
        if done and not any(f.name.endswith(".crdownload") for f in files):
            f = max(done, key=lambda x: x.stat().st_mtime)
            size = f.stat().st_size
            if last == (f, size):
                return f
            last = (f, size)
        time.sleep(0.2)
    raise CheckFailed(f"no finished download in {d} after {timeout:.0f}s")


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- flow steps
# Each step: one small function on (run, args), leaving the browser on a known page.
# Later flows (second recipient, wrong codes, lockout) reuse and recombine them.

def step_open_link(run: Run, link: str) -> None:
    """The token link redirects to a URL without the token, to the sign-in page."""
    token = urlsplit(link).path.rsplit("/", 1)[-1]
    run.driver.get(link)
    wait_for(run.driver, "form#send-code-form")
    url = run.driver.current_url
    if token and token in url:
        run.errors.append(f"token still in the URL after the link: {redact(url)}")
    if urlsplit(url).path.startswith("/p/"):
        run.errors.append(f"not redirected away from the link: {redact(url)}")


def step_switch_lang(run: Run, lang: str) -> None:
    """Use the page's own language switch (a[hreflang=LANG]) when not already in it."""
    cur = run.driver.execute_script("return document.documentElement.lang")
    if cur == lang:
        return
    click_and_wait(run.driver, f"a[hreflang='{lang}']", "main")
    cur = run.driver.execute_script("return document.documentElement.lang")
    if cur != lang:
        raise CheckFailed(f"language switch to {lang} left html lang={cur!r}")


def step_send_code(run: Run, maildir: Path, to: str | None) -> str:
    before = maildir_files(maildir)
    click_and_wait(run.driver, "#send-code", "form#verify-form #code")
    run.record_page("code-entry")
    return wait_for_code(maildir, before, to)


def step_verify(run: Run, code: str) -> None:
    field_ = find(run.driver, "#code")
    field_.clear()
    field_.send_keys(code)
    click_and_wait(run.driver, "#verify", "ul#inbox")
    run.record_page("inbox")


def step_open_first_message(run: Run) -> None:
    click_and_wait(run.driver, "ul#inbox a.message-link", "h1#subject")
    for css in ("#body", "ul#attachments", "a#reply", "a#reply-all"):
        find(run.driver, css)
    run.record_page("message")


def step_download_first_attachment(run: Run, download_dir: Path, want_sha256: str | None) -> str:
    for f in download_dir.iterdir():
        f.unlink()
    a = find(run.driver, "ul#attachments a.attachment")
    href = a.get_attribute("href")
    # With <a download> Chromium fetches through its download manager, whose
    # responses never reach the page's Network log, so the contract headers
    # of the download could not be checked. Without the attribute the click
    # is a navigation that the server's Content-Disposition: attachment must
    # turn into a download: same request, same single audit event.
    run.driver.execute_script("arguments[0].removeAttribute('download')", a)
    a.click()
    got = sha256_file(wait_for_download(download_dir))
    step = {"name": "attachment", "url": redact(href), "axe_violations": [], "screenshot": None,
            "missing_headers": [], "contract_problems": [], "sha256": got}
    run.steps.append(step)
    responses = [r for r in run.net.drain() if strip_frag(r.url) == strip_frag(href)]
    if not responses:
        run.errors.append(f"no response headers seen for the download {redact(href)}")
    for r in responses:
        step["missing_headers"] += [p for p in header_problems(r.headers)
                                    if p not in step["missing_headers"]]
    if want_sha256 and got != want_sha256.lower():
        run.errors.append(f"attachment sha256 {got} != expected {want_sha256.lower()}")
    return got


def step_reply(run: Run, body: str, attachment: Path) -> None:
    click_and_wait(run.driver, "a#reply", "form#reply-form textarea#body")
    form = find(run.driver, "form#reply-form")
    if (form.get_attribute("enctype") or "").lower() != "multipart/form-data":
        run.errors.append("form#reply-form is not multipart/form-data")
    run.record_page("reply")
    find(run.driver, "textarea#body").send_keys(body)
    find(run.driver, "input#attachment").send_keys(str(attachment.resolve()))
    click_and_wait(run.driver, "#send", "#notice")
    notice = find(run.driver, "#notice")
    if notice.get_attribute("role") != "status":
        run.errors.append("#notice lacks role=status")
    if not notice.text.strip():
        run.errors.append("#notice is empty")
    run.record_page("sent")


def step_error_page(run: Run, base: str) -> None:
    """A signed-in request for a message that does not exist: the error page
    (contract: every page's markers, headers, axe) and no portal content."""
    run.driver.get(base.rstrip("/") + "/portal/m/no-such-message")
    wait_for(run.driver, "main")
    for css in ("ul#inbox", "h1#subject", "form#reply-form"):
        if run.driver.find_elements("css selector", css):
            run.errors.append(f"the error page shows {css}")
    run.record_page("error")


def step_sign_out(run: Run, base: str) -> None:
    """#signout on a signed-in page: a page without the sign-out form, and the
    browser no longer reaches the inbox. From a page without the form (an
    error page), the inbox first."""
    if not run.driver.find_elements("css selector", "form#signout-form #signout"):
        run.driver.get(base.rstrip("/") + "/portal/")
        wait_for(run.driver, "form#signout-form #signout")
    click_and_wait(run.driver, "form#signout-form #signout", "main")
    if run.driver.find_elements("css selector", "form#signout-form"):
        run.errors.append("still a form#signout-form after signing out")
    run.record_page("signed-out")
    run.driver.get(base.rstrip("/") + "/portal/")
    wait_for(run.driver, "main")
    if run.driver.find_elements("css selector", "ul#inbox, form#signout-form"):
        run.errors.append("the inbox is still shown after signing out")


def step_lockout(run: Run, want_failures: int) -> int:
    """Wrong codes on the code-entry page until it says locked (main#locked).
    The first wrong code must show #code-error tied to #code (aria-describedby,
    aria-invalid=true). Returns how many wrong codes it took."""
    click_and_wait(run.driver, "#send-code", "form#verify-form #code")
    for n in range(1, want_failures + 5):
        f = find(run.driver, "#code")
        f.clear()
        # Not a code the portal makes only with probability 1e-6 (it has
        # one live code); "000000" would do as well.
        f.send_keys("000000" if n % 2 else "999999")
        click_and_wait(run.driver, "#verify", "#code-error, main#locked")
        if run.driver.find_elements("css selector", "main#locked"):
            run.record_page("locked")
            return n
        if n == 1:
            code = find(run.driver, "#code")
            if code.get_attribute("aria-invalid") != "true":
                run.errors.append("#code lacks aria-invalid=true after a wrong code")
            if "code-error" not in (code.get_attribute("aria-describedby") or "").split():
                run.errors.append("#code's aria-describedby does not name #code-error")
            if not find(run.driver, "#code-error").text.strip():
                run.errors.append("#code-error is empty")
            run.record_page("code-error")
    raise CheckFailed(f"no main#locked after {want_failures + 4} wrong codes")


def failure_shot(run: Run, name: str) -> None:
    try:
        screenshot(run.driver, run.out, f"failed-{name}")
    except Exception:
        pass


# ----------------------------------------------------------------------------- commands
def origin_of(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def cmd_flow(a) -> dict:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    reply_att = Path(a.reply_attachment)
    if not reply_att.is_file():
        return {"ok": False, "steps": [], "download_sha256": None,
                "errors": [f"--reply-attachment {reply_att} is not a file"]}
    with tempfile.TemporaryDirectory(prefix="sealpost-web-") as tmp:
        dl = Path(tmp, "downloads")
        dl.mkdir()
        driver = start_browser(dl, Path(tmp, "profile"))
        run = Run(driver, out, origin_of(a.base), lang=a.lang)
        sha = None
        current = "open-link"
        try:
            step_open_link(run, a.link)
            if a.lang:
                current = "switch-lang"
                step_switch_lang(run, a.lang)
            current = "sign-in"
            run.record_page("sign-in")
            current = "code-entry"
            code = step_send_code(run, Path(a.maildir), a.to)
            current = "verify"
            step_verify(run, code)
            current = "message"
            step_open_first_message(run)
            current = "attachment"
            sha = step_download_first_attachment(run, dl, a.attachment_sha256)
            current = "reply"
            step_reply(run, "Thank you, received. (browser test reply)", reply_att)
            if a.error_page:
                current = "error"
                step_error_page(run, a.base)
            if a.signout:
                current = "signed-out"
                step_sign_out(run, a.base)
        except CheckFailed as e:
            run.errors.append(f"{current}: {e}")
            failure_shot(run, current)
        except Exception as e:  # selenium / CDP trouble: report, do not crash
            run.errors.append(f"{current}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(traceback.format_exc())
            failure_shot(run, current)
        finally:
            driver.quit()
        return {"ok": run.ok(), "steps": run.steps, "download_sha256": sha, "errors": run.errors}


def cmd_lockout(a) -> dict:
    """Token link -> (language) -> send code -> wrong codes until main#locked."""
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sealpost-web-") as tmp:
        dl = Path(tmp, "downloads")
        dl.mkdir()
        driver = start_browser(dl, Path(tmp, "profile"))
        run = Run(driver, out, origin_of(a.base), lang=a.lang)
        failures = None
        current = "open-link"
        try:
            step_open_link(run, a.link)
            if a.lang:
                current = "switch-lang"
                step_switch_lang(run, a.lang)
            current = "lockout"
            failures = step_lockout(run, a.failures)
            if failures != a.failures:
                run.errors.append(f"locked after {failures} wrong codes, expected {a.failures}")
        except CheckFailed as e:
            run.errors.append(f"{current}: {e}")
            failure_shot(run, current)
        except Exception as e:
            run.errors.append(f"{current}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(traceback.format_exc())
            failure_shot(run, current)
        finally:
            driver.quit()
        return {"ok": run.ok(), "steps": run.steps, "failures": failures, "errors": run.errors}


def cmd_axe(a) -> dict:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sealpost-web-") as tmp:
        dl = Path(tmp, "downloads")
        dl.mkdir()
        driver = start_browser(dl, Path(tmp, "profile"))
        run = Run(driver, out, origin_of(a.url), lang=getattr(a, "lang", None))
        markers: list[str] = []
        try:
            for c in a.cookie or []:
                name, _, value = c.partition("=")
                ok = driver.execute_cdp_cmd("Network.setCookie", {
                    "name": name, "value": value, "url": origin_of(a.url) + "/", "path": "/",
                    "secure": True, "httpOnly": True, "sameSite": "Strict"})
                if not ok.get("success", True):
                    raise CheckFailed(f"could not set cookie {name}")
            driver.get(a.url)
            wait_for(driver, "body")
            if getattr(a, "lang", None):
                step_switch_lang(run, a.lang)
            # Named after the URL asked for, never with a link's token in it.
            name = re.sub(r"[^A-Za-z0-9]+", "-", redact(urlsplit(a.url).path)).strip("-") or "root"
            run.record_page(name)
            markers = driver.execute_script(
                "return arguments[0].filter(s => document.querySelector(s) !== null)", PAGE_MARKERS)
        except CheckFailed as e:
            run.errors.append(str(e))
        except Exception as e:
            run.errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        finally:
            driver.quit()
        return {"ok": run.ok(), "steps": run.steps, "errors": run.errors, "markers": markers}


def start_standin(tmp: Path, *broken: str):
    args = [sys.executable, str(HERE / "standin" / "server.py"),
            "--maildir", str(tmp / "Maildir"), "--state", str(tmp / "state")]
    for b in broken:
        args += ["--broken", b]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        p.wait(5)
        raise RuntimeError("stand-in did not start")
    return p, json.loads(line)


def stop(p) -> None:
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def flow_args(info: dict, out: Path, reply_att: Path, lang: str | None = None):
    return argparse.Namespace(base=info["base"], link=info["link"], maildir=info["maildir"],
                              attachment_sha256=info["attachment_sha256"],
                              reply_attachment=str(reply_att), out=str(out), lang=lang,
                              to=info["address"], error_page=False, signout=False)


def cmd_selftest(a) -> dict:
    """Prove the harness both passes a good portal and fails a broken one."""
    t0 = time.monotonic()
    out = Path(a.out or tempfile.mkdtemp(prefix="sealpost-web-selftest-"))
    out.mkdir(parents=True, exist_ok=True)
    checks: list[dict] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append({"name": name, "ok": bool(ok), "detail": detail})
        log(f"selftest {'PASS' if ok else 'FAIL'} {name} {detail}")

    with tempfile.TemporaryDirectory(prefix="sealpost-web-selftest-") as tmpd:
        tmp = Path(tmpd)
        reply_att = tmp / "reply-attachment.bin"
        reply_att.write_bytes(os.urandom(200_000))
        reply_sha = sha256_file(reply_att)

        # 1. The good stand-in: the whole flow passes.
        (tmp / "good").mkdir()
        p, info = start_standin(tmp / "good")
        try:
            r = cmd_flow(flow_args(info, out / "good", reply_att))
            check("flow passes on the stand-in", r["ok"], "; ".join(r["errors"]))
            names = [s["name"] for s in r["steps"]]
            check("flow visited every page",
                  names == ["sign-in", "code-entry", "inbox", "message", "attachment", "reply", "sent"],
                  ",".join(names))
            check("no axe violations", not any(s["axe_violations"] for s in r["steps"]),
                  json.dumps([v["id"] for s in r["steps"] for v in s["axe_violations"]]))
            check("download hash matches", r["download_sha256"] == info["attachment_sha256"])
            shots = [s["screenshot"] for s in r["steps"] if s["screenshot"]]
            check("screenshots exist", len(shots) == 6 and all(
                Path(s).is_file() and Path(s).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in shots))
            replies = sorted((Path(info["state"]) / "replies").glob("*/*"))
            got = [sha256_file(f) for f in replies if f.name != "body.txt"]
            check("reply attachment arrived byte-exact", got == [reply_sha], f"{len(got)} file(s)")
            # The CSP really is in force (an inline script is refused), and
            # axe still ran: WebDriver's injection is not subject to page CSP.
            check("page CSP blocks inline script", csp_blocks_inline(info))
            caught, cookie = hash_mismatch_caught(info, out, reply_att)
            check("wrong attachment hash is caught", caught)
            r = cmd_axe(argparse.Namespace(url=info["base"] + "/portal/",
                                           cookie=[f"{SESSION_COOKIE}={cookie}"],
                                           out=str(out / "axe-inbox")))
            check("axe command with a session cookie reaches the inbox",
                  r["ok"] and "ul#inbox" in r.get("markers", []), "; ".join(r["errors"]))
            r = cmd_axe(argparse.Namespace(url=info["base"] + "/p/no-such-token", cookie=[],
                                           out=str(out / "axe-expired")))
            check("axe command passes the expired page", r["ok"] and len(r["steps"]) == 1,
                  "; ".join(r["errors"]))
        finally:
            stop(p)

        # 2. A broken stand-in: the code-entry input has no label.
        (tmp / "broken").mkdir()
        p, info = start_standin(tmp / "broken", "missing-label")
        try:
            r = cmd_flow(flow_args(info, out / "broken-label", reply_att))
            code_step = next((s for s in r["steps"] if s["name"] == "code-entry"), None)
            ids = [v["id"] for v in (code_step or {}).get("axe_violations", [])]
            check("missing label is caught by axe", not r["ok"] and "label" in ids, json.dumps(ids))
        finally:
            stop(p)

        # 3. A broken stand-in: a contract header is missing everywhere and the
        # session cookie lacks HttpOnly / SameSite=Strict.
        (tmp / "broken-h").mkdir()
        p, info = start_standin(tmp / "broken-h", "missing-header", "weak-cookie")
        try:
            r = cmd_flow(flow_args(info, out / "broken-header", reply_att))
            by = {s["name"]: s for s in r["steps"]}
            sign_in = by.get("sign-in", {})
            check("missing header is caught on pages, the 303 and the download",
                  not r["ok"] and "X-Content-Type-Options" in sign_in.get("missing_headers", [])
                  and "X-Content-Type-Options (303 /p/<token>)" in sign_in.get("missing_headers", [])
                  and "X-Content-Type-Options" in by.get("attachment", {}).get("missing_headers", []),
                  json.dumps(sign_in.get("missing_headers")))
            check("weak session cookie is caught",
                  any("lacks httponly" in c for c in sign_in.get("contract_problems", [])),
                  json.dumps(sign_in.get("contract_problems")))
        finally:
            stop(p)

    secs = round(time.monotonic() - t0, 1)
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "seconds": secs, "out": str(out),
            "errors": [c["name"] for c in checks if not c["ok"]]}


def csp_blocks_inline(info: dict) -> bool:
    with tempfile.TemporaryDirectory(prefix="sealpost-web-") as tmp:
        dl = Path(tmp, "dl")
        dl.mkdir()
        d = start_browser(dl, Path(tmp, "profile"))
        try:
            d.get(info["link"])
            wait_for(d, "form#send-code-form")
            # An inline <script> added to the DOM is subject to the CSP; the
            # execute_script calls themselves are not.
            return d.execute_async_script("""
                const done = arguments[arguments.length - 1];
                window.__inlineRan = false;
                let violated = false;
                document.addEventListener('securitypolicyviolation', () => { violated = true; });
                const s = document.createElement('script');
                s.textContent = 'window.__inlineRan = true;';
                document.body.appendChild(s);
                setTimeout(() => done(!window.__inlineRan && violated), 300);""")
        finally:
            d.quit()


def hash_mismatch_caught(info: dict, out: Path, reply_att: Path) -> tuple[bool, str | None]:
    """Run only as far as the download with a wrong expected hash: must be reported.
    Also returns the signed-in session cookie (for the axe command's self-test)."""
    with tempfile.TemporaryDirectory(prefix="sealpost-web-") as tmp:
        dl = Path(tmp, "dl")
        dl.mkdir()
        d = start_browser(dl, Path(tmp, "profile"))
        (out / "wrong-hash").mkdir(parents=True, exist_ok=True)
        run = Run(d, out / "wrong-hash", origin_of(info["base"]))
        try:
            step_open_link(run, info["link"])
            code = step_send_code(run, Path(info["maildir"]), info["address"])
            step_verify(run, code)
            step_open_first_message(run)
            step_download_first_attachment(run, dl, "0" * 64)
            cookie = next((c["value"] for c in d.get_cookies() if c["name"] == SESSION_COOKIE), None)
        finally:
            d.quit()
        return any("sha256" in e for e in run.errors) and not run.ok(), cookie


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sealpost portal browser tests (headless Chromium)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flow", help="token link -> code -> inbox -> message -> download -> reply")
    f.add_argument("--base", required=True, help="portal origin, e.g. https://127.0.0.1:8443")
    f.add_argument("--link", required=True, help="the token link from the notification")
    f.add_argument("--maildir", required=True, help="Maildir receiving the code mail")
    f.add_argument("--attachment-sha256", required=True, help="expected SHA-256 of attachment 1")
    f.add_argument("--reply-attachment", required=True, help="file to attach to the reply")
    f.add_argument("--out", required=True, help="directory for screenshots")
    f.add_argument("--lang", choices=["en", "es"], help="switch the portal to this language first")
    f.add_argument("--to", help="only code mails addressed to this address")
    f.add_argument("--error-page", action="store_true",
                   help="after the reply, open a message that does not exist (step 'error')")
    f.add_argument("--signout", action="store_true", help="finally sign out (step 'signed-out')")
    lo = sub.add_parser("lockout", help="token link -> code -> wrong codes until main#locked")
    lo.add_argument("--base", required=True, help="portal origin, e.g. https://127.0.0.1:8443")
    lo.add_argument("--link", required=True, help="the token link from the notification")
    lo.add_argument("--failures", type=int, default=10, help="wrong codes that must lock (default 10)")
    lo.add_argument("--lang", choices=["en", "es"], help="switch the portal to this language first")
    lo.add_argument("--out", required=True, help="directory for screenshots")
    x = sub.add_parser("axe", help="axe + headers + screenshot of one page")
    x.add_argument("--url", required=True)
    x.add_argument("--cookie", action="append", help="NAME=VALUE, repeatable")
    x.add_argument("--lang", choices=["en", "es"],
                   help="then use the page's own a[hreflang=LANG] and check that page instead")
    x.add_argument("--out", required=True)
    s = sub.add_parser("selftest", help="run against the stand-in; prove good passes, broken fails")
    s.add_argument("--out", help="directory for screenshots (default: a temp dir, kept)")
    a = ap.parse_args(argv)
    if a.cmd == "flow" and not re.fullmatch(r"[0-9a-fA-F]{64}", a.attachment_sha256):
        ap.error("--attachment-sha256 must be 64 hex digits")
    try:
        result = {"flow": cmd_flow, "axe": cmd_axe, "lockout": cmd_lockout,
                  "selftest": cmd_selftest}[a.cmd](a)
    except Exception as e:  # no browser, no selenium...: still one JSON object
        log(traceback.format_exc())
        hint = " (run scripts/setup-test-env.sh; use <repo>/.venv-test/bin/python)" \
            if isinstance(e, ImportError) or "chrom" in str(e).lower() else ""
        result = {"ok": False, "steps": [], "errors": [f"{type(e).__name__}: {e}{hint}"]}
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
