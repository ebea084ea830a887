"""Row views for the step kernels that hold no reference to their array's memory.

In numba, a view of an array (``a[i]``, ``a[i, j]``, a slice) holds a reference to the
array's memory: making one increments a shared counter with an atomic instruction and
dropping it decrements it. The step kernels (``rnnkit.core.step_kernels``) take a dozen
views of every row they update (the gates, the states, the gradients), and on two threads
the counters of the arrays both shards share bounce between the cores. The LSTM's
element-wise step alone, one thread, 16 rows, ns a row, views / ``row_of``: H = 16 50 / 29,
H = 64 83 / 68, H = 128 129 / 122, H = 256 268 / 254 (benchmarks/README.md, session 20).

``row_of(a, i)`` is a[i] for an array of two or more dimensions, made without a reference
(its memory-info pointer null, which numba's reference counting skips), and ``row_at(a, i,
j)`` is a[i, j]; slices of them hold none either. numba makes its own short-lived views the
same way (``numba.np.arrayobj``, "avoids expensive refcounting operations on ephemeral
views"). Indices must lie in range (no wrap-around of negative ones, no bounds check), and
the array must outlive the view, as a kernel's arguments outlive its body (so never return
one to Python: nothing would keep its memory alive). Copy into or
fill such views element by element: numba's whole-slice assignment between two of them,
``dg[:2H] = dx[:2H]`` in the GRU's backward step, left dg unchanged.
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable
from numba.np.arrayobj import populate_array


@intrinsic
def row_of(typingctx, arr, i):
    """arr[i], one dimension fewer, C-contiguous where arr is, holding no reference."""
    if not isinstance(arr, types.Array) or arr.ndim < 2 or not isinstance(i, types.Integer):
        return None
    view = arr.copy(ndim=arr.ndim - 1, layout="C" if arr.layout == "C" else "A")

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        shape = cgutils.unpack_tuple(builder, array.shape, array_type.ndim)
        strides = cgutils.unpack_tuple(builder, array.strides, array_type.ndim)
        first = builder.gep(builder.bitcast(array.data, cgutils.voidptr_t),
                            [builder.mul(index, strides[0])])  # byte offset of row i
        out = context.make_array(view)(context, builder)
        populate_array(out, data=builder.bitcast(first, array.data.type), shape=shape[1:],
                       strides=strides[1:], itemsize=array.itemsize, meminfo=None)
        return out._getvalue()

    return view(arr, i), codegen


@register_jitable(inline="always")
def row_at(arr, i, j):
    """arr[i, j] for an array of three or more dimensions, holding no reference."""
    return row_of(row_of(arr, i), j)
