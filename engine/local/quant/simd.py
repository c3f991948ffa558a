"""Explicit 512-bit vector operations for numba kernels: 8-bit integer dot products.

Why: a many-row decode step through the float32 kernels is bound by vector FMAs (16
multiply-adds per instruction at best). An 8-bit integer dot product does 64 in one
instruction (`vpdpbusd`, AVX-512 VNNI) or in two (`vpmaddubsw` + `vpmaddwd`, AVX2), which
is how llama.cpp multiplies quantized weights by quantized activations. numba's LLVM does
not emit these from loops (a u8 x s8 loop became 16-bit `vpdpwssd`), so each operation here
is a numba `@intrinsic` that writes the LLVM IR itself; the kernels (int_kernels.py) stay
ordinary numba loops over these values, and LLVM keeps them in registers.

Values: `Bytes64` (64 x int8), `Ints16` (16 x int32), `Floats16` (16 x float32). On a host
without AVX-512 LLVM splits each into two 256-bit halves. Which dot instruction is used is
decided here from the CPU's features (`DOT`): "vnni", "avx2", or None when neither exists,
in which case the caller keeps the float32 kernels (`available()` is False). numba's disk
cache is keyed by the CPU and its features, so a cached kernel never meets another CPU.

Arrays are passed flat (1-D, C order) with element offsets: the kernels do the index
arithmetic, the intrinsics only load and store at `array.data + offset`.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, register_model

__all__ = [
    "DOT",
    "available",
    "dot",
    "fma",
    "high_nibbles",
    "load_floats",
    "low_nibbles",
    "mul",
    "quads",
    "shift_add",
    "splat_byte",
    "splat_float",
    "splat_quad",
    "store_floats",
    "sub_ints",
    "to_floats",
    "zero_floats",
    "zero_ints",
]

_I8, _I16, _I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
V8 = ir.VectorType(_I8, 64)
V32 = ir.VectorType(_I32, 16)
VF = ir.VectorType(ir.FloatType(), 16)


def _host_dot() -> str | None:
    """The integer dot product this CPU has, from the features numba compiles for."""
    import llvmlite.binding as llvm
    from numba.core import config

    if config.CPU_FEATURES:  # NUMBA_CPU_FEATURES overrides the host's (portable caches)
        flags = {f[1:] for f in config.CPU_FEATURES.split(",") if f.startswith("+")}
    else:
        flags = {name for name, on in llvm.get_host_cpu_features().items() if on}
    if {"avx512vnni", "avx512bw", "avx512f"} <= flags:
        return "vnni"
    if "avx2" in flags:
        return "avx2"
    return None


DOT = _host_dot()


def available() -> bool:
    return DOT is not None


class _Vector(types.Type):
    def __init__(self, name: str, llvm_type: ir.Type) -> None:
        self.llvm_type = llvm_type
        super().__init__(name=name)


class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, fe_type.llvm_type)


bytes64 = _Vector("Bytes64", V8)
ints16 = _Vector("Ints16", V32)
floats16 = _Vector("Floats16", VF)
register_model(_Vector)(_VectorModel)


def _pointer(context, builder, arrty, arr, index, indexty, vector: ir.Type):
    """`arr.data + index` (elements) as a pointer to `vector`."""
    data = context.make_array(arrty)(context, builder, value=arr).data
    offset = context.cast(builder, index, indexty, types.intp)
    return builder.bitcast(builder.gep(data, [offset]), vector.as_pointer())


def _splat(builder, scalar, vector: ir.VectorType):
    one = builder.insert_element(ir.Constant(vector, ir.Undefined), scalar, _I32(0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, vector.count), None))


def _is_flat(arr, *dtypes) -> bool:
    return isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype in dtypes


# -- integer side -------------------------------------------------------------------------
@intrinsic
def zero_ints(typingctx):
    return ints16(), lambda context, builder, sig, args: ir.Constant(V32, None)


@intrinsic
def quads(typingctx, q, index):
    """16 weight rows x 4 inputs, as `vpdpbusd` wants them: from four 16-byte runs 64 bytes
    apart (inputs j..j+3 of 16 consecutive rows in the tiles' rows-fastest layout), byte
    4r + c of the result = run c, byte r. A 4x4 byte transpose done in registers, so the
    tiles keep one layout for every kernel."""
    if not _is_flat(q, types.uint8, types.int8):
        return None

    def codegen(context, builder, sig, args):
        arr, idx = args
        v16 = ir.VectorType(_I8, 16)
        runs = []
        for c in range(4):
            at = builder.add(
                context.cast(builder, idx, sig.args[1], types.intp),
                ir.Constant(context.get_value_type(types.intp), 64 * c),
            )
            ptr = _pointer(context, builder, sig.args[0], arr, at, types.intp, v16)
            runs.append(builder.load(ptr, align=1))
        zip2 = [i // 2 + 16 * (i % 2) for i in range(32)]  # a0 b0 a1 b1 ...
        ab = builder.shuffle_vector(runs[0], runs[1], ir.Constant(ir.VectorType(_I32, 32), zip2))
        cd = builder.shuffle_vector(runs[2], runs[3], ir.Constant(ir.VectorType(_I32, 32), zip2))
        mask = [2 * r + k + 32 * h for r in range(16) for h in range(2) for k in range(2)]
        return builder.shuffle_vector(ab, cd, ir.Constant(ir.VectorType(_I32, 64), mask))

    return bytes64(q, index), codegen


@intrinsic
def splat_quad(typingctx, x, index):
    """The 4 bytes x[index] (an int32 view of 8-bit activations) repeated 16 times."""
    if not _is_flat(x, types.int32, types.uint32):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1], _I32)
        return builder.bitcast(_splat(builder, builder.load(ptr, align=4), V32), V8)

    return bytes64(x, index), codegen


def _nibbles(high: bool):
    def typer(typingctx, v):
        if v != bytes64:
            return None

        def codegen(context, builder, sig, args):
            value = args[0]
            if high:
                value = builder.lshr(value, _splat(builder, _I8(4), V8))
            return builder.and_(value, _splat(builder, _I8(15), V8))

        return bytes64(v), codegen

    return typer


low_nibbles = intrinsic(_nibbles(False))
high_nibbles = intrinsic(_nibbles(True))


@intrinsic
def dot(typingctx, acc, u, s):
    """acc[i] + sum_c u[4i + c] * s[4i + c]: u unsigned bytes, s signed bytes. The AVX2 form
    (vpmaddubsw) saturates pairs at 16 bits, so callers give it u <= 15 (4-bit weights)."""
    if (acc, u, s) != (ints16, bytes64, bytes64):
        return None

    def codegen(context, builder, sig, args):
        acc, u, s = args
        module = builder.module
        if DOT == "vnni":
            fn = module.declare_intrinsic(
                "llvm.x86.avx512.vpdpbusd.512", fnty=ir.FunctionType(V32, [V32, V32, V32])
            )
            return builder.call(fn, [acc, builder.bitcast(u, V32), builder.bitcast(s, V32)])
        v32, w16, i8 = ir.VectorType(_I8, 32), ir.VectorType(_I16, 16), ir.VectorType(_I32, 8)
        maddubs = module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.ub.sw", fnty=ir.FunctionType(w16, [v32, v32])
        )
        maddwd = module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.wd", fnty=ir.FunctionType(i8, [w16, w16])
        )
        ones = _splat(builder, _I16(1), w16)
        halves = []
        for h in range(2):
            pick = ir.Constant(ir.VectorType(_I32, 32), list(range(32 * h, 32 * h + 32)))
            pairs = builder.call(
                maddubs, [builder.shuffle_vector(u, u, pick), builder.shuffle_vector(s, s, pick)]
            )
            halves.append(builder.call(maddwd, [pairs, ones]))
        both = builder.shuffle_vector(
            halves[0], halves[1], ir.Constant(ir.VectorType(_I32, 16), list(range(16)))
        )
        return builder.add(acc, both)

    return ints16(acc, u, s), codegen


def _elementwise(vector: _Vector, op: str):
    """An intrinsic applying the IR builder's `op` (sub, fmul, ...) lane by lane."""

    def typer(typingctx, a, b):
        if (a, b) != (vector, vector):
            return None
        return vector(a, b), lambda context, builder, sig, args: getattr(builder, op)(*args)

    return intrinsic(typer)


sub_ints = _elementwise(ints16, "sub")


@intrinsic
def shift_add(typingctx, a, b):
    """256 a + b: an int8 value's sum and its residual's (1/256 steps) as one int32."""
    if (a, b) != (ints16, ints16):
        return None

    def codegen(context, builder, sig, args):
        return builder.add(builder.shl(args[0], _splat(builder, _I32(8), V32)), args[1])

    return ints16(a, b), codegen


@intrinsic
def splat_byte(typingctx, value):
    """A constant byte repeated 64 times (the +128 offset of unsigned activations)."""
    if not isinstance(value, types.IntegerLiteral):
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, _I8(sig.args[0].literal_value & 255), V8)

    return bytes64(value), codegen


