"""An independent evaluator of the worked lines derive prints (it does not import derive).

``evaluate_latex`` reads the LaTeX of one substituted line -- the formula
with every symbol replaced by a number -- and computes its value exactly:
``fractions.Fraction`` for + − × ÷ and integer powers; e^x, ln, tanh, σ,
softplus and logsumexp through the ``decimal`` module at 60 significant
digits (Fraction → Decimal → Fraction).  ``round_half_up`` rounds the result
as the sheet's rule says: to ``decimals`` places, halves away from zero.

The input is tokenized, then parsed by recursive descent::

    expr     := term (("+" | "-") term)*
    term     := unary (("\\cdot" | "\\times")? unary)*     # adjacency is ×
    unary    := ("-" | "+") unary | power
    power    := primary ("^" exponent)?
    exponent := "{" expr "}" | NUMBER
    primary  := NUMBER
              | "(" expr ")" | "\\left(" expr "\\right)" | "{" expr "}"
              | "\\left|" expr "\\right|"                   # absolute value
              | "\\frac" "{" expr "}" "{" expr "}"
              | "e" "^" exponent                            # exp
              | FUNCTION ("^" exponent)? arguments          # \\tanh^{2}{\\left(x\\right)}
    arguments:= "{" arguments "}" | "\\left(" expr ("," expr)* "\\right)" | "(" … ")"

Anything the tokenizer or the grammar does not know raises ``ValueError``
naming the offending text, so a new printed form cannot pass silently.
"""
from __future__ import annotations

import decimal
import re
from decimal import Decimal
from fractions import Fraction
from typing import Callable, NamedTuple

PRECISION = 60


_GROUPS = {"(": (")", lambda v: v), r"\left(": (r"\right)", lambda v: v), "{": ("}", lambda v: v),
           r"\left|": (r"\right|", abs)}
"""Opening token of a group → (its closing token, what the group does to its value)."""


class Undefined(ArithmeticError):
    """The line has no value (ln of a number ≤ 0, a division by zero)."""


# --- exact arithmetic helpers -------------------------------------------------------

def _to_decimal(q: Fraction) -> Decimal:
    return Decimal(q.numerator) / Decimal(q.denominator)  # in the caller's 60-digit context


def _exp(q: Fraction) -> Fraction:
    with decimal.localcontext(prec=PRECISION, Emax=10**6, Emin=-10**6):
        return Fraction(_to_decimal(q).exp())


def _ln(q: Fraction) -> Fraction:
    if q <= 0:
        raise Undefined(f"ln of {q} (not positive)")
    with decimal.localcontext(prec=PRECISION, Emax=10**6, Emin=-10**6):
        return Fraction(_to_decimal(q).ln())


def _tanh(q: Fraction) -> Fraction:
    # tanh x = (e^{2x} - 1) / (e^{2x} + 1); use e^{-2|x|} so nothing overflows
    t = _exp(-2 * abs(q))
    r = (1 - t) / (1 + t)
    return r if q >= 0 else -r


def _sigma(q: Fraction) -> Fraction:
    # 1 / (1 + e^{-x}), written for either sign without overflow
    if q >= 0:
        return 1 / (1 + _exp(-q))
    t = _exp(q)
    return t / (1 + t)


def _softplus(q: Fraction) -> Fraction:  # ln(1 + e^x)
    return max(q, Fraction(0)) + _ln(1 + _exp(-abs(q)))


def _logsumexp(*qs: Fraction) -> Fraction:  # ln Σ e^x
    m = max(qs)
    return m + _ln(sum((_exp(q - m) for q in qs), Fraction(0)))


def _sign(q: Fraction) -> Fraction:
    return Fraction((q > 0) - (q < 0))


def _one(f: Callable[[Fraction], Fraction]) -> Callable[..., Fraction]:
    def call(*args: Fraction) -> Fraction:
        if len(args) != 1:
            raise ValueError(f"expected one argument, got {len(args)}")
        return f(args[0])
    return call


