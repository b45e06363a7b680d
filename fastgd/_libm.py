"""Elementary functions that vectorize: exp, log, log1p and the sigmoid family.

PyPI's numba has no SVML, so ``np.exp``/``np.log`` in a jitted loop are scalar
libm calls and the loop cannot vectorize.  These are branch-free (selects only)
scalar functions built from +, *, floor, int<->float conversion and bit casts,
so LLVM inlines them and the loop vectorizer turns the loop into AVX-512 code.

float64 and float32 each have their own reduction and polynomial; float32 is
computed in float32 arithmetic.  The generic names (``exp``, ``log``,
``log1p``, ``sigmoid``, ``softplus``, ``log_sigmoid``) dispatch on the argument's
type at compile time and are what every other formula calls.

Accuracy, measured by ``tests/test_special.py`` against NumPy long double (and
mpmath spot checks), over the whole domain including subnormals:

    function   float64 max ulp   float32 max ulp
    exp        < 1               < 1
    log        < 1               < 1
    log1p      < 2               < 2

Special values: exp(0)=1, exp(-inf)=0, exp(inf)=inf, overflow to inf above
709.78 (88.72 for float32), gradual underflow then 0 below -745.13 (-103.97);
log(1)=0, log(0)=-inf, log(x<0)=nan, log(inf)=inf; NaN in gives NaN out.
Algorithms: Cody-Waite reduction + a degree-11 polynomial (a Chebyshev fit; float32:
degree-7 Taylor) for exp; fdlibm's atanh-series log (Sun Microsystems, freely redistributable) for log;
log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x.
"""

import numpy as np
from numba import config, types
from numba.extending import intrinsic, overload

from ._jit import jit_formula

# ---------------------------------------------------------------- bit casts
if config.DISABLE_JIT:  # pure-Python stand-ins so the coverage run sees every line

    def _f64_as_i64(x):
        return int(np.array(x, dtype=np.float64).view(np.int64))

    def _i64_as_f64(i):
        return float(np.array(i, dtype=np.int64).view(np.float64))

    def _f32_as_i32(x):
        return int(np.array(x, dtype=np.float32).view(np.int32))

    def _i32_as_f32(i):
        return np.array(i, dtype=np.int32).view(np.float32)[()]

else:
    from llvmlite import ir

    def _bitcast(src, dst, lltype):
        # numba widens int32 arithmetic to int64; accept any integer and
        # narrow it here (LLVM then keeps the whole chain in 32-bit lanes)
        @intrinsic
        def cast(typingctx, x):
            if x != src and not (isinstance(src, types.Integer) and isinstance(x, types.Integer)):
                return None

            def codegen(context, builder, signature, args):
                val = context.cast(builder, args[0], signature.args[0], src)
                return builder.bitcast(val, lltype)

            return dst(x), codegen

        return cast

    _f64_as_i64 = _bitcast(types.float64, types.int64, ir.IntType(64))
    _i64_as_f64 = _bitcast(types.int64, types.float64, ir.DoubleType())
    _f32_as_i32 = _bitcast(types.float32, types.int32, ir.IntType(32))
    _i32_as_f32 = _bitcast(types.int32, types.float32, ir.FloatType())

# ---------------------------------------------------------------- float64
_LOG2E = 1.4426950408889634
_LN2HI = 6.93147180369123816490e-01  # trailing zeros: n * _LN2HI is exact
_LN2LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
# fdlibm e_log.c: |log(1+s)-log(1-s))/s - R(s^2)| < 2**-58.45
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


# 1.5 * 2**52: for an integer-valued |n| < 2**51, the bits of n + _MAGIC are _MAGIC_BITS + n.
# Converting through them instead of np.int64(n) / np.float64(k) keeps exp and log
# vectorized where the CPU has no packed int64 <-> float64 conversion (AVX2 without
# AVX-512DQ, which LLVM otherwise does one lane at a time: exp 2.8 -> 2.3 ns).
_MAGIC = 6755399441055744.0
_MAGIC_BITS = 0x4338000000000000


