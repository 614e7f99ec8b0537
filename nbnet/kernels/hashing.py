"""String hashes of Keras' Hashing and lookup layers (TensorFlow's string-to-bucket ops).

    fingerprint64   FarmHash Fingerprint64 (farmhashna::Hash64): tf.strings.to_hash_bucket_fast
    siphash24       SipHash-2-4 with a 128-bit key (k0, k1):   tf.strings.to_hash_bucket_strong

Both take N byte strings packed into one buffer, string i being buf[offsets[i]:offsets[i+1]],
and write one uint64 per string; the bucket is then hash % num_bins (unsigned). The
algorithms are the published ones (FarmHash by Google, farmhash.cc; SipHash by Aumasson
and Bernstein, 2012), written again here from their descriptions. All arithmetic is on
uint64 and wraps as in C: every constant, shift and length below is a uint64 on purpose
(a uint64 mixed with a Python int would make Numba compute in float64).
"""
import numpy as np
from numba import njit, prange

U = np.uint64
_K0 = U(0xc3a5c85c97cb3127)
_K1 = U(0xb492b66fbe98f273)
_K2 = U(0x9ae16a3b2f90404f)
_M32 = U(0xffffffff)


@njit(inline="always")
def _fetch64(b, i):
    r = U(0)
    for k in range(8):
        r |= U(b[i + k]) << U(8 * k)
    return r


@njit(inline="always")
def _fetch32(b, i):
    r = U(0)
    for k in range(4):
        r |= U(b[i + k]) << U(8 * k)
    return r


@njit(inline="always")
def _ror(v, s):
    """Rotate right by s (a uint64 in 1..63)."""
    return (v >> s) | (v << (U(64) - s))


@njit(inline="always")
def _shift_mix(v):
    return v ^ (v >> U(47))


@njit(inline="always")
def _hash_len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> U(47)
    b = (v ^ a) * mul
    b ^= b >> U(47)
    return b * mul


@njit(inline="always")
def _len0to16(b, s, n):
    un = U(n)
    if n >= 8:
        mul = _K2 + un * U(2)
        a = _fetch64(b, s) + _K2
        c = _fetch64(b, s + n - 8)
        d = _ror(c, U(37)) * mul + a
        e = (_ror(a, U(25)) + c) * mul
        return _hash_len16(d, e, mul)
    if n >= 4:
        mul = _K2 + un * U(2)
        a = _fetch32(b, s)
        return _hash_len16(un + (a << U(3)), _fetch32(b, s + n - 4), mul)
    if n > 0:
        a = U(b[s])
        c = U(b[s + (n >> 1)])
        d = U(b[s + n - 1])
        y = (a + (c << U(8))) & _M32
        z = (un + (d << U(2))) & _M32
        return _shift_mix(y * _K2 ^ z * _K0) * _K2
    return _K2


@njit(inline="always")
def _len17to32(b, s, n):
    mul = _K2 + U(n) * U(2)
    a = _fetch64(b, s) * _K1
    c = _fetch64(b, s + 8)
    d = _fetch64(b, s + n - 8) * mul
    e = _fetch64(b, s + n - 16) * _K2
    return _hash_len16(_ror(a + c, U(43)) + _ror(d, U(30)) + e,
                       a + _ror(c + _K2, U(18)) + d, mul)


@njit(inline="always")
def _len33to64(b, s, n):
    mul = _K2 + U(n) * U(2)
    a = _fetch64(b, s) * _K2
    c = _fetch64(b, s + 8)
    d = _fetch64(b, s + n - 8) * mul
    e = _fetch64(b, s + n - 16) * _K2
    y = _ror(a + c, U(43)) + _ror(d, U(30)) + e
    z = _hash_len16(y, a + _ror(c + _K2, U(18)) + d, mul)
    f = _fetch64(b, s + 16) * mul
    g = _fetch64(b, s + 24)
    h = (y + _fetch64(b, s + n - 32)) * mul
    i = (z + _fetch64(b, s + n - 24)) * mul
    return _hash_len16(_ror(f + g, U(43)) + _ror(h, U(30)) + i,
                       f + _ror(g + a, U(18)) + h, mul)


@njit(inline="always")
def _weak32(b, s, a, c):
    """WeakHashLen32WithSeeds over the 32 bytes at s, seeds a, c: returns a pair."""
    w = _fetch64(b, s)
    x = _fetch64(b, s + 8)
    y = _fetch64(b, s + 16)
    z = _fetch64(b, s + 24)
    a += w
    c = _ror(c + a + z, U(21))
    t = a
    a += x
    a += y
    c += _ror(a, U(44))
    return a + z, c + t


