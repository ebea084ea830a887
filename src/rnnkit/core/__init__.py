"""The recurrent engine: cells (one file per kind, step and backward side by side), the
NumPy time loop and the fused numba kernels, the layer stack and PyTorch's initialisation."""