@jit_formula
def _exp64(x):
    # clamp with selects so NaN never reaches the float->int conversion
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2HI) - n * _LN2LO
    # exp(r) = 1 + r + r^2 q(r): q is mpmath's Chebyshev fit of degree 9 to (exp(r) - 1 - r) / r^2
    # on |r| <= ln2/2, within 1.3e-17 of exp (0.16 ulp). The Taylor polynomial needs degree 13 for
    # as much: two FMAs more, 0.87 against 0.79 ns an element (max error 0.84 against 0.89 ulp)
    p = 2.5100375832561234e-08
    p = p * r + 2.7620075879983367e-07
    p = p * r + 2.7557268480310024e-06
    p = p * r + 2.4801521322368692e-05
    p = p * r + 0.00019841269863040545
    p = p * r + 0.0013888888917196719
    p = p * r + 0.008333333333330065
    p = p * r + 0.041666666666624164
    p = p * r + 0.16666666666666669
    p = p * r + 0.5000000000000001
    p = p * r + 1.0
    p = p * r + 1.0
    # 2**n in two normal halves: covers gradual underflow and overflow to inf
    ni = _f64_as_i64(n + _MAGIC) - _MAGIC_BITS  # = int64(n), in vector registers (see _MAGIC)
    n1 = ni >> 1
    n2 = ni - n1
    y = p * _i64_as_f64((n1 + 1023) << 52) * _i64_as_f64((n2 + 1023) << 52)
    return y if x == x else x


@jit_formula
def _log64(x):
    tiny = x < 2.2250738585072014e-308  # subnormal: scale by 2**54 first
    xs = x * 18014398509481984.0 if tiny else x
    bits = _f64_as_i64(xs)
    k = ((bits >> 52) & 0x7FF) - (1077 if tiny else 1023)
    m = _i64_as_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    k = k + 1 if big else k
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    dk = _i64_as_f64(k + _MAGIC_BITS) - _MAGIC  # = float64(k), in vector registers
    y = dk * _LN2HI - ((hfsq - (s * (hfsq + (t1 + t2)) + dk * _LN2LO)) - f)
    y = y if x < np.inf else x  # +inf and NaN
    y = -np.inf if x == 0.0 else y
    return np.nan if x < 0.0 else y


@jit_formula
def _log1p64(x):
    u = 1.0 + x
    c = (x - (u - 1.0)) / u  # the rounding error of 1 + x, carried to first order
    y = _log64(u) + c
    y = x if u == 1.0 else y  # tiny x (keeps -0.0)
    y = x if x == np.inf else y
    y = -np.inf if x == -1.0 else y
    return np.nan if x < -1.0 else y


# ---------------------------------------------------------------- float32
_F = np.float32
_LOG2E_F = _F(1.4426950408889634)
_LN2HI_F = _F(6.9314575195e-01)  # FreeBSD e_expf.c, 0x3f317200
_LN2LO_F = _F(1.4286067653e-06)
_LOGF_LN2HI = _F(6.9313812256e-01)  # FreeBSD e_logf.c, 0x3f317180
_LOGF_LN2LO = _F(9.0580006145e-06)
_LGF1 = _F(0.6666666269302368)
_LGF2 = _F(0.40000972151756287)
_LGF3 = _F(0.2849878668785095)
_LGF4 = _F(0.24279078841209412)
_SQRT2_F = _F(1.4142135623730951)
_EXPF_LO, _EXPF_HI = _F(-104.0), _F(89.0)
_EXPF_C = tuple(_F(1.0 / c) for c in (5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0))
_C7, _C6, _C5, _C4, _C3, _C2, _C1, _C0 = _EXPF_C
_HALF_F, _ONE_F, _TWO_F, _ZERO_F = _F(0.5), _F(1.0), _F(2.0), _F(0.0)
_TWO25_F = _F(33554432.0)
_TINY_F = _F(1.1754943508222875e-38)
_INF_F, _NAN_F = _F(np.inf), _F(np.nan)
# int32 constants: an int64 literal would widen the float32 path to 64-bit lanes
_I = np.int32
_I1, _I23, _I127, _I152, _IFF = _I(1), _I(23), _I(127), _I(152), _I(0xFF)
_MANT_F, _ONE_BITS_F = _I(0x007FFFFF), _I(0x3F800000)


