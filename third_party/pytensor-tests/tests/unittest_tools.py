import logging
import sys
from collections.abc import Sequence
from copy import copy, deepcopy
from functools import wraps
from numbers import Number
from typing import TYPE_CHECKING

import numpy as np
import pytest

import pytensor
from pytensor.compile import optdb
from pytensor.compile.debug.debugmode import str_diagnostic
from pytensor.compile.mode import Mode, predefined_optimizers
from pytensor.gradient import verify_grad as orig_verify_grad
from pytensor.graph.basic import Variable, equal_computations
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.rewriting.basic import NodeRewriter, dfs_rewriter
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.tensor.math import _allclose
from pytensor.tensor.math import add as pt_add


if TYPE_CHECKING:
    from pytensor.graph.rewriting.basic import GraphRewriter


_logger = logging.getLogger("tests.unittest_tools")


def fetch_seed(pseed=None):
    """
    Returns the seed to use for running the unit tests.
    If an explicit seed is given, it will be used for seeding numpy's rng.
    If not, it will default to 666.

    Useful for seeding Generator objects.
    >>> rng = np.random.default_rng(fetch_seed())
    """

    seed = pseed or 666

    try:
        if seed:
            seed = int(seed)
        else:
            seed = None
    except ValueError:
        seed = None

    return seed


def verify_grad(op, pt, n_tests=2, rng=None, *args, **kwargs):
    """
    Wrapper for gradient.py:verify_grad
    Takes care of seeding the random number generator if None is given
    """
    if rng is None:
        rng = np.random.default_rng(fetch_seed())

    # TODO: Needed to increase tolerance for certain tests when migrating to
    # Generators from RandomStates. Caused flaky test failures. Needs further investigation
    if "rel_tol" not in kwargs:
        kwargs["rel_tol"] = 0.05
    if "abs_tol" not in kwargs:
        kwargs["abs_tol"] = 0.05
    orig_verify_grad(op, pt, n_tests, rng, *args, **kwargs)


class MockRandomState:
    """
    A helpful class to check random values close to the boundaries when
    designing new tests
    """

    def __init__(self, val):
        self.val = val

    def rand(self, *shape):
        return np.zeros(shape, dtype="float64") + self.val

    def randint(self, minval, maxval=None, size=1):
        if maxval is None:
            minval, maxval = 0, minval
        out = np.zeros(size, dtype="int64")
        if self.val == 0:
            return out + minval
        else:
            return out + maxval - 1


class OptimizationTestMixin:
    def assertFunctionContains(self, f, op, min=1, max=sys.maxsize):
        toposort = f.maker.fgraph.toposort()
        matches = [node for node in toposort if node.op == op]
        assert min <= len(matches) <= max, (
            toposort,
            matches,
            str(op),
            len(matches),
            min,
            max,
        )

    def assertFunctionContains0(self, f, op):
        return self.assertFunctionContains(f, op, min=0, max=0)

    def assertFunctionContains1(self, f, op):
        return self.assertFunctionContains(f, op, min=1, max=1)

    def assertFunctionContainsN(self, f, op, N):
        return self.assertFunctionContains(f, op, min=N, max=N)

    def assertFunctionContainsClass(self, f, op, min=1, max=sys.maxsize):
        toposort = f.maker.fgraph.toposort()
        matches = [node for node in toposort if isinstance(node.op, op)]
        assert min <= len(matches) <= max, (
            toposort,
            matches,
            str(op),
            len(matches),
            min,
            max,
        )

    def assertFunctionContainsClassN(self, f, op, N):
        return self.assertFunctionContainsClass(f, op, min=N, max=N)


class OpContractTestMixin:
    # self.ops should be a list of instantiations of an Op class to test.
    # self.other_op should be an op which is different from every op
    other_op = pt_add

    def copy(self, x):
        return copy(x)

    def deepcopy(self, x):
        return deepcopy(x)

    def clone(self, op):
        raise NotImplementedError("return new instance like `op`")

    def test_eq(self):
        for i, op_i in enumerate(self.ops):
            assert op_i == op_i
            assert op_i == self.copy(op_i)
            assert op_i == self.deepcopy(op_i)
            assert op_i == self.clone(op_i)
            assert op_i != self.other_op
            for j, op_j in enumerate(self.ops):
                if i == j:
                    continue
                assert op_i != op_j

    def test_hash(self):
        for i, op_i in enumerate(self.ops):
            h_i = hash(op_i)
            assert h_i == hash(op_i)
            assert h_i == hash(self.copy(op_i))
            assert h_i == hash(self.deepcopy(op_i))
            assert h_i == hash(self.clone(op_i))
            assert h_i != hash(self.other_op)
            for j, op_j in enumerate(self.ops):
                if i == j:
                    continue
                assert op_i != hash(op_j)

    def test_name(self):
        for op in self.ops:
            s = str(op)  # show that str works
            assert s  # names should not be empty


