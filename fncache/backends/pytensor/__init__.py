"""The PyTensor backend (PyTensor 3.3.x, the engine of PyMC): C/CVM modules, Numba cache files."""