FUNCTIONS: dict[str, Callable[..., Fraction]] = {
    r"\sigma": _one(_sigma),
    r"\tanh": _one(_tanh),
    r"\ln": _one(_ln),
    r"\log": _one(_ln),  # natural log, as the sheets say
    r"\exp": _one(_exp),
    r"\max": max,  # a gradient check's relative error
    "ReLU": _one(lambda x: x if x > 0 else Fraction(0)),
    "ReLU'": _one(lambda x: Fraction(1) if x > 0 else Fraction(0)),
    "LReLU": _one(lambda x: x if x > 0 else x / 100),
    "LReLU'": _one(lambda x: Fraction(1) if x > 0 else Fraction(1, 100)),
    "sign": _one(_sign),
    "softplus": _one(_softplus),
    "logsumexp": _logsumexp,
    "id": _one(lambda x: x),
    r"\sqrt": _one(lambda x: Fraction(decimal.Context(prec=PRECISION).sqrt(_to_decimal(x)))),
}


# --- tokenizer ----------------------------------------------------------------------

class Token(NamedTuple):
    kind: str   # NUM, FUNC, or the literal text of a symbol/command
    text: str
    pos: int


_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_OPERATORNAME = re.compile(r"\\operatorname\{([A-Za-z]+)\}('?)")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_PUNCT = {"+", "-", "(", ")", "{", "}", "^", ","}
_LEFT_RIGHT = {r"\left(": r"\left(", r"\right)": r"\right)",
               r"\left|": r"\left|", r"\right|": r"\right|"}


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "._"):
                # 1e-05, 5E-8, 0.5.3, 2x: a number glued to more text is not a form we know
                raise ValueError(f"unexpected text {text[i:end + 8]!r} at {i} in {text!r} "
                                 "(a number followed directly by a letter, digit or dot)")
            out.append(Token("NUM", m.group(), i))
            i = end
            continue
        if c == "\\":
            two = next((k for k in _LEFT_RIGHT if text.startswith(k, i)), None)
            if two is not None:
                out.append(Token(two, two, i))
                i += len(two)
                continue
            m = _OPERATORNAME.match(text, i)
            if m:
                name = m.group(1) + m.group(2)
                if name not in FUNCTIONS:
                    raise ValueError(f"unknown function {m.group()!r} at {i} in {text!r}")
                out.append(Token("FUNC", name, i))
                i = m.end()
                continue
            m = _COMMAND.match(text, i)
            if m:
                cmd = m.group()
                if cmd in (r"\cdot", r"\times", r"\frac"):
                    out.append(Token(cmd, cmd, i))
                elif cmd in FUNCTIONS:
                    out.append(Token("FUNC", cmd, i))
                else:
                    raise ValueError(f"unexpected command {cmd!r} at {i} in {text!r}")
                i = m.end()
                continue
            raise ValueError(f"unexpected text {text[i:i + 8]!r} at {i} in {text!r}")
        if c == "e":
            # Euler's e only as a base of a power: e^{x}
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if (j < n and text[j] == "^") and not (i > 0 and text[i - 1].isalpha()):
                out.append(Token("e", "e", i))
                i += 1
                continue
            raise ValueError(f"unexpected text {text[i:i + 8]!r} at {i} in {text!r}")
        if c in _PUNCT:
            out.append(Token(c, c, i))
            i += 1
            continue
        raise ValueError(f"unexpected text {text[i:i + 8]!r} at {i} in {text!r}")
    return out


# --- parser -------------------------------------------------------------------------

