"""A small exact algebra for tensor dimensions: integers, symbols, +, -, * and floor division.

Shapes of conv nets are built from `floor((H + c) / s)` steps, so a polynomial whose atoms are
symbols or floors of polynomials, with nested floors folded (`floor(floor(x/a)/b) ==
floor(x/(a*b))`), is exact and stays small. We avoid sympy on purpose: `archspec check` must
answer in milliseconds and sympy alone takes most of a second to import.

A spec can still make an expression grow without bound (concatenations of ever more floors,
or floors of sums of floors whose text doubles at every layer), so every Dim is bounded:
at most MAX_SIZE terms and atoms counted in full, floors nested at most MAX_DEPTH deep.
Past either, arithmetic raises ExpressionTooLarge, which the layer registry turns into a
located shape error (E411) instead of a hang, a memory blow-up or a RecursionError. The
registry also refuses a layer's output size holding a number past MAX_NUMBER
(`check_numbers`): upsampling or strides repeated thousands of times make numbers of
thousands of digits, which no tensor has and Python will not print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .lazymethods import dataclass

Monomial = tuple["Atom", ...]

#: The most terms and atoms one expression may hold, nested floors counted in full (the
#: built-in specs need at most 16).
MAX_SIZE = 10_000
#: The deepest nesting of floors (built-in specs: 1); evaluation and printing recurse on it.
MAX_DEPTH = 64
#: The largest number (a constant, coefficient or divisor) the size of a layer's output may
#: hold: past any tensor torch can hold (2^63 elements), yet room for the product of eight
#: dims of 10^15 (a flatten of the largest input a spec can declare). Thousands of strided
#: or upsampling layers in a chain made numbers of thousands of digits, which Python refuses
#: to print and no float holds.
MAX_NUMBER = 10**120
#: The most dims a layer's output may have (E401, the registry's bounded shape rule): torch
#: reduces at most 64 (`x.sum(0)` of 65 dims fails), and every later layer's shape holds them
#: all: a `reshape` to 3,000 dims and 2,000 layers after it took 31 s to summarise.
MAX_RANK = 64


#: Names given to the spatial dims of an input, by their count (`(N, C, H, W)`): the shape
#: pass's symbols, and the axis names of shape messages.
SPATIAL_NAMES: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


class ExpressionTooLarge(ArithmeticError):
    """A dimension expression past MAX_SIZE or MAX_DEPTH: too large to track exactly."""


@dataclass(frozen=True)
class Sym:
    """A named dimension (`N`, `H`, `W`, ...)."""

    name: str

    def key(self) -> str:
        return "0" + self.name

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Floor:
    """floor(inner / divisor) with divisor >= 2 and `inner` not a constant."""

    inner: Dim
    divisor: int

    def __post_init__(self) -> None:
        if self.inner.depth >= MAX_DEPTH:
            raise ExpressionTooLarge(f"a size expression nests floors more than {MAX_DEPTH} deep")

    def key(self) -> str:
        # sorting monomials asks for this often; the text of an immutable floor never changes
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = "1" + str(self)
            object.__setattr__(self, "_key", cached)
        return cached

    def __str__(self) -> str:
        return _paren_floor(self)

    def __hash__(self) -> int:
        # The length joins the divisor: an int hashes modulo 2**61 - 1, so 2**k and
        # 2**(k + 61) hash alike, and a chain of poolings (floors of H / 2**k) would
        # collide in every set of requirements, quadratic in the depth.
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.inner, self.divisor, self.divisor.bit_length()))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[object, ...]:
        # the caches stay behind: a text's hash differs from one process to the next
        return (Floor, (self.inner, self.divisor))


Atom = Sym | Floor


def _mono_key(m: Monomial) -> tuple[str, ...]:
    return tuple(a.key() for a in m)


def _mono_size(m: Monomial) -> int:
    return sum(1 if isinstance(a, Sym) else a.inner.size + 1 for a in m)


class Dim:
    """An exact integer-valued expression; immutable and hashable."""

    __slots__ = ("__dict__", "_const", "_terms", "is_const")
    #: no symbol: the Dim is a number (a slot set where a Dim is made, not a property: shape
    #: rules, passes and the IR's readers ask it of nearly every dim they see)
    is_const: bool

    def __init__(self, terms: Mapping[Monomial, int] | None = None, const: int = 0) -> None:
        if terms:
            clean = {m: c for m, c in terms.items() if c != 0}
            size = 1 + sum(1 + _mono_size(m) for m in clean)
            if size > MAX_SIZE:
                raise ExpressionTooLarge(
                    f"a size expression grows to {size:,} terms and atoms, past the limit "
                    f"of {MAX_SIZE:,}"
                )
            self.__dict__["size"] = size
            self._terms: tuple[tuple[Monomial, int], ...] = (
                tuple(sorted(clean.items(), key=lambda mc: (len(mc[0]), _mono_key(mc[0]))))
                if len(clean) > 1
                else tuple(clean.items())  # one term (or none) is sorted already
            )
        else:
            self._terms = ()
        self.is_const = not self._terms
        # an int subclass is kept as it is: the emitter passes shape rules ints that record
        # the arithmetic done with them (backends/emit/rules.py)
        self._const = (
            const if isinstance(const, int) and not isinstance(const, bool) else int(const)
        )

    @classmethod
    def _canonical(cls, terms: tuple[tuple[Monomial, int], ...], const: int) -> Dim:
        """A Dim from terms already sorted and free of zeros (skips the sort: shape rules
        mostly add and scale constants, and each sort is most of a small Dim's cost)."""
        out = object.__new__(cls)
        out._terms = terms
        out._const = const
        out.is_const = not terms
        return out

    # construction -----------------------------------------------------------------
    @staticmethod
    def of(value: int | Dim | str) -> Dim:
        """Coerce an int, a symbol name or a Dim."""
        if type(value) is int:  # the most common: no __init__, no checks of the type
            out = object.__new__(Dim)
            out._terms = ()
            out._const = value
            out.is_const = True
            return out
        if isinstance(value, Dim):
            return value
        if isinstance(value, bool):
            raise TypeError("a dimension cannot be a boolean")
        if isinstance(value, int):
            return Dim(None, value)
        if isinstance(value, str):
            return Dim({(Sym(value),): 1})
        raise TypeError(f"cannot make a dimension of {value!r}")

    # inspection -------------------------------------------------------------------
    @property
    def value(self) -> int:
        """The integer value of a constant Dim."""
        if self._terms:
            raise ValueError(f"{self} is symbolic")
        return self._const

    @property
    def const(self) -> int:
        return self._const

    def __int__(self) -> int:
        """`int(summary.macs)` of a concrete input; a symbolic Dim has no one value."""
        if self._terms:
            names = ", ".join(sorted(self.symbols))
            raise TypeError(f"a size symbolic in {names} has no one value: give a concrete input")
        return self._const

    def __float__(self) -> float:
        """`float(summary.macs) / 1e9`: as `int()`."""
        return float(int(self))

    def __format__(self, spec: str) -> str:
        """`f"{summary.macs:,}"` formats a number as an int; a symbolic Dim's text has none."""
        return format(int(self), spec) if spec or self.is_const else str(self)

    @property
    def terms(self) -> tuple[tuple[Monomial, int], ...]:
        return self._terms

    @property
    def terms_count(self) -> int:
        return len(self._terms)

    # The three facts below are kept in the instance's __dict__ once computed (a plain
    # property reading it: functools.cached_property takes a lock on every first read).
    @property
    def symbols(self) -> frozenset[str]:
        known = self.__dict__.get("symbols")
        if known is not None:
            return known  # type: ignore[no-any-return]
        out: set[str] = set()
        for mono, _ in self._terms:
            for atom in mono:
                if isinstance(atom, Sym):
                    out.add(atom.name)
                else:
                    out |= atom.inner.symbols
        known = self.__dict__["symbols"] = frozenset(out)
        return known

    @property
    def size(self) -> int:
        """Terms and atoms, nested floors counted in full: what one `evaluate` or `str` costs."""
        known = self.__dict__.get("size")
        if known is None:
            known = self.__dict__["size"] = 1 + sum(1 + _mono_size(m) for m, _ in self._terms)
        return known  # type: ignore[no-any-return]

    @property
    def depth(self) -> int:
        """How deeply floors nest (0 for a polynomial in symbols)."""
        known = self.__dict__.get("depth")
        if known is None:
            known = self.__dict__["depth"] = max(
                (a.inner.depth + 1 for m, _ in self._terms for a in m if isinstance(a, Floor)),
                default=0,
            )
        return known  # type: ignore[no-any-return]

    def is_monotone(self) -> bool:
        """True when the value never decreases as any symbol grows (given non-negative atoms)."""
        for mono, coeff in self._terms:
            if coeff < 0:
                return False
            for atom in mono:
                if isinstance(atom, Floor) and not atom.inner.is_monotone():
                    return False
        return True

    # arithmetic -------------------------------------------------------------------
    def __add__(self, other: int | Dim) -> Dim:
        if type(other) is int:  # a constant: no Dim made for it
            return Dim._canonical(self._terms, self._const + other)
        o = Dim.of(other)
        # New objects even for `+ 0`: a product's remembered factors must not carry over.
        if not o._terms:
            return Dim._canonical(self._terms, self._const + o._const)
        if not self._terms:
            return Dim._canonical(o._terms, self._const + o._const)
        terms = dict(self._terms)
        for m, c in o._terms:
            terms[m] = terms.get(m, 0) + c
        return Dim(terms, self._const + o._const)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim._canonical(tuple((m, -c) for m, c in self._terms), -self._const)

    def __sub__(self, other: int | Dim) -> Dim:
        if type(other) is int is type(self._const):  # no Dim made (a traced const adds)
            return Dim._canonical(self._terms, self._const - other)
        return self + (-Dim.of(other))

    def __rsub__(self, other: int | Dim) -> Dim:
        return Dim.of(other) - self

    def __mul__(self, other: int | Dim) -> Dim:
        o = Dim.of(other)
        if not o._terms or not self._terms:  # scaling by a constant keeps the order
            k, d = (o._const, self) if not o._terms else (self._const, o)
            if k == 0:
                return Dim(None, 0)
            return Dim._canonical(tuple((m, c * k) for m, c in d._terms), d._const * k)
        pairs = (len(self._terms) + 1) * (len(o._terms) + 1)
        if pairs > MAX_SIZE:
            raise ExpressionTooLarge(
                f"a product of size expressions has {pairs:,} terms, past the limit of {MAX_SIZE:,}"
            )
        terms: dict[Monomial, int] = {}
        for m1, c1 in (*self._terms, ((), self._const)):
            for m2, c2 in (*o._terms, ((), o._const)):
                m = tuple(sorted(m1 + m2, key=lambda a: a.key()))
                terms[m] = terms.get(m, 0) + c1 * c2
        const = terms.pop((), 0)
        return Dim(terms, const)

    __rmul__ = __mul__

    def floordiv(self, d: int) -> Dim:
        """floor(self / d) for a positive integer d, folded into a canonical form."""
        if not isinstance(d, int) or d <= 0:
            raise ValueError("divisor must be a positive integer")
        if d == 1:
            return self
        if not self._terms:  # a constant, as Dim(None, ...) makes it (an int stays as it is)
            return Dim._canonical((), self._const // d)
        q_terms: list[tuple[Monomial, int]] = []
        r_terms: list[tuple[Monomial, int]] = []
        for m, c in self._terms:
            q, r = divmod(c, d)
            if q:
                q_terms.append((m, q))
            if r:
                r_terms.append((m, r))
        q_const, r_const = divmod(self._const, d)
        # both keep terms of `self` in its order, free of zeros: canonical as they are
        quotient = Dim._canonical(tuple(q_terms), q_const)
        if not r_terms:
            return quotient
        rem = Dim._canonical(tuple(r_terms), r_const)
        if len(r_terms) == 1:
            ((mono, coeff),) = r_terms
            if coeff == 1 and len(mono) == 1 and isinstance(mono[0], Floor):
                inner, a = mono[0].inner, mono[0].divisor
                return quotient + (inner + r_const * a).floordiv(a * d)
        return quotient + _one_atom(Floor(rem, d))

    def __floordiv__(self, d: int) -> Dim:
        return self.floordiv(d)

    def ceildiv(self, d: int) -> Dim:
        """ceil(self / d) for a positive integer d."""
        return (self + (d - 1)).floordiv(d)

    # evaluation -------------------------------------------------------------------
    def subs(self, env: Mapping[str, int | Dim]) -> Dim:
        """Substitute symbols (by ints or Dims) and refold."""
        terms = [Dim(None, self._const)]
        for mono, coeff in self._terms:
            term = Dim(None, coeff)
            for atom in mono:
                if isinstance(atom, Sym):
                    term = term * (
                        Dim.of(env[atom.name]) if atom.name in env else Dim.of(atom.name)
                    )
                else:
                    term = term * atom.inner.subs(env).floordiv(atom.divisor)
            terms.append(term)
        return total(terms)  # one sum, not one re-sorted partial sum per term

    def evaluate(self, env: Mapping[str, int]) -> int:
        """Integer value with every symbol bound; KeyError names a missing one."""
        total = self._const
        for mono, coeff in self._terms:
            term = coeff
            for atom in mono:
                if isinstance(atom, Sym):
                    term *= env[atom.name]
                else:
                    term *= atom.inner.evaluate(env) // atom.divisor
            total += term
        return total

    def _is_symbol(self) -> bool:
        return (
            not self._const
            and len(self._terms) == 1
            and self._terms[0][1] == 1
            and len(self._terms[0][0]) == 1
            and isinstance(self._terms[0][0][0], Sym)
        )

    # comparison and text ------------------------------------------------------------
    def _key(self) -> tuple[object, ...]:
        return (self._terms, self._const)

    def __eq__(self, other: object) -> bool:
        if type(other) is Dim:  # the common case first: (terms, const) equal, const first
            return self._const == other._const and self._terms == other._terms
        if isinstance(other, int) and not isinstance(other, bool):
            return not self._terms and self._const == other
        if not isinstance(other, Dim):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        # kept: floors share sub-expressions, and rehashing walks every one of them again
        h = self.__dict__.get("_hash")
        if h is None:
            h = self.__dict__["_hash"] = hash((self._key(), self._const.bit_length()))
        return h

    def __repr__(self) -> str:
        return f"Dim({self})"

    def __reduce__(self) -> tuple[object, ...]:
        # the caches stay behind: a text's hash differs from one process to the next
        return (_rebuild, (self._terms, self._const, self.__dict__.get("factors")))

    def __str__(self) -> str:
        text = self.__dict__.get("_text")
        if text is None:
            text = self.__dict__["_text"] = _render(self)
        return text


def const_values(dims: Iterable[Dim]) -> list[int] | None:
    """The values of `dims` when each is a constant plain int (read without a call per dim:
    shape rules ask it of every input's extents), else None (a symbol, or an int that
    records arithmetic: the emitter's, backends/emit/rules.py)."""
    out = []
    for d in dims:
        value = d._const
        if d._terms or type(value) is not int:
            return None
        out.append(value)
    return out


def shape_key(shape: Iterable[Dim]) -> tuple[int | Dim, ...]:
    """A shape as part of a dict key: each constant dim as its int (hashed without a call
    of Dim.__hash__; a constant Dim equals its int), anything else as itself."""
    return tuple([d._const if type(d) is Dim and not d._terms else d for d in shape])


def _one_atom(atom: Atom) -> Dim:
    """`atom` as a Dim (one term, coefficient 1), bounded as `Dim({(atom,): 1})` is."""
    size = 2 + _mono_size((atom,))
    if size > MAX_SIZE:
        raise ExpressionTooLarge(
            f"a size expression grows to {size:,} terms and atoms, past the limit of {MAX_SIZE:,}"
        )
    out = Dim._canonical((((atom,), 1),), 0)
    out.__dict__["size"] = size
    return out


def _flat_factors(d: Dim) -> list[Dim]:
    """A remembered product's factors, a factor that is itself one expanded into its own
    (a flatten of a flattened map: 16*(H*W) is written 16*H*W, not 16*(H*W))."""
    out: list[Dim] = []
    for f in d.__dict__.get("factors", ()):
        out.extend(_flat_factors(f) if f.__dict__.get("factors") else [f])
    return out


def plain_product(d: Dim) -> bool:
    """A product of symbols alone (`H*W`), which needs no parentheses among other factors;
    a floor (`H//2`), a sum or a coefficient (`3*H`: `(3*H)*(3*W)`, not `3*H*3*W`) does."""
    if d._const or len(d._terms) != 1:
        return False
    ((mono, coeff),) = d._terms
    return coeff == 1 and all(isinstance(a, Sym) for a in mono)


def _render(self: Dim) -> str:
    """The text of a Dim (`str` keeps it)."""
    if not self._terms:
        return str(self._const)
    factors = [f for f in _flat_factors(self) if f != 1]
    if factors:  # a flatten's product reads better unexpanded: 4*(H - 2)*(W - 2)
        return "*".join(str(f) if f.is_const or plain_product(f) else f"({f})" for f in factors)
    parts: list[str] = []
    for mono, coeff in reversed(self._terms):
        factors = [str(a) for a in mono]
        if abs(coeff) != 1:
            factors.insert(0, str(abs(coeff)))
        if len(factors) > 1:
            factors = [
                f"({f})" if isinstance(a, Floor) else f
                for f, a in zip(factors, (None, *mono) if abs(coeff) != 1 else mono)
            ]
        text = "*".join(factors)
        parts.append(("- " if coeff < 0 else "+ ") + text)
    if self._const:
        parts.append(("- " if self._const < 0 else "+ ") + str(abs(self._const)))
    out = " ".join(parts)
    return out[2:] if out.startswith("+ ") else "-" + out[2:]


def _rebuild(
    terms: tuple[tuple[Monomial, int], ...], const: int, factors: tuple[Dim, ...] | None
) -> Dim:
    out = Dim._canonical(terms, const)
    if factors:
        out.__dict__["factors"] = factors
    return out


def _paren_floor(atom: Floor) -> str:
    inner = str(atom.inner)
    simple = atom.inner.terms_count == 1 and not atom.inner.const and atom.inner.terms[0][1] == 1
    return (
        f"{inner}//{atom.divisor}" if simple and "//" not in inner else f"({inner})//{atom.divisor}"
    )


# Sym.name / Floor need Dim defined for annotations only.
Shape = tuple[Dim, ...]


def shape_of(dims: Iterable[int | str | Dim]) -> Shape:
    """A Shape from ints, symbol names or Dims."""
    return tuple(Dim.of(d) for d in dims)


def evaluate_shape(shape: Iterable[Dim], env: Mapping[str, int]) -> list[int]:
    """Each dim's integer value with every symbol bound (KeyError names a missing one); a
    constant dim is read, not evaluated: most dims of a lowered graph are constants."""
    return [d._const if not d._terms else d.evaluate(env) for d in shape]


def check_numbers(shape: Iterable[Dim]) -> None:
    """ExpressionTooLarge when a dim of `shape` holds a number past MAX_NUMBER."""
    for d in shape:
        if not d._terms:  # a number (abs: an emitter's traced int records no comparison)
            big = abs(d._const)
        else:  # a symbolic dim's largest number is kept in it once found (_largest)
            big = d.__dict__.get("largest")
            if big is None:
                big = _largest(d)
        if big > MAX_NUMBER:
            # not the number itself: its text may be too long for Python to write
            raise ExpressionTooLarge(
                f"a size holds a number of {big.bit_length()} bits, past the limit of "
                f"10^{len(str(MAX_NUMBER)) - 1} (no tensor is that large)"
            )


def _largest(d: Dim) -> int:
    """The largest magnitude of a number in `d`: its constant, coefficients and floors'
    divisors (kept in the Dim: floors share their inner expressions)."""
    known = d.__dict__.get("largest")
    if known is None:
        known = abs(d._const)
        for mono, coeff in d._terms:
            known = max(known, abs(coeff))
            for atom in mono:
                if isinstance(atom, Floor):
                    known = max(known, atom.divisor, _largest(atom.inner))
        d.__dict__["largest"] = known
    return known  # type: ignore[no-any-return]


def format_shape(shape: Shape) -> str:
    """`(N, 64, 112, 112)`."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def dtype_suffix(dtype: str) -> str:
    """What follows an input's shape where its dtype is not the default: ` int64` (token
    ids); nothing for float32, every image network's."""
    return "" if dtype == "float32" else f" {dtype}"


def total(dims: Iterable[Dim | int]) -> Dim:
    """The sum, built once (a concat of many branches would otherwise re-sort every partial sum)."""
    terms: dict[Monomial, int] = {}
    const = 0
    for d in dims:
        d = Dim.of(d)
        const += d.const
        for m, c in d.terms:
            terms[m] = terms.get(m, 0) + c
    return Dim(terms, const)


def product(dims: Iterable[Dim]) -> Dim:
    """The product, remembering its factors (the domain solver splits products by symbol)."""
    factors = tuple(dims)
    out = Dim.of(1)
    for d in factors:
        out = out * d
    if len(factors) > 1 and not out.is_const:
        out.__dict__["factors"] = factors
    return out