@jit_formula
def _exp32(x):
    xc = x if x > _EXPF_LO else _EXPF_LO
    xc = xc if xc < _EXPF_HI else _EXPF_HI
    n = np.floor(xc * _LOG2E_F + _HALF_F)
    r = (xc - n * _LN2HI_F) - n * _LN2LO_F
    p = _C7 * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _C1
    p = p * r + _C0
    ni = np.int32(n)
    n1 = ni >> _I1
    n2 = ni - n1
    y = p * _i32_as_f32((n1 + _I127) << _I23) * _i32_as_f32((n2 + _I127) << _I23)
    return y if x == x else x


@jit_formula
def _log32(x):
    tiny = x < _TINY_F
    xs = x * _TWO25_F if tiny else x
    bits = _f32_as_i32(xs)
    k = ((bits >> _I23) & _IFF) - (_I152 if tiny else _I127)
    m = _i32_as_f32((bits & _MANT_F) | _ONE_BITS_F)
    big = m > _SQRT2_F
    m = m * _HALF_F if big else m
    k = k + _I1 if big else k
    f = m - _ONE_F
    hfsq = _HALF_F * f * f
    s = f / (_TWO_F + f)
    z = s * s
    w = z * z
    t1 = w * (_LGF2 + w * _LGF4)
    t2 = z * (_LGF1 + w * _LGF3)
    dk = np.float32(k)
    y = dk * _LOGF_LN2HI - ((hfsq - (s * (hfsq + (t1 + t2)) + dk * _LOGF_LN2LO)) - f)
    y = y if x < _INF_F else x
    y = -_INF_F if x == _ZERO_F else y
    return _NAN_F if x < _ZERO_F else y


@jit_formula
def _log1p32(x):
    u = _ONE_F + x
    c = (x - (u - _ONE_F)) / u
    y = _log32(u) + c
    y = x if u == _ONE_F else y
    y = x if x == _INF_F else y
    y = -_INF_F if x == -_ONE_F else y
    return _NAN_F if x < -_ONE_F else y


# ---------------------------------------------------------------- generic names
def _typed_pair(f64, f32):
    """A function that picks the float64 or float32 implementation by argument type.

    In Python (and under NUMBA_DISABLE_JIT) it dispatches on ``type(x)``; inside
    jitted code an ``overload`` makes the choice at compile time.
    """

    def generic(x):
        return f32(x) if isinstance(x, np.float32) else f64(np.float64(x))

    @overload(generic, inline="always")
    def _ov(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: f64(np.float64(x))
        return None

    return generic


exp = _typed_pair(_exp64, _exp32)
log = _typed_pair(_log64, _log32)
log1p = _typed_pair(_log1p64, _log1p32)


def const(x, value):
    """``value`` as a constant of ``x``'s float type, so float32 stays float32."""
    return type(x)(value)


@overload(const, inline="always")
def _ov_const(x, value):
    ty = x

    def impl(x, value):
        return ty(value)

    return impl


@jit_formula
def sigmoid_neg_abs(x):
    """(sigmoid(-|x|), exp(-|x|)): the half that never cancels, accurate down to underflow."""
    e = exp(-abs(x))
    return e / (const(x, 1.0) + e), e


@jit_formula
def sigmoid(x):
    """Two-branch logistic function: never exp of a positive number."""
    q, e = sigmoid_neg_abs(x)
    return const(x, 1.0) - q if x >= const(x, 0.0) else q


@jit_formula
def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); no overflow for any x."""
    zero = const(x, 0.0)
    return (x if x > zero else zero) + log1p(exp(-abs(x)))


@jit_formula
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return -softplus(-x)


def eps(x):
    """Machine epsilon of ``x``'s float type."""
    return type(x)(np.finfo(type(x)).eps)


@overload(eps, inline="always")
def _ov_eps(x):
    value = x(np.finfo(np.float32 if x == types.float32 else np.float64).eps)

    def impl(x):
        return value

    return impl