# tokens that can begin a factor (for multiplication by juxtaposition)
_STARTS_PRIMARY = {"NUM", "(", "{", r"\left(", r"\left|", r"\frac", "e", "FUNC"}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # helpers
    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def kind(self) -> str | None:
        t = self.peek()
        return t.kind if t else None

    def fail(self, what: str) -> ValueError:
        t = self.peek()
        where = f"{t.text!r} at {t.pos}" if t else "the end"
        return ValueError(f"{what}: unexpected {where} in {self.text!r}")

    def expect(self, kind: str) -> Token:
        if self.kind() != kind:
            raise self.fail(f"expected {kind!r}")
        t = self.tokens[self.i]
        self.i += 1
        return t

    def accept(self, kind: str) -> bool:
        if self.kind() == kind:
            self.i += 1
            return True
        return False

    # grammar
    def parse(self) -> Fraction:
        if not self.tokens:
            raise ValueError(f"empty expression {self.text!r}")
        v = self.expr()
        if self.peek() is not None:
            raise self.fail("expected the end")
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while self.kind() in ("+", "-"):
            op = self.expect(self.kind()).kind
            rhs = self.term()
            v = v + rhs if op == "+" else v - rhs
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while True:
            if self.kind() in (r"\cdot", r"\times"):
                self.i += 1
                v *= self.unary()
            elif self.kind() in _STARTS_PRIMARY:
                v *= self.unary()  # juxtaposition: 2 \left(…\right)
            else:
                return v

    def unary(self) -> Fraction:
        if self.accept("-"):
            return -self.unary()
        if self.accept("+"):
            return self.unary()
        return self.power()

    def power(self) -> Fraction:
        if self.kind() == "e":
            self.i += 1
            self.expect("^")
            return _exp(self.exponent())
        base = self.primary()
        if self.accept("^"):
            return _int_power(base, self.exponent(), self)
        return base

    def exponent(self) -> Fraction:
        if self.kind() == "NUM":
            return Fraction(self.expect("NUM").text)
        self.expect("{")
        v = self.expr()
        self.expect("}")
        return v

    def primary(self) -> Fraction:
        k = self.kind()
        if k == "NUM":
            return Fraction(self.expect("NUM").text)
        if k in _GROUPS:  # ( … ), \left( … \right), { … }, \left| … \right|
            close, apply = _GROUPS[k]
            self.i += 1
            v = self.expr()
            self.expect(close)
            return apply(v)
        if k == r"\frac":
            self.i += 1
            self.expect("{")
            num = self.expr()
            self.expect("}")
            self.expect("{")
            den = self.expr()
            self.expect("}")
            if den == 0:
                raise Undefined(f"division by zero in {self.text!r}")
            return num / den
        if k == "FUNC":
            name = self.expect("FUNC").text
            if name == r"\sqrt":  # \sqrt{u}: its braces are the argument's own
                self.expect("{")
                v = self.expr()
                self.expect("}")
                return FUNCTIONS[name](v)
            n = self.exponent() if self.accept("^") else None  # \tanh^{2}{\left(x\right)}
            v = FUNCTIONS[name](*self.arguments())
            return v if n is None else _int_power(v, n, self)
        raise self.fail("expected a number, a group or a function")

    def arguments(self) -> list[Fraction]:
        if self.accept("{"):
            args = self.arguments()
            self.expect("}")
            return args
        for open_, close in ((r"\left(", r"\right)"), ("(", ")")):
            if self.accept(open_):
                args = [self.expr()]
                while self.accept(","):
                    args.append(self.expr())
                self.expect(close)
                return args
        raise self.fail("expected a function's argument")


def _int_power(base: Fraction, n: Fraction, p: _Parser) -> Fraction:
    if n.denominator != 1:
        raise ValueError(f"non-integer power {n} in {p.text!r}")
    if base == 0 and n < 0:
        raise Undefined(f"0 to a negative power in {p.text!r}")
    return base ** int(n)


def evaluate_latex(text: str) -> Fraction:
    """The exact value of one substituted worked line (transcendentals to 60 digits)."""
    return _Parser(text).parse()


def round_half_up(q: Fraction, decimals: int) -> Decimal:
    """``q`` rounded to ``decimals`` places, halves away from zero, as a Decimal with that many places.

    -0.125 → -0.13 at 2 places; a value that rounds to zero is 0.00…, never -0.00….
    """
    q = Fraction(q)
    scaled = abs(q) * 10 ** decimals
    units, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        units += 1
    sign = "-" if q < 0 and units else ""
    digits = str(units).rjust(decimals + 1, "0")
    text = f"{sign}{digits[:-decimals]}.{digits[-decimals:]}" if decimals > 0 else f"{sign}{digits}"
    return Decimal(text)