# -- float side -----------------------------------------------------------------------------
@intrinsic
def zero_floats(typingctx):
    return floats16(), lambda context, builder, sig, args: ir.Constant(VF, None)


@intrinsic
def to_floats(typingctx, a):
    if a != ints16:
        return None
    return floats16(a), lambda context, builder, sig, args: builder.sitofp(args[0], VF)


@intrinsic
def splat_float(typingctx, value):
    if value not in (types.float32, types.float64):
        return None

    def codegen(context, builder, sig, args):
        scalar = context.cast(builder, args[0], sig.args[0], types.float32)
        return _splat(builder, scalar, VF)

    return floats16(value), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c, one rounding."""
    if (a, b, c) != (floats16, floats16, floats16):
        return None

    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.fma.v16f32", fnty=ir.FunctionType(VF, [VF] * 3))
        return builder.call(fn, args)

    return floats16(a, b, c), codegen


mul = _elementwise(floats16, "fmul")


@intrinsic
def load_floats(typingctx, arr, index):
    """16 scales from a float32 array, or from float16 bits (uint16) widened exactly."""
    if not _is_flat(arr, types.float32, types.uint16):
        return None

    def codegen(context, builder, sig, args):
        if sig.args[0].dtype == types.float32:
            ptr = _pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1], VF)
            return builder.load(ptr, align=4)
        halves = ir.VectorType(ir.HalfType(), 16)
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1], halves)
        return builder.fpext(builder.load(ptr, align=2), VF)

    return floats16(arr, index), codegen


@intrinsic
def store_floats(typingctx, arr, index, v):
    if not _is_flat(arr, types.float32) or v != floats16:
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1], VF)
        builder.store(args[2], ptr, align=4)
        return context.get_dummy_value()

    return types.none(arr, index, v), codegen
