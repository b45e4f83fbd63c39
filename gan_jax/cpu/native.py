"""Convolution gradients in oneDNN's JIT kernels, as an XLA FFI custom call.

XLA:CPU runs a convolution's kernel gradient (dk = sum over batch and positions of
input patches x output gradients) at 50-170 GFLOP/s; oneDNN's backward-weights
kernels, in their blocked layouts, at 150-240 on a 2-core AVX-512 machine (whole
steps: docs/performance.md), and its backward-data kernels run input-dilated convolutions
(transposed convs) 1.3-2x faster than XLA's sub-pixel convs. jaxlib links oneDNN but
exposes only its forward convolution (`onednn.py`), so this module compiles a small FFI
handler (csrc/onednn_conv.cc: backward data and backward weights, in oneDNN's
blocked layouts but for a few shapes, by a fixed rule so that runs replay exactly) against the
oneDNN wheel `onednn-devel-cpu-gomp` (a dependency on Linux x86-64) and jaxlib's FFI
headers, with the C++ compiler on PATH (`CXX`, else g++ or c++). The library is built
once per source / jaxlib / compiler / kind of CPU (`-march=native`) and cached under
`$GAN_JAX_CACHE_DIR` (default ~/.cache/gan_jax); building takes ~5 s.

The same library holds csrc/winograd.cc (OpenMP transforms and oneDNN's batched matmul
for winograd.py's 4x4 stride-2 convolutions; hence -fopenmp).

conv.py's custom VJP uses it when `available()`; otherwise (no wheel, no compiler, a
build error, not float32 / 2-D, or `GAN_JAX_NATIVE=0` when the first convolution is
traced) conv.py keeps its XLA formulations, and a build error is logged once with the
compiler's message. On other platforms than CPU each call lowers to the XLA formulation
passed with it, and its derivatives (second order, e.g. gradient penalties) are always
that formulation's.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax import lax

TARGET = "gan_jax_onednn_conv"
ONEDNN_DIST = "onednn-devel-cpu-gomp"  # headers; depends on the library:
ONEDNN_RUNTIME = "onednn-cpu-gomp"
WINOGRAD_TARGET = "gan_jax_winograd"  # csrc/winograd.cc: transforms and batched products
MATMUL_TARGET = "gan_jax_matmul"
SOURCES = [Path(__file__).with_name("csrc") / name for name in ("onednn_conv.cc", "winograd.cc")]
HEADERS = [Path(__file__).with_name("csrc") / "onednn_common.h"]  # included by both
_lock = threading.Lock()
_state: dict = {}


def _onednn_paths() -> tuple[Path, Path]:
    """(include dir, lib dir) of the installed oneDNN wheels; LookupError if absent."""
    found = {}
    for dist_name, suffix in ((ONEDNN_DIST, "oneapi/dnnl/dnnl.hpp"),
                              (ONEDNN_RUNTIME, "/libdnnl.so.3")):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise LookupError(f"the Python package {dist_name} is not installed (pip install "
                              f"'{ONEDNN_DIST}==2023.2.0')") from None
        file = next((f for f in dist.files or () if f.as_posix().endswith(suffix)), None)
        if file is None:
            raise LookupError(f"{dist_name} is installed without {suffix.lstrip('/')}; "
                              "reinstall it")
        found[suffix] = Path(dist.locate_file(file)).resolve()
    return found["oneapi/dnnl/dnnl.hpp"].parents[2], found["/libdnnl.so.3"].parent


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise LookupError("no C++ compiler found (set CXX or install g++)")


def build(cache_dir: Optional[str] = None) -> Path:
    """Compile csrc/onednn_conv.cc (once; cached) and return the shared library's path.

    Raises LookupError when a prerequisite is missing and RuntimeError with the
    compiler's output when compiling fails.
    """
    include, libdir = _onednn_paths()
    cxx = _compiler()
    cache = Path(cache_dir or os.environ.get("GAN_JAX_CACHE_DIR")
                 or Path.home() / ".cache" / "gan_jax") / "native"
    flags = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-isystem",
             jax.ffi.include_dir(), "-isystem", str(include), *map(str, SOURCES), "-L",
             str(libdir), "-l:libdnnl.so.3", f"-Wl,-rpath,{libdir}"]
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256("\0".join([*(f.read_text() for f in SOURCES + HEADERS),
                                       jaxlib.__version__, version, _cpu(), *flags]).encode()).hexdigest()[:16]
    out = cache / f"onednn_conv-{digest}.so"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        part = Path(tmp) / out.name
        # the transforms vectorized for this CPU (AVX-512 here: the DCGAN steps 9-17% faster
        # than with the default x86-64 baseline); a compiler without -march=native gets the
        # baseline
        for arch in (["-march=native"], []):
            done = subprocess.run([cxx, *arch, *flags, "-o", str(part)], capture_output=True,
                                  text=True)
            if done.returncode == 0:
                break
        if done.returncode != 0:
            raise RuntimeError(f"compiling {' '.join(f.name for f in SOURCES)} with {cxx} failed:\n"
                               + done.stderr[-4000:])
        os.replace(part, out)  # atomic: concurrent builders (several processes) agree
    return out


def _cpu() -> str:
    """What -march=native depends on: the machine and its CPU's feature flags (a cache
    directory shared by different machines gets one library per kind of CPU)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = ""
    return platform.machine() + " " + " ".join(sorted(flags.split(":")[-1].split()))


