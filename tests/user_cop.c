#section support_code_apply

/* tests/test_graph_key.py _UserCOp: out = 3 - x (a COp of the user's, C from this file) */
int APPLY_SPECIFIC(user_cop)(PyArrayObject* x, PyArrayObject** out) {
    Py_XDECREF(*out);
    *out = (PyArrayObject*)PyArray_FROMANY((PyObject*)x, NPY_FLOAT64, 0, 0,
                                           NPY_ARRAY_ENSURECOPY | NPY_ARRAY_C_CONTIGUOUS);
    if (*out == NULL) return 1;
    double* d = (double*)PyArray_DATA(*out);
    for (npy_intp i = 0; i < PyArray_SIZE(*out); ++i) d[i] = 3.0 - d[i];
    return 0;
}