class InferShapeTester:
    def setup_method(self):
        # Take into account any mode that may be defined in a child class
        # and it can be None
        mode = getattr(self, "mode", None)
        if mode is None:
            mode = pytensor.compile.get_default_mode()
        # This mode seems to be the minimal one including the shape_i
        # optimizations, if we don't want to enumerate them explicitly.
        self.mode = mode.including("canonicalize")

    def _compile_and_check(
        self,
        inputs,
        outputs,
        numeric_inputs,
        cls,
        excluding=None,
        warn=True,
        check_topo=True,
    ):
        """This tests the infer_shape method only

        When testing with input values with shapes that take the same
        value over different dimensions (for instance, a square
        matrix, or a tensor3 with shape (n, n, n), or (m, n, m)), it
        is not possible to detect if the output shape was computed
        correctly, or if some shapes with the same value have been
        mixed up. For instance, if the infer_shape uses the width of a
        matrix instead of its height, then testing with only square
        matrices will not detect the problem. If warn=True, we emit a
        warning when testing with such values.

        :param check_topo: If True, we check that the Op where removed
            from the graph. False is useful to test not implemented case.

        """
        mode = self.mode
        if excluding:
            mode = mode.excluding(*excluding)
        if warn:
            for var, inp in zip(inputs, numeric_inputs, strict=True):
                if isinstance(inp, int | float | list | tuple):
                    inp = var.type.filter(inp)
                if not hasattr(inp, "shape"):
                    continue
                # remove broadcasted dims as it is sure they can't be
                # changed to prevent the same dim problem.
                if hasattr(var.type, "broadcastable"):
                    shp = [
                        inp.shape[i]
                        for i in range(inp.ndim)
                        if not var.type.broadcastable[i]
                    ]
                else:
                    shp = inp.shape
                if len(set(shp)) != len(shp):
                    _logger.warning(
                        "While testing shape inference for %r, we received an"
                        " input with a shape that has some repeated values: %r"
                        ", like a square matrix. This makes it impossible to"
                        " check if the values for these dimensions have been"
                        " correctly used, or if they have been mixed up.",
                        cls,
                        inp.shape,
                    )
                    break

        outputs_function = pytensor.function(inputs, outputs, mode=mode)

        # Now that we have full shape information at the type level, it's
        # possible/more likely that shape-computing graphs will not need the
        # inputs to the graph for which the shape is computed
        shapes_function = pytensor.function(
            inputs, [o.shape for o in outputs], mode=mode, on_unused_input="ignore"
        )

        # Check that the Op is removed from the compiled function.
        if check_topo:
            topo_shape = shapes_function.maker.fgraph.toposort()
            assert not any(t in outputs for t in topo_shape)
        topo_out = outputs_function.maker.fgraph.toposort()
        assert any(isinstance(t.op, cls) for t in topo_out)
        # Check that the shape produced agrees with the actual shape.
        numeric_outputs = outputs_function(*numeric_inputs)
        numeric_shapes = shapes_function(*numeric_inputs)
        for out, shape in zip(numeric_outputs, numeric_shapes, strict=True):
            if not hasattr(out, "shape"):
                # Numba downcasts scalars to native Python types, which don't have shape
                assert isinstance(out, Number)
                out = np.asarray(out)
            assert np.all(out.shape == shape), (out.shape, shape)


class WrongValue(Exception):
    def __init__(self, expected_val, val, rtol, atol):
        self.val1 = expected_val
        self.val2 = val
        self.rtol = rtol
        self.atol = atol

    def __str__(self):
        s = "WrongValue\n"
        return s + str_diagnostic(self.val1, self.val2, self.rtol, self.atol)


def assert_allclose(expected, value, rtol=None, atol=None):
    if not _allclose(expected, value, rtol, atol):
        raise WrongValue(expected, value, rtol, atol)


def assert_equal_computations(rewritten, expected, *args, original=None, **kwargs):
    """
    Assert that `rewritten` computes the same as `expected`.

    Parameters
    ----------
    rewritten
        The expression after the rewrite pass.
    expected
        The reference expression to compare against.
    *args, **kwargs
        Extra arguments forwarded to equal_computations.
    original : optional
        If given, will be printed in the error message.
    """
    __tracebackhide__ = True  # Hide traceback for py.test

    ok = equal_computations(rewritten, expected, *args, **kwargs)

    if not ok:
        parts = []

        def _dprint(expr):
            return pytensor.dprint(expr, print_type=True, file="str")

        if original is not None:
            parts.append(f"\nOriginal:\n{_dprint(original)}")
        parts.append(f"\nRewritten:\n{_dprint(rewritten)}")
        parts.append(f"\nExpected:\n{_dprint(expected)}")

        raise AssertionError("equal_computations failed\n" + "".join(parts))

    return True


