"""The sheet code: a short, typeable name of one student's sheet, and its QR code.

A code is 7 characters drawn from an HMAC-SHA256 of ``spec fingerprint NUL
student id`` under the class key (:func:`derive.secret.class_key`, the
secret stretched once by scrypt), then one check character: 8 characters,
printed ``K7QM-X2VD``.  Without the secret, no one can make another
student's code.

The alphabet is 31 symbols: the digits 2-9 and the capital letters without
I, L and O, so nothing on the sheet reads as 0/O or 1/l/I.  31 is prime,
which makes the check a weighted sum modulo 31 (ISO 7064's idea): with
weights 1, 2, …, 8 on the characters' values, the sum of a valid code is
0 mod 31.

* a single substitution changes the sum by w·(a − b), and neither w (1-8)
  nor a − b (±1-30) is a multiple of the prime 31: caught;
* swapping neighbours a b → b a changes it by (w_i − w_{i+1})(a − b) =
  −(a − b) ≠ 0 mod 31: caught.

Luhn mod N misses some transpositions and Damm needs a quasigroup table;
a prime-sized alphabet gets both guarantees from one line of arithmetic.

Typing: :func:`normalize_code` trims, upper-cases and drops spaces and
dashes, nothing more.  It does not guess 0 → O or 1 → I: neither is in the
alphabet, so a code with one is invalid and reported, not silently changed.
"""
from __future__ import annotations

import functools
import hashlib
import hmac

from .errors import RosterError
from .secret import class_key

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
P = len(ALPHABET)  # 31, a prime: see the module's docstring
BODY = 7           # random characters: 31**7 ≈ 2.8e10 codes
LENGTH = BODY + 1  # and the check character
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
assert P == 31


def _check_char(body: str) -> str:
    """The character that makes Σ (i+1)·value(c_i) over the whole code ≡ 0 (mod 31)."""
    s = sum((i + 1) * _VALUE[c] for i, c in enumerate(body))
    # the check sits at weight LENGTH: LENGTH·v ≡ −s, so v = −s · LENGTH⁻¹ (mod 31)
    return ALPHABET[(-s * pow(LENGTH, -1, P)) % P]


def sheet_code(secret: str, student_id: str, spec_fingerprint: str) -> str:
    """The 8-character code of a student's sheet for one spec, under the class's secret."""
    msg = f"{spec_fingerprint}\0{student_id}".encode("utf-8", "surrogatepass")
    n = int.from_bytes(hmac.new(class_key(secret), msg, hashlib.sha256).digest(), "big")
    body = ""
    for _ in range(BODY):  # 256 bits into 7 base-31 digits: the bias is below 2**-220
        n, r = divmod(n, P)
        body += ALPHABET[r]
    return body + _check_char(body)


def normalize_code(text: str) -> str:
    """A typed code as stored: trimmed, upper-case, without spaces or dashes (no look-alike guessing)."""
    return "".join(text.split()).replace("-", "").replace("\u2010", "").replace("\u2013", "").upper()


def valid_code(code: str) -> bool:
    """Whether a (normalized) code has 8 characters of the alphabet and a matching check character."""
    return (len(code) == LENGTH and all(c in _VALUE for c in code)
            and sum((i + 1) * _VALUE[c] for i, c in enumerate(code)) % P == 0)


def printed_code(code: str) -> str:
    """The code as a sheet prints it: two groups of four (``K7QM-X2VD``)."""
    return f"{code[:4]}-{code[4:]}"


@functools.lru_cache(maxsize=8)  # a student's blank and solved sheets show one code: encode it once
def qr_matrix(code: str) -> tuple[tuple[int, ...], ...]:
    """The QR code's modules (1 dark), rows top to bottom, without the quiet zone: segno's, error level M."""
    import segno
    return tuple(tuple(int(bool(m)) for m in row) for row in segno.make(code, micro=False, error="m").matrix)


def qr_picture(code: str, size_mm: float = 15.0) -> dict:
    """The QR code as rectangles for a TeX ``picture`` (unit mm, origin bottom left).

    Each run of dark modules in a row is one ``\\rule``: ``{x, y, w, h}`` in mm,
    so TeX only draws, and the drawing is vectors (no image, no font).
    """
    matrix = qr_matrix(code)
    n = len(matrix)
    m = size_mm / n
    runs = []
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                runs.append({"x": _mm(start * m), "y": _mm((n - 1 - r) * m), "w": _mm((c - start) * m),
                             "h": _mm(m)})
            else:
                c += 1
    return {"size": _mm(size_mm), "modules": n, "module": _mm(m), "runs": runs}


def _mm(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".") or "0"


def class_codes(secret: str, spec_fingerprint: str, student_ids) -> dict[str, str]:
    """Each student's code; two students with one code (about 1 in 10^7 for 300) is an error."""
    codes = {sid: sheet_code(secret, sid, spec_fingerprint) for sid in student_ids}
    owners: dict[str, str] = {}
    for sid, code in codes.items():
        if code in owners:
            raise RosterError(f"students {owners[code]} and {sid} got the same sheet code {code}; "
                             "choose another secret")
        owners[code] = sid
    return codes