@njit(inline="always")
def _farm64(b, s, n):
    if n <= 16:
        return _len0to16(b, s, n)
    if n <= 32:
        return _len17to32(b, s, n)
    if n <= 64:
        return _len33to64(b, s, n)
    seed = U(81)
    x = seed
    y = seed * _K1 + U(113)
    z = _shift_mix(y * _K2 + U(113)) * _K2
    v0, v1, w0, w1 = U(0), U(0), U(0), U(0)
    x = x * _K2 + _fetch64(b, s)
    end = s + ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    p = s
    while True:
        x = _ror(x + y + v0 + _fetch64(b, p + 8), U(37)) * _K1
        y = _ror(y + v1 + _fetch64(b, p + 48), U(42)) * _K1
        x ^= w1
        y += v0 + _fetch64(b, p + 40)
        z = _ror(z + w0, U(33)) * _K1
        v0, v1 = _weak32(b, p, v1 * _K1, x + w0)
        w0, w1 = _weak32(b, p + 32, z + w1, y + _fetch64(b, p + 16))
        x, z = z, x
        p += 64
        if p == end:
            break
    mul = _K1 + ((z & U(0xff)) << U(1))
    p = last64
    w0 += U((n - 1) & 63)
    v0 += w0
    w0 += v0
    x = _ror(x + y + v0 + _fetch64(b, p + 8), U(37)) * mul
    y = _ror(y + v1 + _fetch64(b, p + 48), U(42)) * mul
    x ^= w1 * U(9)
    y += v0 * U(9) + _fetch64(b, p + 40)
    z = _ror(z + w0, U(33)) * mul
    v0, v1 = _weak32(b, p, v1 * mul, x + w0)
    w0, w1 = _weak32(b, p + 32, z + w1, y + _fetch64(b, p + 16))
    x, z = z, x
    return _hash_len16(_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z,
                       _hash_len16(v1, w1, mul) + x, mul)


@njit(cache=True, parallel=True)
def fingerprint64(out, buf, offsets):
    """out: (N,) uint64 overwritten; buf: (B,) uint8; offsets: (N+1,) int64, rising.
    out[i] = FarmHash Fingerprint64 of buf[offsets[i]:offsets[i+1]]."""
    for i in prange(out.shape[0]):
        out[i] = _farm64(buf, offsets[i], offsets[i + 1] - offsets[i])


@njit(inline="always")
def _rol(v, s):
    return (v << s) | (v >> (U(64) - s))


@njit(inline="always")
def _sip_rounds(v0, v1, v2, v3, rounds):
    for _ in range(rounds):
        v0 += v1
        v1 = _rol(v1, U(13))
        v1 ^= v0
        v0 = _rol(v0, U(32))
        v2 += v3
        v3 = _rol(v3, U(16))
        v3 ^= v2
        v0 += v3
        v3 = _rol(v3, U(21))
        v3 ^= v0
        v2 += v1
        v1 = _rol(v1, U(17))
        v1 ^= v2
        v2 = _rol(v2, U(32))
    return v0, v1, v2, v3


@njit(inline="always")
def _sip24(b, s, n, k0, k1):
    v0 = k0 ^ U(0x736f6d6570736575)
    v1 = k1 ^ U(0x646f72616e646f6d)
    v2 = k0 ^ U(0x6c7967656e657261)
    v3 = k1 ^ U(0x7465646279746573)
    full = n - (n & 7)
    for p in range(s, s + full, 8):
        m = _fetch64(b, p)
        v3 ^= m
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = U(n & 0xff) << U(56)
    for k in range(n & 7):
        m |= U(b[s + full + k]) << U(8 * k)
    v3 ^= m
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= U(0xff)
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


@njit(cache=True, parallel=True)
def siphash24(out, buf, offsets, k0, k1):
    """out: (N,) uint64 overwritten; buf: (B,) uint8; offsets: (N+1,) int64, rising;
    k0, k1: the key's two little-endian 64-bit words (np.uint64).
    out[i] = SipHash-2-4 of buf[offsets[i]:offsets[i+1]]."""
    for i in prange(out.shape[0]):
        out[i] = _sip24(buf, offsets[i], offsets[i + 1] - offsets[i], k0, k1)