def available() -> bool:
    """True when the handler is built and loaded here (and not switched off)."""
    if os.environ.get("GAN_JAX_NATIVE", "1") in ("0", "false", "False"):
        return False
    with _lock:
        if "ok" not in _state:
            try:
                lib = ctypes.cdll.LoadLibrary(str(build()))
                for target, symbol in ((TARGET, lib.GanJaxConv),
                                       (WINOGRAD_TARGET, lib.GanJaxWinograd),
                                       (MATMUL_TARGET, lib.GanJaxMatmul)):
                    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(symbol), platform="cpu")
                _state.update(ok=True, lib=lib, why="")
            except LookupError as e:  # an optional prerequisite: say why, quietly
                _state.update(ok=False, why=str(e))
                logging.info("gan_jax: oneDNN handler off: %s", e)
            except (RuntimeError, OSError) as e:
                _state.update(ok=False, why=str(e))
                logging.warning("gan_jax: oneDNN handler off, XLA formulations used instead: %s",
                                e)
    return _state["ok"]


def why_unavailable() -> str:
    available()
    return _state.get("why", "switched off by GAN_JAX_NATIVE")


def supported(a, b) -> bool:
    """Whether a 2-D float32 convolution of these operands can go to oneDNN here."""
    return (a.ndim == 4 and b.ndim == 4 and a.dtype == jnp.float32 and b.dtype == jnp.float32
            and min(a.shape) > 0 and min(b.shape) > 0 and available())


BACKWARD_DATA, BACKWARD_WEIGHTS = 1, 2  # the handler's `kind`


def input_grad(dy, k, x_shape, strides, pads, rhs_dil, fallback: Callable):
    """dx of y = conv(x, k, strides, pads >= 0, rhs_dil) for the output gradient dy."""
    return _call(dy, k, BACKWARD_DATA, tuple(x_shape), _attrs(strides, pads, rhs_dil), fallback)


def kernel_grad(x, dy, k_shape, strides, pads, rhs_dil, fallback: Callable):
    """dk of y = conv(x, k, strides, pads >= 0, rhs_dil) for the output gradient dy."""
    return _call(x, dy, BACKWARD_WEIGHTS, tuple(int(n) for n in k_shape),
                 _attrs(strides, pads, rhs_dil), fallback)


def _attrs(strides, pads, rhs_dil):
    return (tuple(int(s) for s in strides), tuple(int(d) for d in rhs_dil),
            tuple(int(lo) for lo, _ in pads), tuple(int(hi) for _, hi in pads))


# Each kind is bilinear in its two operands; `fallback(a, b)` is the same function in XLA
# ops: other platforms lower to it, and the derivatives (second order, e.g. gradient
# penalties through D's parameter gradient) are its derivatives.
@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _call(a, b, kind, out_shape, attrs, fallback):
    def on_cpu(a, b):
        call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(out_shape, jnp.float32),
                                vmap_method="sequential")
        return call(a, b, kind=np.int64(kind), **{
            name: np.array(v, np.int64)
            for name, v in zip(("strides", "dilations", "pad_lo", "pad_hi"), attrs)})
    return lax.platform_dependent(a, b, cpu=on_cpu, default=fallback)


@_call.defjvp
def _call_jvp(kind, out_shape, attrs, fallback, primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    return _call(a, b, kind, out_shape, attrs, fallback), fallback(ta, b) + fallback(a, tb)
