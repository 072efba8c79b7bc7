"""The instructor's secret: strong, stretched, and never stored.

A student sees the weights on their own sheet.  If the per-student seed were
a fast hash of the secret, a student could try guesses offline until one
rebuilds their own sheet, and then rebuild every classmate's.  So:

* the secret is stretched once per class with scrypt (:func:`class_key`), so
  each offline guess costs a fraction of a second and 64 MiB, not nanoseconds;
* seeds are HMACs of the student id under that stretched key (cheap per student);
* the manifest's check value is salted with the spec and stretched too, so it
  is no faster a test of a guess than the sheets are;
* a weak secret is refused before any sheet is made (:func:`weakness`).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets as _random

# scrypt's cost: 2**16 × 8 × 128 bytes = 64 MiB and about 0.3 s per guess on a
# 2-core 2026 machine (benchmarks/bench_secret.py).  Changing it changes every seed.
SCRYPT = {"n": 2 ** 16, "r": 8, "p": 1}
_MAXMEM = 2 ** 27
MIN_LENGTH = 12
MIN_GUESSES_LOG10 = 10   # zxcvbn's score 4: "very unguessable"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read aloud and type


def _stretch(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8", "surrogatepass"), salt=salt, dklen=32,
                          maxmem=_MAXMEM, **SCRYPT)


@functools.lru_cache(maxsize=8)
def class_key(secret: str) -> bytes:
    """The secret stretched by scrypt: computed once per class, the root of every seed."""
    return _stretch(secret, b"derive-class-key-v1")


def student_seed(secret: str, student_id: str, attempt: int = 0) -> int:
    """HMAC-SHA256 of the id under the class key, as a 64-bit seed; ``attempt`` > 0 gives a fresh one."""
    msg = student_id if attempt == 0 else f"{student_id}#{attempt}"
    digest = hmac.new(class_key(secret), msg.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


@functools.lru_cache(maxsize=8)
def secret_check(secret: str, salt: str) -> dict:
    """What the manifest stores to recognise the secret later: a salted, stretched hash."""
    digest = _stretch(secret, b"derive-secret-check:" + salt.encode())
    return {"kdf": "scrypt", **SCRYPT, "salt": salt, "hash": digest[:12].hex()}


def matches(secret: str, check: dict) -> bool:
    """Whether ``secret`` is the one a manifest's check value was made from."""
    if check.get("kdf") != "scrypt" or any(check.get(k) != v for k, v in SCRYPT.items()):
        return False
    expected = secret_check(secret, str(check.get("salt", "")))["hash"]
    return hmac.compare_digest(expected, str(check.get("hash", "")))


def weakness(secret: str) -> str | None:
    """Why ``secret`` is too easy to guess (short, common, a word, a pattern), or None."""
    if len(secret) < MIN_LENGTH:
        return f"it has {len(secret)} characters; use at least {MIN_LENGTH}"
    from zxcvbn import zxcvbn  # loads its dictionaries: only when a class is made
    estimate = zxcvbn(secret[:72])  # its matching is quadratic, and zxcvbn 4.5 refuses more than 72
    if estimate["guesses_log10"] < MIN_GUESSES_LOG10:
        hint = estimate["feedback"]["warning"] or "it is built from words or patterns that are tried first"
        return f"about 10^{estimate['guesses_log10']:.0f} guesses would find it ({hint.rstrip('.')})"
    return None


def new_secret() -> str:
    """A random secret of 124 bits, in five groups of five easy-to-read characters."""
    chars = "".join(_random.choice(_ALPHABET) for _ in range(25))
    return "-".join(chars[i:i + 5] for i in range(0, 25, 5))
