"""Numba kernels (shipped as ``emoscore.kernels``): scalar rule logic shared by the CPU and CUDA targets."""