class AttemptManyTimes:
    """Decorator for unit tests that forces a unit test to be attempted
    multiple times. The test needs to pass a certain number of times for it to
    be considered to have succeeded. If it doesn't pass enough times, it is
    considered to have failed.

    Warning : care should be exercised when using this decorator. For some
    tests, the fact that they fail randomly could point to important issues
    such as race conditions, usage of uninitialized memory region, etc. and
    using this decorator could hide these problems.

    Usage:
        @AttemptManyTimes(n_attempts=5, n_req_successes=3)
        def fct(args):
            ...
    """

    def __init__(self, n_attempts, n_req_successes=1):
        assert n_attempts >= n_req_successes
        self.n_attempts = n_attempts
        self.n_req_successes = n_req_successes

    def __call__(self, fct):
        # Wrap fct in a function that will attempt to run it multiple
        # times and return the result if the test passes enough times
        # of propagate the raised exception if it doesn't.
        @wraps(fct)
        def attempt_multiple_times(*args, **kwargs):
            current_seed = 666

            # If the decorator has received only one, unnamed, argument
            # and that argument has an attribute _testMethodName, it means
            # that the unit test on which the decorator is used is in a test
            # class. This means that the setup() method of that class will
            # need to be called before any attempts to execute the test in
            # case it relies on data randomly generated in the class' setup()
            # method.
            if len(args) == 1 and hasattr(args[0], "_testMethodName"):
                test_in_class = True
                class_instance = args[0]
            else:
                test_in_class = False

            n_fail = 0
            n_success = 0

            # Attempt to call the test function multiple times. If it does
            # raise any exception for at least one attempt, it passes. If it
            # raises an exception at every attempt, it fails.
            for i in range(self.n_attempts):
                try:
                    if test_in_class and hasattr(class_instance, "setUp"):
                        class_instance.setup_method()

                    fct(*args, **kwargs)

                    n_success += 1
                    if n_success == self.n_req_successes:
                        break

                except Exception:
                    n_fail += 1

                    # If there is not enough attempts remaining to achieve the
                    # required number of successes, propagate the original
                    # exception
                    if n_fail + self.n_req_successes > self.n_attempts:
                        raise

                finally:
                    if test_in_class and hasattr(class_instance, "teardown_method"):
                        class_instance.teardown_method()

                    # Update the current_seed
                    if current_seed not in [None, "random"]:
                        current_seed = str(int(current_seed) + 1)

        return attempt_multiple_times


def assertFailure_fast(f):
    """A Decorator to handle the test cases that are failing when
    PYTENSOR_FLAGS =cycle_detection='fast'.
    """
    if pytensor.config.cycle_detection == "fast":

        def test_with_assert(*args, **kwargs):
            with pytest.raises(Exception):
                f(*args, **kwargs)

        return test_with_assert
    else:
        return f


