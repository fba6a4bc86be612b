"""Integer factorisation for the domain solver, in pure Python and within the work budget.

A flatten followed by a linear layer asks `C * h(H) * w(W) == F`: the solver splits F over
its factorisations, so it needs F's divisors. Trial division to sqrt(F) is 3 * 10^7 steps for
F near 10^15 (seconds each); here small primes are divided out, Miller-Rabin with the first
13 prime bases (exact below 3.3 * 10^24) proves what is prime, and Brent's variant of Pollard's
rho splits the rest in about F^(1/4) steps. Every step spends from the solver's budget
(`passes/work.py`); a number it cannot factor in time, or too large to prove prime, is
`Unsolvable`, and the constraint is kept as stated.

>>> factorise(999_999_999_999_989 * 7)
{7: 1, 999999999999989: 1}
>>> divisors({2: 2, 3: 1})
[1, 2, 3, 4, 6, 12]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from math import comb, gcd, isqrt

from .work import Unsolvable, spend


def _primes_below(n: int) -> tuple[int, ...]:
    """The primes below `n`, by Eratosthenes' sieve (trial division cost ~3 ms at import)."""
    sieve = bytearray([1]) * n
    sieve[:2] = b"\x00\x00"
    for p in range(2, isqrt(n - 1) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, n, p)))
    return tuple(i for i, is_p in enumerate(sieve) if is_p)


_SMALL_PRIMES = _primes_below(1000)
#: Miller-Rabin with these bases decides primality exactly below _PROVEN_BELOW
#: (Sorenson and Webster, 2015: psi_13 = 3317044064679887385961981).
_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
_PROVEN_BELOW = 3_317_044_064_679_887_385_961_981
#: Rho steps spent on one number before it is given up (a factor near 10^15 would need ~10^8).
_RHO_STEPS = 1 << 18


def is_prime(n: int) -> bool:
    """Exact below 3.3 * 10^24. Above, a witness still proves n composite; a number that
    passes every base is Unsolvable (probably prime, but no guess)."""
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    if n < _SMALL_PRIMES[-1] ** 2:
        return True
    spend(len(_BASES) * n.bit_length() // 8 + 1)
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    if n >= _PROVEN_BELOW:
        raise Unsolvable(f"{n} passes every base but is too large to prove prime")
    return True


def _rho(n: int) -> int:
    """A non-trivial factor of the odd composite n (Brent's cycle finding, batched gcds)."""
    steps = 0
    for c in range(1, 64):
        y, r, q, g = 2, 1, 1, 1
        x = ys = y
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % n
            k = 0
            while k < r and g == 1:
                ys = y
                batch = min(128, r - k)
                for _ in range(batch):
                    y = (y * y + c) % n
                    q = q * abs(x - y) % n
                g = gcd(q, n)
                k += batch
            spend(2 * r)
            steps += 2 * r
            if steps > _RHO_STEPS:
                raise Unsolvable(f"{n} has no factor found within the solver's budget")
            r *= 2
        if g == n:  # the batch overshot: retrace it one step at a time
            g = 1
            while g == 1:
                ys = (ys * ys + c) % n
                g = gcd(abs(x - ys), n)
        if g != n:
            return g
    raise Unsolvable(f"{n} could not be factored")  # pragma: no cover (never seen)


def factorise(n: int) -> dict[int, int]:
    """The prime factorisation of a positive n, {prime: exponent}; Unsolvable if out of reach."""
    if n < 1:
        raise ValueError("factorise needs a positive integer")
    out: dict[int, int] = {}
    for p in _SMALL_PRIMES:
        if n % p == 0:
            while n % p == 0:
                n //= p
                out[p] = out.get(p, 0) + 1
        if p * p > n:
            break
    spend(len(_SMALL_PRIMES) // 8)
    stack = [n] if n > 1 else []
    while stack:
        m = stack.pop()
        if is_prime(m):
            out[m] = out.get(m, 0) + 1
            continue
        root = isqrt(m)
        if root * root == m:  # rho cannot split a square of a prime
            stack += [root, root]
            continue
        f = _rho(m)
        stack += [f, m // f]
    return dict(sorted(out.items()))


def divisors(factors: dict[int, int]) -> list[int]:
    """Every divisor of the number with this factorisation, in increasing order."""
    out = [1]
    for p, e in factors.items():
        out = [d * p**i for d in out for i in range(e + 1)]
    spend(len(out) // 8 + 1)
    return sorted(out)


def count_ordered_factorisations(factors: dict[int, int], k: int) -> int:
    """How many ordered k-tuples of positive integers multiply to the number."""
    total = 1
    for e in factors.values():
        total *= comb(e + k - 1, k - 1)
    return total


def _compositions(e: int, k: int) -> Iterator[tuple[int, ...]]:
    """Every way to write e as an ordered sum of k non-negative integers."""
    if k == 1:
        yield (e,)
        return
    for first in range(e + 1):
        for rest in _compositions(e - first, k - 1):
            yield (first, *rest)


def ordered_factorisations(n: int, k: int, most: int) -> list[tuple[int, ...]]:
    """Every ordered k-tuple of positive integers whose product is n, in increasing order.

    Built from n's prime factorisation (each prime's exponent split k ways), so the work is
    the number of tuples, bounded by `most` before any is listed.
    """
    factors = factorise(n)
    if count_ordered_factorisations(factors, k) > most:
        raise Unsolvable(f"{n} has too many factorisations into {k} factors")
    per_prime = [[(p, c) for c in _compositions(e, k)] for p, e in factors.items()]
    out = []
    for choice in itertools.product(*per_prime):
        parts = [1] * k
        for p, split in choice:
            for i, exp in enumerate(split):
                parts[i] *= p**exp
        out.append(tuple(parts))
    spend(len(out) * k)
    return sorted(out)
