"""Verify the DKIM-Signature of one message with dkimpy, reading public keys from a file, not DNS.

usage: python dkimpy_verify.py KEYS MESSAGE

KEYS holds one key record per line, either
    <selector>._domainkey.<domain> <TXT value>            (e.g. s1._domainkey.example.com v=DKIM1; k=rsa; p=...)
or a zone-file line whose quoted strings are joined:
    <selector>._domainkey.<domain>. IN TXT "..." "..."

Prints one line: "PASS a=<alg> d=<domain> s=<selector>" or "FAIL <reason>".
Exit status: 0 valid, 1 invalid, 2 cannot verify here (dkimpy or pynacl missing, bad input).
"""
import logging
import re
import sys

try:
    import dkim
except ImportError as e:
    print(f"SETUP {e}: run scripts/setup-test-env.sh (it installs dkimpy into .venv-test)")
    sys.exit(2)
try:
    import nacl.signing  # noqa: F401  dkimpy needs PyNaCl for ed25519-sha256
except ImportError as e:
    print(f"SETUP {e}: dkimpy needs PyNaCl for ed25519: .venv-test/bin/python -m pip install pynacl")
    sys.exit(2)

def load_keys(path):
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            m = re.match(r'^(\S+)\s+IN\s+TXT\s+(".*")$', line)
            if m:
                name, value = m.group(1), "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
                value = re.sub(r"\\(.)", r"\1", value)
            else:
                name, value = line.split(None, 1)
            keys[name.rstrip(".").lower()] = value
    return keys


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.errors = []

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    keys = load_keys(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        message = f.read()
    asked = []

    def dnsfunc(name, timeout=5):
        name = (name.decode() if isinstance(name, bytes) else name).rstrip(".").lower()
        asked.append(name)
        value = keys.get(name)
        return value.encode() if value is not None else None

    logger = logging.getLogger("dkimpy_verify")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    collect = Collect()
    logger.addHandler(collect)

    d = dkim.DKIM(message, logger=logger, minkey=1024)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if len(sigs) != 1:
        print(f"FAIL expected one DKIM-Signature, found {len(sigs)}")
        sys.exit(1)
    tags = {k.decode(): re.sub(rb"\s+", b"", v).decode() for k, v in re.findall(rb"\s*(\w+)\s*=\s*([^;]*)", sigs[0])}
    try:
        ok = d.verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        ok, collect.errors = False, collect.errors + [str(e)]
    missing = [n for n in asked if n not in keys]
    if ok:
        print(f"PASS a={tags.get('a')} d={tags.get('d')} s={tags.get('s')}")
        sys.exit(0)
    reason = "; ".join(collect.errors) or (f"no public key for {missing[0]}" if missing else "signature mismatch")
    print(f"FAIL {reason}")
    sys.exit(1)


if __name__ == "__main__":
    main()