class RewriteTester:
    """Apply rewrites to a graph and provide assertions for correctness.

    Rewrite tests should verify **two independent properties**:

    1. **Graph structure** — the rewritten graph matches the expected symbolic
       expression.  This is the primary check.  Prefer this over Op-count
       assertions, which can silently pass when one Op is replaced by a
       specialised variant of the same kind (e.g. ``AdvancedSubtensor`` →
       ``AdvancedSubtensor1``, or ``Blockwise(Dot)`` → ``Dot``).  Writing
       out the expected graph is harder, but it makes the test explicit about
       *exactly* what the rewrite should produce.

    2. **Numerical equivalence** — the original and rewritten graphs produce
       the same values when evaluated.  This is an independent safety net: a
       graph can look structurally correct yet compute something subtly
       different from the original (e.g. operand order swapped in a
       non-commutative Op).  Both graphs are compiled with ``optimizer=None``
       so no further rewrites can mask a problem.  If you are confident the
       structural check is sufficient, the numerical check can be skipped.

    Example — canonicalize removes redundant transposes (``x.T.T → x``)::

        x = pt.dmatrix("x")
        out = x.T.T

        result = RewriteTester([x], [out])
        result.assert_graph(x)
        result.assert_eval(np.eye(3))

    **include / exclude** control which passes from the rewrite database are
    applied.  They are orthogonal to ``custom_rewrite`` — both can be used
    together or independently.  The default ``include="canonicalize"``
    applies only the canonicalization pass, which is usually enough for
    targeted rewrite tests.  ``include`` also accepts a predefined optimizer
    name as a single string — e.g. ``include="o3"`` applies ``fast_run``
    minus ``inplace``.  Pass ``include=None`` to disable database rewrites
    entirely.

    **custom_rewrite** applies a specific rewriter after the database
    passes, mirroring the ``canonicalize``-then-specialize order of a real
    compilation (and matching ``rewrite_graph``): the database first puts the
    graph in canonical form, then the rewriter under test runs on it.
    ``NodeRewriter`` instances are automatically wrapped in a DFS
    ``WalkingGraphRewriter``.  For example, testing ``log(1 + x) → log1p(x)``
    with the ``local_log1p`` node rewriter::

        from pytensor.tensor.math import log, log1p
        from pytensor.tensor.rewriting.math import local_log1p

        x = pt.dscalar("x")
        out = log(1 + x)

        result = RewriteTester(
            [x],
            [out],
            include=None,
            custom_rewrite=local_log1p,
        )
        result.assert_graph(log1p(x))
        result.assert_eval(0.5)

    **linker** controls the backend used when evaluating both graphs
    (default ``"py"``).  Use ``"c"`` or ``"numba"`` to test rewrites that
    target a specific backend.

    Parameters
    ----------
    inputs
        Input variables of the graph.
    outputs
        Output variables of the graph.
    include
        Rewrite database tags to include (default: ``"canonicalize"``),
        or a predefined optimizer name as a string (e.g. ``"o3"``,
        ``"fast_run"``).  Pass ``None`` to disable database rewrites.
    exclude
        Rewrite database tags to exclude.
    custom_rewrite
        A ``GraphRewriter`` or ``NodeRewriter`` to apply after the database
        rewrites.  ``NodeRewriter`` instances are automatically wrapped in a
        DFS ``WalkingGraphRewriter``.
    linker
        Linker used when evaluating both graphs (default: ``"py"``).
    **kwargs
        Extra arguments forwarded to ``RewriteDatabaseQuery``.
    """

    def __init__(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        *,
        include: str | Sequence[str] | None = "canonicalize",
        exclude: Sequence[str] | None = (),
        custom_rewrite: "GraphRewriter | NodeRewriter | None" = None,
        linker: str = "py",
        **kwargs,
    ):
        inputs = list(inputs)
        outputs = list(outputs)
        self.orig_fg = FunctionGraph(inputs=inputs, outputs=outputs, clone=True)
        self.rewr_fg = FunctionGraph(inputs=inputs, outputs=outputs, clone=True)
        self._orig_inputs = inputs
        self._no_opt = Mode(linker=linker, optimizer=None)
        self._orig_fn = None
        self._rewr_fn = None

        if include:
            if (
                isinstance(include, str)
                and (query := predefined_optimizers.get(include)) is not None
            ):
                pass
            else:
                if isinstance(include, str):
                    include = [include]
                query = RewriteDatabaseQuery(include=list(include), **kwargs)
            if exclude:
                query = query.excluding(*exclude)
            optdb.query(query).rewrite(self.rewr_fg)

        if custom_rewrite is not None:
            if isinstance(custom_rewrite, NodeRewriter):
                custom_rewrite = dfs_rewriter(custom_rewrite)
            custom_rewrite.rewrite(self.rewr_fg)

    @property
    def orig_fn(self):
        if self._orig_fn is None:
            self._orig_fn = pytensor.function(
                self.orig_fg.inputs,
                self.orig_fg.outputs,
                mode=self._no_opt,
                on_unused_input="ignore",
            )
        return self._orig_fn

    @property
    def rewr_fn(self):
        if self._rewr_fn is None:
            self._rewr_fn = pytensor.function(
                self.rewr_fg.inputs,
                self.rewr_fg.outputs,
                mode=self._no_opt,
                on_unused_input="ignore",
            )
        return self._rewr_fn

    def assert_eval(self, *test_values, rtol=None, atol=None):
        __tracebackhide__ = True
        orig_out = self.orig_fn(*test_values)
        rewr_out = self.rewr_fn(*test_values)
        if not isinstance(orig_out, list | tuple):
            orig_out = [orig_out]
        if not isinstance(rewr_out, list | tuple):
            rewr_out = [rewr_out]
        for i, (a, b) in enumerate(zip(orig_out, rewr_out, strict=True)):
            np.testing.assert_allclose(
                a,
                b,
                rtol=rtol or 1e-7,
                atol=atol or 0,
                err_msg=f"Output {i} mismatch between original and rewritten graph",
            )

    def assert_graph(self, *expected_outputs, strict_dtype=False, **kwargs):
        __tracebackhide__ = True
        assert_equal_computations(
            self.rewr_fg.outputs,
            list(expected_outputs),
            in_xs=list(self.rewr_fg.inputs),
            in_ys=self._orig_inputs,
            original=self.orig_fg.outputs,
            strict_dtype=strict_dtype,
            **kwargs,
        )
