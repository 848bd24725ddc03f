"""mcu_expf / mcu_logf (mcu_runtime/common/float_math.c) and their Python port (codegen/kernels/activation/softmax.py).

Truth is exp / log of the exact float input computed with Python's decimal module at 60 digits, then rounded
to float32 exactly with fractions (ties to even). Both the C (host build) and the Python port must return it
bit for bit, on both evaluation paths. glibc's expf / logf, which TFLM calls on this host, are compared and
their mismatch rate reported; where they differ from ours, they are the ones off.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from decimal import Decimal, localcontext
from fractions import Fraction
from math import factorial

import numpy as np
import pytest

from codegen.frontend.tflite_reader import parse_tflite
from codegen.kernels.activation import softmax
from codegen.paths import runtime_include_flags, runtime_source
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tools.host_model import HostModel
from tools.host_runtime import HOST_CFLAGS

FLOAT_MATH_C = runtime_source("float_math.c")
F32_MAX = np.finfo(np.float32).max

# Inputs on which the double evaluation fails Ziv's test, so the double-double path decides. An exhaustive
# scan over all floats found 186 for exp and 690 for log; these are the six closest to a rounding boundary of
# each (2^-28.7 and 2^-34 ulp at the closest) and two more at random. 0xC2B2E798 has a subnormal exp.
HARD_EXP_INPUTS = (0xC16912CD, 0xBBF0EDF1, 0xC2B2E798, 0x377EFF81, 0xBAE0E25C, 0xB3000000,
                   0x3C608A0E, 0xB928AB79)
HARD_LOG_INPUTS = (0x65D890D3, 0x4C5D65A5, 0x4D604EBE, 0x41178FEB, 0x1F116AB8, 0x66A8C860,
                   0x4CA8A9EE, 0x37DA7A1A)


def f32(bits: int) -> float:
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def bits(x) -> int:
    return int(np.float32(x).view(np.uint32))


# ---------------------------------------------------------------------------------------------------------
# Truth.


def round_to_f32(v: Fraction) -> np.float32:
    """The float32 nearest to v (ties to even), +-inf beyond the overflow threshold."""
    if v == 0:
        return np.float32(0.0)
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    quantum = Fraction(2) ** (max(e, -126) - 23)  # subnormals share the quantum 2^-149
    n, rem = divmod(a, quantum)
    n = int(n) + (rem > quantum / 2 or (rem == quantum / 2 and n % 2 == 1))
    value = n * quantum
    magnitude = np.float32(np.inf) if value >= 2**128 else np.float32(float(value))
    return magnitude if v > 0 else -magnitude


def test_truth_rounding_agrees_with_the_hardware_cast():
    """round_to_f32 on doubles (exact as fractions) equals the C double -> float cast, edges included."""
    rng = np.random.default_rng(0)
    doubles = rng.integers(0, 2**64, 6000, dtype=np.uint64).view(np.float64)
    doubles = doubles[np.isfinite(doubles)]
    near = (rng.standard_normal(2000) * 2.0 ** rng.integers(-155, 130, 2000)).astype(np.float64)
    halfway = np.array([2.0**-150, 3 * 2.0**-150, 2.0**128 - 2.0**103, 1 + 2.0**-24, 1 + 3 * 2.0**-24])
    for d in np.concatenate([doubles, near, halfway, -halfway]):
        with np.errstate(over="ignore"):
            assert bits(round_to_f32(Fraction(float(d)))) == bits(np.float32(d)), float(d).hex()


def _round_certain(d: Decimal) -> np.float32:
    """Round a 60-digit approximation; assert its error (1e-58 relative) cannot change the float."""
    v = Fraction(d)
    lo, hi = round_to_f32(v * (1 - Fraction(1, 10**58))), round_to_f32(v * (1 + Fraction(1, 10**58)))
    assert bits(lo) == bits(hi), f"60 digits do not decide the rounding of {d}"
    return lo


def true_expf(x: float) -> np.float32:
    with localcontext() as ctx:
        ctx.prec = 60
        return _round_certain(Decimal(x).exp())


def true_logf(x: float) -> np.float32:
    if x == 1.0:
        return np.float32(0.0)
    with localcontext() as ctx:
        ctx.prec = 60
        return _round_certain(Decimal(x).ln())


# ---------------------------------------------------------------------------------------------------------
# The C functions: the normal host build, and float_math.c alone with the fast path compiled out.


def _bind(lib: ctypes.CDLL, name: str) -> np.ufunc:
    fn = getattr(lib, name)
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return np.frompyfunc(fn, 1, 1)


def _call(fn: np.ufunc, xs: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return fn(np.asarray(xs, dtype=np.float32)).astype(np.float32)


@pytest.fixture(scope="module")
def c_funcs(host_runtime) -> dict[str, np.ufunc]:
    return {name: _bind(host_runtime.lib, name) for name in ("mcu_expf", "mcu_logf")}


@pytest.fixture(scope="module")
def c_slow_funcs(tmp_path_factory) -> dict[str, np.ufunc]:
    lib = tmp_path_factory.mktemp("float_math") / "libfloat_math_slow.so"
    subprocess.run(["gcc", *HOST_CFLAGS, "-DFLOAT_MATH_FAST_PATH=0", *runtime_include_flags(),
                    str(FLOAT_MATH_C), "-o", str(lib)], check=True, capture_output=True, text=True)
    so = ctypes.CDLL(str(lib))
    return {name: _bind(so, name) for name in ("mcu_expf", "mcu_logf")}


@pytest.fixture(scope="module")
def glibc() -> dict[str, np.ufunc]:
    lib = ctypes.CDLL("libm.so.6")
    return {name: _bind(lib, name) for name in ("expf", "logf")}


def _py(fn, xs: np.ndarray) -> np.ndarray:
    return np.array([fn(x) for x in np.asarray(xs, dtype=np.float32)], dtype=np.float32)


def _truth(fn, xs: np.ndarray) -> np.ndarray:
    return np.array([fn(float(x)) for x in np.asarray(xs, dtype=np.float32)], dtype=np.float32)


def _assert_same_bits(got: np.ndarray, want: np.ndarray, xs: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    assert bad.size == 0, (f"{what}: {bad.size} of {len(xs)} differ, e.g. x = {float(xs[bad[0]]).hex()}: "
                           f"{float(got[bad[0]]).hex()} != {float(want[bad[0]]).hex()}")


def _random_floats(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform over bit patterns: every binade and both signs equally, plus a few specials."""
    return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def exp_inputs(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = _random_floats(rng, 4 * n)
    in_domain = raw[(raw >= -104.0) & (raw <= 89.0)][:n]
    return np.concatenate([in_domain, rng.uniform(-104.0, 89.0, n // 2).astype(np.float32),
                           rng.uniform(-20.0, 0.0, n // 2).astype(np.float32)])


def log_inputs(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = _random_floats(rng, 3 * n)
    positive = raw[(raw > 0) & (raw <= F32_MAX)][:n]
    return np.concatenate([positive, rng.uniform(0.5, 4.0, n // 2).astype(np.float32),
                           (1 + rng.uniform(-1e-3, 1e-3, n // 4)).astype(np.float32),
                           rng.uniform(1.0, 1000.0, n // 4).astype(np.float32)])


# ---------------------------------------------------------------------------------------------------------
# Constants.


def _nearest_with_bits(v: Fraction, nbits: int) -> float:
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > abs(v):
        e -= 1
    quantum = Fraction(2) ** (e - nbits + 1)
    return float(round(v / quantum) * quantum)


def _dd(v: Fraction) -> tuple[float, float]:
    hi = float(v)
    return hi, float(v - Fraction(hi))


def test_constants_are_derived_as_documented_and_c_matches_python():
    with localcontext() as ctx:
        ctx.prec = 100  # decimal's ln and sqrt are correctly rounded
        ln2 = Fraction(Decimal(2).ln())
        sqrt2 = Fraction(Decimal(2).sqrt())
    ln2_hi = _nearest_with_bits(ln2, 45)
    ln2_mid = _nearest_with_bits(ln2 - Fraction(ln2_hi), 45)
    ln2_lo = float(ln2 - Fraction(ln2_hi) - Fraction(ln2_mid))
    exp_coeffs = [v for k in range(23) for v in _dd(Fraction(1, factorial(k)))]
    atanh_coeffs = [v for n in range(21) for v in _dd(Fraction(1, 2 * n + 1))]
    expected = (ln2_hi, ln2_mid, ln2_lo, float(1 / ln2), float(sqrt2),
                *exp_coeffs, *atanh_coeffs, 2.0**-46)
    assert expected == softmax.FLOAT_MATH_CONSTANTS
    # The C file spells the same values in the same order.
    text = FLOAT_MATH_C.read_text()
    literals = [float.fromhex(s) for s in re.findall(r"-?0x[0-9a-f]+(?:\.[0-9a-f]*)?p[+-]?\d+", text)]
    assert tuple(literals) == expected
    # k * LN2_HI and k * LN2_MID are exact for |k| < 256: at most 45 significant bits.
    for c in (ln2_hi, ln2_mid):
        frac = Fraction(c)
        assert frac.numerator.bit_length() <= 45


# ---------------------------------------------------------------------------------------------------------
# Correct rounding.


def test_expf_is_correctly_rounded(c_funcs):
    xs = exp_inputs(np.random.default_rng(1), 3000)
    truth = _truth(true_expf, xs)
    _assert_same_bits(_call(c_funcs["mcu_expf"], xs), truth, xs, "C mcu_expf vs truth")
    _assert_same_bits(_py(softmax.mcu_expf, xs), truth, xs, "Python mcu_expf vs truth")


def test_logf_is_correctly_rounded(c_funcs):
    xs = log_inputs(np.random.default_rng(2), 3000)
    truth = _truth(true_logf, xs)
    _assert_same_bits(_call(c_funcs["mcu_logf"], xs), truth, xs, "C mcu_logf vs truth")
    _assert_same_bits(_py(softmax.mcu_logf, xs), truth, xs, "Python mcu_logf vs truth")


def test_double_double_path_alone_is_correctly_rounded(c_slow_funcs):
    """The rarely taken path, forced on every input: C (-DFLOAT_MATH_FAST_PATH=0) and Python."""
    rng = np.random.default_rng(3)
    xs = exp_inputs(rng, 600)
    truth = _truth(true_expf, xs)
    _assert_same_bits(_call(c_slow_funcs["mcu_expf"], xs), truth, xs, "C slow expf vs truth")
    _assert_same_bits(_py(lambda x: softmax.exp_slow_path(float(x)), xs), truth, xs, "Python slow expf")
    xs = log_inputs(rng, 600)
    xs = xs[xs != 1.0]
    truth = _truth(true_logf, xs)
    _assert_same_bits(_call(c_slow_funcs["mcu_logf"], xs), truth, xs, "C slow logf vs truth")
    _assert_same_bits(_py(lambda x: softmax.log_slow_path(float(x)), xs), truth, xs, "Python slow logf")


@pytest.mark.parametrize("func", ["exp", "log"])
def test_hard_inputs_take_the_double_double_path_and_round_correctly(c_funcs, func):
    hard = HARD_EXP_INPUTS if func == "exp" else HARD_LOG_INPUTS
    xs = np.array(hard, dtype=np.uint32).view(np.float32)
    fast_path = softmax.exp_fast_path if func == "exp" else softmax.log_fast_path
    for x in xs:
        assert fast_path(float(x)) is None, f"{float(x).hex()} no longer needs the double-double path"
    truth = _truth(true_expf if func == "exp" else true_logf, xs)
    _assert_same_bits(_call(c_funcs[f"mcu_{func}f"], xs), truth, xs, f"C mcu_{func}f on hard inputs")
    _assert_same_bits(_py(getattr(softmax, f"mcu_{func}f"), xs), truth, xs, f"Python mcu_{func}f")


def test_fast_path_is_rarely_undecided():
    """Ziv's test sends about one float in 10^7 on (exhaustive scan); more means the fast error grew."""
    xs = exp_inputs(np.random.default_rng(4), 4000)
    assert sum(softmax.exp_fast_path(float(x)) is None for x in xs) <= 1
    xs = log_inputs(np.random.default_rng(5), 4000)
    assert sum(softmax.log_fast_path(float(x)) is None for x in xs) <= 1


# ---------------------------------------------------------------------------------------------------------
# Special values and range edges, C99 semantics.

_TINY = f32(0x00000001)
EXP_EDGES = {
    "+0": (0.0, 1.0), "-0": (-0.0, 1.0), "+inf": (np.inf, np.inf), "-inf": (-np.inf, 0.0),
    "max": (float(F32_MAX), np.inf), "-max": (-float(F32_MAX), 0.0),
    "tiny": (_TINY, 1.0), "-tiny": (-_TINY, 1.0),
    "largest finite": (f32(0x42B17217), None), "smallest overflow": (f32(0x42B17218), np.inf),
    "89": (89.0, np.inf), "above 89": (f32(0x42B20001), np.inf), "-104": (-104.0, 0.0),
    "below -104": (f32(0xC2D00001), 0.0), "last subnormal": (f32(0xC2CFF1B4), _TINY),
    "first zero": (f32(0xC2CFF1B5), 0.0), "FLT_MIN edge": (f32(0xC2AEAC50), None),
    "2^-25": (2.0**-25, 1.0), "-2^-25": (-(2.0**-25), 1.0), "2^-24": (2.0**-24, None), "1": (1.0, None),
}
LOG_EDGES = {
    "+0": (0.0, -np.inf), "-0": (-0.0, -np.inf), "+inf": (np.inf, np.inf), "1": (1.0, 0.0),
    "tiny": (_TINY, None), "largest subnormal": (f32(0x007FFFFF), None), "FLT_MIN": (f32(0x00800000), None),
    "max": (float(F32_MAX), None), "below 1": (f32(0x3F7FFFFF), None), "above 1": (f32(0x3F800001), None),
    "2": (2.0, None), "0.5": (0.5, None), "sqrt2 edge": (f32(0x3FB504F3), None),
    "sqrt2 edge+": (f32(0x3FB504F4), None),
}


@pytest.mark.parametrize("name", list(EXP_EDGES))
def test_expf_edges(c_funcs, name):
    x, expected = EXP_EDGES[name]
    want = true_expf(x) if expected is None else np.float32(expected)
    if expected is not None and np.isfinite(x) and -104.0 <= x <= 89.0:
        assert bits(true_expf(x)) == bits(want)  # the table agrees with exact math
    xs = np.array([x], dtype=np.float32)
    _assert_same_bits(_call(c_funcs["mcu_expf"], xs), np.array([want]), xs, f"C expf({name})")
    _assert_same_bits(_py(softmax.mcu_expf, xs), np.array([want]), xs, f"Python expf({name})")


@pytest.mark.parametrize("name", list(LOG_EDGES))
def test_logf_edges(c_funcs, name):
    x, expected = LOG_EDGES[name]
    want = true_logf(x) if expected is None else np.float32(expected)
    xs = np.array([x], dtype=np.float32)
    _assert_same_bits(_call(c_funcs["mcu_logf"], xs), np.array([want], np.float32), xs, f"C logf({name})")
    _assert_same_bits(_py(softmax.mcu_logf, xs), np.array([want], np.float32), xs, f"Python logf({name})")


def test_nan_and_negative_inputs(c_funcs):
    xs = np.array([np.nan, -np.nan, -1.0, -_TINY, -np.inf, -float(F32_MAX)], dtype=np.float32)
    for fn in (lambda v: _call(c_funcs["mcu_logf"], v), lambda v: _py(softmax.mcu_logf, v)):
        assert np.isnan(fn(xs)).all()
    # Negative inputs give one fixed NaN, so host and device agree on its bits too.
    assert (_call(c_funcs["mcu_logf"], xs[2:]).view(np.uint32) == 0x7FC00000).all()
    assert (_py(softmax.mcu_logf, xs[2:]).view(np.uint32) == 0x7FC00000).all()
    assert np.isnan(_call(c_funcs["mcu_expf"], xs[:2])).all()
    assert np.isnan(_py(softmax.mcu_expf, xs[:2])).all()


def test_c_and_python_agree_bit_for_bit(c_funcs):
    """A larger sample, no truth needed: any operation ported differently shows up here."""
    rng = np.random.default_rng(6)
    xs = _random_floats(rng, 12000)
    xs = xs[~np.isnan(xs)]
    for name in ("mcu_expf", "mcu_logf"):
        c_out, py_out = _call(c_funcs[name], xs), _py(getattr(softmax, name), xs)
        _assert_same_bits(c_out, py_out, xs, f"{name}: C vs Python")


# ---------------------------------------------------------------------------------------------------------
# glibc (what TFLM's std::exp / std::log call on this host).


def test_mismatch_rate_against_glibc(c_funcs, glibc, record_property):
    """glibc 2.36's expf (< 0.502 ulp) and logf (< 0.82 ulp) are not correctly rounded: report how often they
    differ from ours, and check on every mismatch that exact math sides with ours."""
    rng = np.random.default_rng(7)
    samples = {
        "exp all floats in [-104, 89]": ("exp", _random_floats(rng, 400000)),
        "exp uniform in [-20, 0]": ("exp", rng.uniform(-20.0, 0.0, 100000).astype(np.float32)),
        "log all positive floats": ("log", _random_floats(rng, 200000)),
        "log uniform in [1, 2]": ("log", rng.uniform(1.0, 2.0, 100000).astype(np.float32)),
    }
    rates = {}
    for label, (func, xs) in samples.items():
        xs = xs[(xs >= -104.0) & (xs <= 89.0)] if func == "exp" else xs[(xs > 0) & (xs <= F32_MAX)]
        ours = _call(c_funcs[f"mcu_{func}f"], xs)
        theirs = _call(glibc[f"{func}f"], xs)
        differ = np.flatnonzero(ours.view(np.uint32) != theirs.view(np.uint32))
        rates[label] = differ.size / xs.size
        record_property(label, f"{differ.size}/{xs.size}")
        print(f"glibc {func}f differs from mcu_{func}f on {differ.size} of {xs.size} "
              f"({100 * rates[label]:.4f}%) [{label}]")
        truth_fn = true_expf if func == "exp" else true_logf
        for i in differ[:100]:
            x = float(xs[i])
            assert bits(truth_fn(x)) == bits(ours[i]) != bits(theirs[i]), x.hex()
            assert abs(int(bits(ours[i])) - int(bits(theirs[i]))) == 1, x.hex()  # one ulp apart
    # Over all floats both are rare; near 1, glibc's logf is off on about 1% of inputs.
    assert 0 < rates["exp all floats in [-104, 89]"] < 0.01 and rates["log all positive floats"] < 0.01
    assert rates["exp uniform in [-20, 0]"] < 0.01 and rates["log uniform in [1, 2]"] < 0.03


# ---------------------------------------------------------------------------------------------------------
# lenet-300-100: its last op is a float32 LOG_SOFTMAX.


def _tflm_order_log_softmax(x: np.ndarray, expf, logf) -> np.ndarray:
    """TFLM's float LogSoftmax on one row with the given expf / logf."""
    x = np.asarray(x, dtype=np.float32).ravel()
    diff = x - x.max()
    total = np.float32(0.0)
    for d in diff:
        total = np.float32(total + np.float32(expf(d)))
    return diff - np.float32(logf(total))


def test_lenet_end_to_end_and_the_one_element_glibc_misrounds(shared_models, glibc):
    """run_reference and the generated C (host) give the same bits, which are exact-math TFLM; they equal the
    golden vector except in the one element where glibc's logf (TFLM calls it) is not correctly rounded."""
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    name = "tinyengine_mnist_lenet300_100"
    path = shared_models / f"{name}.tflite"
    data = path.read_bytes()
    vectors = np.load(shared_models / "vectors" / f"{name}.npz")
    graph = parse_tflite(data, name=name)
    (ours,) = run_reference(graph, [vectors["in0"]])
    compiled = compile_graph(graph, data)
    (host,) = HostModel(graph, compiled.sources.files).run([vectors["in0"]])
    assert "log_softmax_f32(" in compiled.sources.files["model.c"]
    np.testing.assert_array_equal(host.view(np.uint32), ours.view(np.uint32))

    (op,) = [o for o in graph.operators if o.op_type == "LOG_SOFTMAX"]
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], vectors["in0"])
    interp.invoke()
    x = interp.get_tensor(op.inputs[0])
    golden = vectors["out0"].ravel()
    glibc_fns = (lambda v: glibc["expf"](v), lambda v: glibc["logf"](v))
    with_glibc = _tflm_order_log_softmax(x, *glibc_fns)
    np.testing.assert_array_equal(with_glibc.view(np.uint32), golden.view(np.uint32))
    exact = _tflm_order_log_softmax(x, lambda v: true_expf(float(v)), lambda v: true_logf(float(v)))
    np.testing.assert_array_equal(ours.ravel().view(np.uint32), exact.view(np.uint32))

    differ = np.flatnonzero(ours.ravel().view(np.uint32) != golden.view(np.uint32))
    np.testing.assert_array_equal(differ, [int(np.argmax(x))])  # the row maximum: out = -log(sum) exactly
    assert abs(int(bits(ours.ravel()[differ[0]])) - int(bits(golden[differ[0]]))) == 1
    diff = np.asarray(x, np.float32).ravel() - np.asarray(x, np.float32).max()
    total = np.float32(0.0)
    for d in diff:  # the sum of exps agrees (every glibc expf here is correctly rounded); its log does not
        assert bits(glibc["expf"](d)) == bits(true_expf(float(d)))
        total = np.float32(total + true_expf(float(d)))
    assert bits(glibc["logf"](total)) != bits(true_logf(float(total))) == bits(softmax.mcu_logf(total))


# ---------------------------------------------------------------------------------------------------------
# Cortex-M: no libm.


@pytest.mark.parametrize("fpu", ["fpv5-sp-d16", "fpv5-d16"])
def test_cortex_m_objects_need_no_libm(tmp_path, fpu):
    """float_math.c and softmax_s8.c compile warning-free and call only libgcc's helpers (and memset)."""
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-ffp-contract=off", "-mcpu=cortex-m7",
             "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}", *runtime_include_flags()]
    undefined = set()
    for src in ("float_math.c", "softmax_s8.c"):
        obj = tmp_path / f"{src}.o"
        try:
            subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(runtime_source(src)), "-o", str(obj)],
                           check=True, capture_output=True, text=True)
        except FileNotFoundError:
            pytest.skip("arm-none-eabi-gcc is not installed")
        nm = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True, capture_output=True, text=True)
        undefined |= {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    assert {"mcu_expf", "mcu_logf"} <= undefined
    libc_memory = {"memset", "memcpy", "memmove"}  # loops gcc turns into calls, from libc not libm
    assert {s for s in undefined if not s.startswith("__aeabi_")} - libc_memory == {"mcu_expf", "mcu_logf"}


# ---------------------------------------------------------------------------------------------------------
# On the device: Cortex-M7 with a single-precision FPU (double in libgcc's software), in QEMU.

# Negative inputs whose exp takes the double-double path (every 8th of the 117 the scan found in [-104, 0]),
# and floats in (1, 8) whose log does.
DEVICE_HARD_EXP = (0xB2FFFFF9, 0xB3000001, 0xB4200000, 0xB5180003, 0xB68F0014, 0xB81460AC, 0xB928AB79,
                   0xBAE0E25C, 0xBBE0C221, 0xBD47AC85, 0xBE5F667D, 0xBF157C82, 0xC01A001D, 0xC145C789)
DEVICE_HARD_LOG_SUMS = (0x3FA66C0B, 0x3FC55379, 0x3FCAF728, 0x402E5A8F, 0x404DC250, 0x40C553BF)


def _row_summing_to(total: float, depth: int) -> np.ndarray:
    """[0]*k, d, then -200s (exp 0): the kernel's float32 sum of exps, k + mcu_expf(d), is exactly `total`."""
    k = int(total)
    d0 = np.float32(np.log(total - k))
    for step in range(4096):
        for d in (d0 + np.float32(step) * np.spacing(d0), d0 - np.float32(step) * np.spacing(d0)):
            if np.float32(np.float32(k) + softmax.mcu_expf(d)) == np.float32(total):
                return np.array([0.0] * k + [d] + [-200.0] * (depth - k - 1), dtype=np.float32)
    raise AssertionError(f"no row sums to {total}")


@pytest.mark.emulator
def test_device_gives_the_host_bits_on_both_paths(tmp_path):
    """A float LOG_SOFTMAX model on the emulated board: rows whose exps / whose log take the double-double
    path, and random rows, equal the host reference bit for bit."""
    from codegen.targets.boards import load_board
    from tests.codegen.kernels.activation.test_kernel_softmax import single_op_model
    from tools.build import EMULATED_DIR, build
    from tools.link.emulator import Emulator

    depth = 8
    exp_rows = np.zeros((len(DEVICE_HARD_EXP) // (depth - 1), depth), dtype=np.float32)
    exp_rows[:, 1:] = np.array(DEVICE_HARD_EXP, dtype=np.uint32).view(np.float32).reshape(-1, depth - 1)
    log_rows = np.stack([_row_summing_to(f32(b), depth) for b in DEVICE_HARD_LOG_SUMS])
    rng = np.random.default_rng(8)
    random_rows = (rng.standard_normal((50, depth)) * 10.0 ** rng.uniform(-3, 2, (50, 1))).astype(np.float32)
    x = np.concatenate([exp_rows, log_rows, random_rows])
    assert all(softmax.exp_fast_path(float(v)) is None for v in exp_rows[:, 1:].ravel())
    sums = [np.float32(sum((softmax.mcu_expf(v) for v in row), np.float32(0.0))) for row in log_rows]
    assert all(softmax.log_fast_path(float(s)) is None for s in sums)

    path = tmp_path / "log_softmax_f32.tflite"
    path.write_bytes(single_op_model("LOG_SOFTMAX", x.shape, None, None, dtype="float32"))
    result = build(path, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    call = result.compiled.calls[0]
    assert call.kernel == "log_softmax_f32"
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        raw, _ = emu.link.infer([x])
    got = np.frombuffer(raw[0], dtype=np.float32).reshape(x.shape)
    expected = softmax.log_softmax_f32_ref(call.params, x)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
