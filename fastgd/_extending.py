"""numba extension: loss and activation objects as values inside jitted code.

A ``Loss``/``Activation``/``Optimizer`` object is typed as ``FormulaType(kind, name)``: one
numba type per formula (so each kernel specialises on it, and the cache key is
stable across processes, unlike a jitted function passed as an argument) whose
only data is the float64 parameter (Huber's delta, leaky ReLU's alpha).

Inside jitted code the generic functions below (``value``, ``grad``, ``hess``,
``value_and_grad``) and the methods of the same names evaluate the one scalar
formula from ``_math``.  Losses take ``(pred, target)``, activations ``(z)``.
In plain Python (and under ``NUMBA_DISABLE_JIT=1``) the generic functions call
the same formulas directly.
"""

from numba import types
from numba.core import cgutils
from numba.core.imputils import lower_constant
from numba.extending import (
    NativeValue,
    make_attribute_wrapper,
    models,
    overload,
    overload_method,
    register_model,
    typeof_impl,
    unbox,
)

from . import _math, _optim

TABLES = {"loss": _math.LOSSES, "activation": _math.ACTIVATIONS, "optimizer": _optim.OPTIMIZERS}
PARTS = ("value", "grad", "hess", "value_and_grad")


class FormulaType(types.Type):
    """numba type of a loss or activation object."""

    def __init__(self, kind, formula_name):
        self.kind = kind
        self.formula_name = formula_name
        super().__init__(name=f"fastgd.{kind}[{formula_name}]")


@register_model(FormulaType)
class _FormulaModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, [("param", types.float64)])


make_attribute_wrapper(FormulaType, "param", "param")


def register_class(cls, kind):
    """Make instances of ``cls`` (with ``.name`` and ``.param``) typeable."""

    @typeof_impl.register(cls)
    def _typeof(val, c):
        return FormulaType(kind, val.name)


@unbox(FormulaType)
def _unbox(typ, obj, c):
    param_obj = c.pyapi.object_getattr_string(obj, "param")
    struct = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    struct.param = c.pyapi.float_as_double(param_obj)
    c.pyapi.decref(param_obj)
    return NativeValue(struct._getvalue(), is_error=c.pyapi.c_api_error())


@lower_constant(FormulaType)
def _lower_constant(context, builder, ty, pyval):
    struct = cgutils.create_struct_proxy(ty)(context, builder)
    struct.param = context.get_constant(types.float64, float(pyval.param))
    return struct._getvalue()


def _scalar(f, index):
    return TABLES[f.kind][f.name][index]


def _is_kind(f, kind):
    return isinstance(f, FormulaType) and f.kind == kind


def _make_generic(index, part):
    # losses take (pred, target), activations (z)
    def generic(f, a, b=None):
        fn = _scalar(f, index)
        return fn(a, f.param) if f.kind == "activation" else fn(a, b, f.param)

    generic.__name__ = part
    generic.__doc__ = f"Scalar {part} of the loss or activation ``f`` (usable in ``@njit`` code)."

    def _typer(f, a, b=None):
        if not isinstance(f, FormulaType) or f.kind == "optimizer" or index >= len(TABLES[f.kind][f.formula_name]):
            return None
        fn = TABLES[f.kind][f.formula_name][index]
        if f.kind == "activation":

            def impl(f, a, b=None):
                return fn(a, f.param)

        else:

            def impl(f, a, b=None):
                return fn(a, b, f.param)

        return impl

    # inlined at numba's IR level: the caller then calls the (force-inlined) formula
    # directly, so it reaches the caller's loop, which can then vectorize
    overload(generic, inline="always")(_typer)
    overload_method(FormulaType, part, inline="always")(_typer)
    return generic


value, grad, hess, value_and_grad = (_make_generic(i, part) for i, part in enumerate(PARTS))


def update(opt, g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """The optimizer ``opt``'s update of one coefficient: (direction, s0, s1); see ``_optim``."""
    return _optim.OPTIMIZERS[opt.name][0](g, w, s0, s1, h0, h1, h2, h3, c0, c1)


@overload(update, inline="always")
def _ov_update(opt, g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    if not _is_kind(opt, "optimizer"):
        return None
    fn = _optim.OPTIMIZERS[opt.formula_name][0]

    def impl(opt, g, w, s0, s1, h0, h1, h2, h3, c0, c1):
        return fn(g, w, s0, s1, h0, h1, h2, h3, c0, c1)

    return impl


def prepare(opt, h0, h1, h2, h3, t):
    """The optimizer ``opt``'s constants of update ``t`` (``t`` taken before), shared by a model: (c0, c1)."""
    return _optim.OPTIMIZERS[opt.name][2](h0, h1, h2, h3, t)


@overload(prepare, inline="always")
def _ov_prepare(opt, h0, h1, h2, h3, t):
    if not _is_kind(opt, "optimizer"):
        return None
    fn = _optim.OPTIMIZERS[opt.formula_name][2]

    def impl(opt, h0, h1, h2, h3, t):
        return fn(h0, h1, h2, h3, t)

    return impl


def init(opt, h0, h1, h2, h3):
    """The optimizer ``opt``'s starting state of one coefficient: (s0, s1); see ``_optim``."""
    return _optim.OPTIMIZERS[opt.name][1](h0, h1, h2, h3)


@overload(init, inline="always")
def _ov_init(opt, h0, h1, h2, h3):
    if not _is_kind(opt, "optimizer"):
        return None
    fn = _optim.OPTIMIZERS[opt.formula_name][1]

    def impl(opt, h0, h1, h2, h3):
        return fn(h0, h1, h2, h3)

    return impl


def _optimizer_flag(table, doc):
    """A function ``opt -> table[opt.name]`` that kernels see as a compile-time constant."""

    def flag(opt):
        return table[opt.name]

    flag.__doc__ = doc

    @overload(flag, inline="always")
    def _ov(opt):
        if not _is_kind(opt, "optimizer"):
            return None
        if table[opt.formula_name]:
            return lambda opt: True
        return lambda opt: False

    return flag


uses_hessian = _optimizer_flag(_optim.USES_HESSIAN, "True for optimizers that need the curvature sums (Newton).")
prepares = _optimizer_flag(_optim.PREPARES, "True for optimizers with step constants (``prepare`` is not zeros).")
unrolls = _optimizer_flag(
    _optim.CHEAP, "True for updates of a few flops, which the descent kernel takes several to a pass."
)


def register_scalar(public_fn, scalar_fn):
    """Let ``public_fn`` (an array function) be called on scalars in ``@njit`` code."""

    @overload(public_fn, inline="always")
    def _ov(x, out=None):
        if isinstance(x, (types.Float, types.Integer)):
            return lambda x, out=None: scalar_fn(x)
        return None
