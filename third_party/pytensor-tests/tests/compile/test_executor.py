import copy
import pickle

import numpy as np
import pytest
from numba.core.errors import TypingError as NumbaTypingError

import pytensor.tensor as pt
from pytensor.compile.debug.debugmode import DebugMode, InvalidValueError
from pytensor.compile.io import In, Out
from pytensor.compile.maker import UnusedInputError, function
from pytensor.compile.mode import Mode, get_default_mode
from pytensor.compile.sharedvalue import shared
from pytensor.configdefaults import config
from pytensor.graph.basic import Constant
from pytensor.graph.utils import MissingInputError
from pytensor.link.basic import Container
from pytensor.printing import debugprint
from pytensor.tensor.math import dot, tanh
from pytensor.tensor.math import sum as pt_sum
from pytensor.tensor.type import (
    dmatrix,
    dscalar,
    dscalars,
    dvector,
    fscalar,
    imatrix,
    iscalar,
    ivectors,
    matrix,
    scalar,
    scalars,
    vector,
)


@pytest.mark.filterwarnings(
    "error",
    r"ignore:^Numba will use object mode to run.*perform method\.:UserWarning",
    r"ignore:Cannot cache compiled function \"numba_funcified_fgraph\".*:numba.NumbaWarning",
)
class TestFunction:
    @pytest.mark.xfail()
    def test_none(self):
        fn = function([], None)  # ok
        rval = fn()
        assert rval != [], (
            "See #254: Using None as function output leads to [] return value"
        )
        assert rval is None

    def test_empty(self):
        fn = function([], [])  # ok
        assert fn() == []

    def test_extra_inputs(self):
        x, _s = scalars("xs")
        fn = function([x], [x])
        with pytest.raises(TypeError):
            fn(1, 2)

    def test_missing_inputs(self):
        def fn():
            x, _s = scalars("xs")
            function([], [x])

        with pytest.raises(MissingInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            # Ignore unused input s, as it hides the other error
            function([s], [x], on_unused_input="ignore")

        with pytest.raises(MissingInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            function([s], [x])

        with pytest.raises(UnusedInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            # Ignore unused input s, as it hides the other error
            function([s], x, on_unused_input="ignore")

        with pytest.raises(MissingInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            function([s], x)

        with pytest.raises(UnusedInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            # Ignore unused input s, as it hides the other error
            function([s], Out(x), on_unused_input="ignore")

        with pytest.raises(MissingInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            function([s], Out(x))

        with pytest.raises(UnusedInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            function([In(x, update=s + x)], x)

        with pytest.raises(MissingInputError):
            fn()

        def fn():
            x, s = scalars("xs")
            function([In(x, update=((s * s) + x))], x)

        with pytest.raises(MissingInputError):
            fn()

    def test_input_anon_singleton(self):
        x, s = scalars("xs")
        fn = function([s, x], [x + s])
        assert fn(2, 3) == [5]
        # no state
        assert fn(2, 3) == [5]

    def test_input_anon_unpack(self):
        x, s = scalars("xs")
        fn = function([s, x], x + s)
        assert fn(2, 3) == 5

    def test_naming_rule0(self):
        x, s = scalars("xs")
        f = function([x, s], x / s)
        assert f(1, 2) == 0.5
        assert f(2, 1) == 2.0
        assert f(s=2, x=1) == 0.5
        assert f(x=2, s=1) == 2.0
        assert f(2, s=1) == 2.0

        with pytest.raises(TypeError):
            # got multiple values for keyword argument 'x'
            f(2, x=2.0)
        with pytest.raises(TypeError):
            # takes exactly 2 non-keyword arguments (1 given)
            f(x=1)
        with pytest.raises(TypeError):
            # takes exactly 2 non-keyword arguments (0 given)
            f(s=1)

    def test_naming_rule1(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        _x, s = scalars("xs")
        f = function([a, s], a / s)
        assert f(1, 2) == 0.5
        assert f(2, 1) == 2.0
        assert f(2, s=1) == 2.0

        with pytest.raises(TypeError):
            # got unexpected keyword argument 'q'
            f(q=2, s=1)
        with pytest.raises(TypeError):
            # got unexpected keyword argument 'a'
            f(a=2, s=1)

    def test_naming_rule2(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        # x's name is ignored because it is followed by anonymous parameter a.
        # Ignore unused input x, as it hides the other error
        f = function([x, a, s], a / s, on_unused_input="ignore")
        assert f(9, 1, 2) == 0.5
        assert f(9, 2, 1) == 2.0
        assert f(9, 2, s=1) == 2.0

        with pytest.raises(TypeError):
            # got unexpected keyword argument 'x'
            f(x=9, a=2, s=1)
        with pytest.raises(TypeError):
            # got unexpected keyword argument 'x'
            f(5.0, x=9)

    def test_same_names(self):
        a, x, s = scalars("xxx")
        # implicit names would cause error.  What do we do?
        f = function([a, x, s], a + x + s)
        assert f(1, 2, 3) == 6
        with pytest.raises(TypeError):
            f(1, 2, x=3)

    def test_weird_names(self):
        a, x, s = scalars("xxx")

        with pytest.raises(TypeError):
            function([In(a, name=[])], [])

        def t():
            f = function(
                [
                    In(a, name={"adsf", ()}),
                    In(x, name=()),
                    In(s, name=scalar()),
                ],
                a + x + s,
            )
            return f

        with pytest.raises(TypeError):
            t()

    def test_trust_input(self):
        x = dvector()
        y = shared(1)
        z = x + y
        f = function([x], z)
        assert f.trust_input is False
        f = function([x], z, trust_input=True)
        assert f.trust_input is True

    def test_copy(self):
        a = scalar()
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(s, name="s"),
            ],
            s + a * x,
        )

        g = f.copy()

        assert f.unpack_single == g.unpack_single
        assert f.trust_input == g.trust_input

        assert g._finder[x].storage is not f._finder[x].storage
        assert g._finder[a].storage is not f._finder[a].storage
        assert g._finder[s].storage is not f._finder[s].storage

        assert g._finder[a].value is None and f._finder[a].value is None
        assert g._finder[s].value is None and f._finder[s].value is None

        assert np.array_equal(f(2, 1, 0), g(2, 1, 0))
        assert np.array_equal(f(2, 1, 0), g(2, 1, 0))

    def test_copy_share_memory(self):
        x = fscalar("x")
        # SharedVariable for tests, one of them has update
        y = shared(value=1)
        z = shared(value=2)
        out = tanh((x + y + 2) / (x + z - 0.2) ** 2)

        # Test for different linkers
        for mode in ("FAST_RUN", "FAST_COMPILE"):
            ori = function([x], [out], mode=mode, updates={z: z + 1})
            cpy = ori.copy(share_memory=True)

            # Test if memories shared
            storage_map_ori = ori.vm.storage_map
            storage_map_cpy = cpy.vm.storage_map
            fgraph_cpy = cpy.maker.fgraph

            # Assert intermediate and Constants storages are shared.
            # and output stoarges are not shared
            i_o_variables = fgraph_cpy.inputs + fgraph_cpy.outputs
            ori_storages = storage_map_ori.values()
            l = [
                val
                for key, val in storage_map_cpy.items()
                if key not in i_o_variables or isinstance(key, Constant)
            ]
            for storage in l:
                assert any(storage is s for s in ori_storages)

            # Assert storages of SharedVariable without updates are shared
            for input, here, there in zip(
                ori.maker.expanded_inputs,
                ori.input_storage,
                cpy.input_storage,
                strict=True,
            ):
                assert here.data is there.data

    def test_swap_SharedVariable(self):
        i = iscalar()
        x_list = shared(value=np.random.random((10,)).astype(config.floatX))

        x = scalar("x")
        # SharedVariable for tests, one of them has update
        y = shared(value=1, name="y")
        z = shared(value=2, name="z")
        m = shared(value=0, name="m")

        # SharedVariable to replace
        y_rpl = shared(value=3, name="y_rpl")
        z_rpl = shared(value=4, name="z_rpl")
        swap = {y: y_rpl, z: z_rpl}
        map_SV = {"y_rpl": y_rpl, "z_rpl": z_rpl}

        out = x + y + z + m

        # Test for different linkers
        # for mode in ["FAST_RUN","FAST_COMPILE"]:
        second_time = False
        for mode in ("FAST_RUN", "FAST_COMPILE"):
            ori = function(
                [i],
                [out],
                mode=mode,
                updates=[(z, z + 1), (m, m + 2)],
                givens={x: x_list[i]},
            )
            cpy = ori.copy(swap=swap)

            # run function several times
            ori(1), cpy(1), cpy(2)

            # assert same SharedVariable are update in different function
            if not second_time:
                # m should be updated 3 times
                assert m.get_value() == 6
                # z should be updated once
                assert z.get_value() == 3
                # z_rpl should be updated twice
                assert z_rpl.get_value() == 6
                # y and y_rpl should not be updated
                assert y_rpl.get_value() == 3
                assert y.get_value() == 1
            elif second_time:
                # doule update for sharedvariable
                assert m.get_value() == 12
                assert z.get_value() == 4
                assert z_rpl.get_value() == 8
                assert y_rpl.get_value() == 3

            # test cpy function:
            # 2. SharedVariable is updatable -> values did update(z == 5)
            # 1. sharedvariable is swap ->  Rpl sharedvariables share storage
            names = map_SV.keys()
            for key in cpy.vm.storage_map:
                if key.name in names:
                    assert (
                        map_SV[key.name].container.storage[0]
                        == cpy.vm.storage_map[key][0]
                    )

            second_time = True

    def test_swap_SharedVariable_with_given(self):
        # A special testcase for logistic_sgd.py in Deep Learning Tutorial
        # This test assert that SharedVariable in different function have same storage

        train_x = shared(value=np.random.random((10, 10)).astype(config.floatX))
        test_x = shared(value=np.random.random((10, 10)).astype(config.floatX))

        train_y = shared(value=np.random.random((10, 1)).astype(config.floatX))
        test_y = shared(value=np.random.random((10, 1)).astype(config.floatX))

        i = iscalar("index")
        x = vector("x")
        y = vector("y")
        # this formular has no sense but for a test
        out = (pt_sum(x) - y) ** 2
        train = function(
            [i],
            out,
            givens={x: train_x[i], y: train_y[i]},
            updates={train_x: train_x + 0.1},
        )

        test_def = function([i], out, givens={x: test_x[i], y: test_y[i]})
        test_cpy = train.copy(
            swap={train_x: test_x, train_y: test_y}, delete_updates=True
        )

        for in1, in2 in zip(test_def.maker.inputs, test_cpy.maker.inputs, strict=True):
            assert in1.value is in2.value

    def test_copy_delete_updates(self):
        from contextlib import nullcontext

        w = iscalar("w")
        x = fscalar("x")
        # SharedVariable for tests, one of them has update
        y = shared(value=1, name="y")
        z = shared(value=2, name="z")
        out = x + y + z

        inplace_warn = pytest.warns(UserWarning, match="will still be mutated")

        for mode in ("FAST_RUN", "FAST_COMPILE"):
            y.set_value(1)
            z.set_value(2)
            # FAST_RUN applies inplace rewrites, so z will be destroyed.
            # A warning is issued because dropping the update doesn't prevent
            # the shared variable storage from being mutated.
            ctx = inplace_warn if mode == "FAST_RUN" else nullcontext()
            ori = function([x], out, mode=mode, updates={z: z * 2})
            with ctx:
                cpy = ori.copy(delete_updates=True)
            if mode == "FAST_COMPILE":
                assert cpy(1) == 4
                assert cpy(1) == 4
                assert cpy(1) == 4

        # Test if unused implicit and explicit inputs from delete_updates
        # are ignored as intended.
        # No inplace warning here because z is not reachable from the output,
        # so the destroying node won't be in the cloned graph.
        for mode in ("FAST_RUN", "FAST_COMPILE"):
            ori = function([x], x, mode=mode, updates={z: z * 2})
            cpy = ori.copy(delete_updates=True)

            ori = function([x, w], x, mode=mode, updates={z: z + w})
            cpy = ori.copy(delete_updates=True)

    def test_shared_state0(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(
                    s,
                    value=Container(s, storage=[np.array(0.0)]),
                    update=s + a * x,
                    mutable=True,
                ),
            ],
            s + a * x,
        )
        g = function(
            [
                x,
                In(a, name="a"),
                In(s, value=f._finder[s], update=s - a * x, mutable=True),
            ],
            s + a * x,
        )

        f(1, 2)
        assert f._finder[s].value == 2
        assert g._finder[s].value == 2
        g(1, 2)
        assert f._finder[s].value == 0
        assert g._finder[s].value == 0

    def test_shared_state1(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(
                    s,
                    value=Container(s, storage=[np.array(0.0)]),
                    update=s + a * x,
                    mutable=True,
                ),
            ],
            s + a * x,
        )
        g = function([x, In(a, name="a"), In(s, value=f._finder[s])], s + a * x)

        f(1, 2)
        assert f._finder[s].value == 2
        assert g._finder[s].value == 2
        f(1, 2)
        g(1, 2)
        assert f._finder[s].value == 4
        assert g._finder[s].value == 4

    def test_shared_state2(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(
                    s,
                    value=Container(s, storage=[np.array(0.0)]),
                    update=s + a * x,
                    mutable=False,
                ),
            ],
            s + a * x,
        )
        g = function([x, In(a, name="a"), In(s, value=f._finder[s])], s + a * x)

        f(1, 2)
        assert f._finder[s].value == 2
        assert g._finder[s].value == 2
        f(1, 2)
        assert f._finder[s].value == 4
        assert g._finder[s].value == 4
        g(1, 2)  # has no effect on state
        assert f._finder[s].value == 4
        assert g._finder[s].value == 4

    def test_shared_state_not_implicit(self):
        # This test is taken from the documentation in
        # doc/topics/function.txt. If it does not pass anymore and yet the
        # behavior is still intended the doc and the test should both be
        # updated accordingly.
        x, s = scalars("xs")
        inc = function(
            [x, In(s, update=(s + x), value=Container(s, storage=[np.array(10.0)]))], []
        )
        dec = function(
            [x, In(s, update=(s - x), value=inc._finder[s], implicit=False)], []
        )
        assert dec._finder[s].value is inc._finder[s].value
        inc._finder[s].value = 2
        assert dec._finder[s].value == 2
        dec(1)
        assert inc._finder[s].value == 1
        dec(1, 0)
        assert inc._finder[s].value == -1
        assert dec._finder[s].value == -1

    def test_constant_output(self):
        # Test that if the output is a constant, we respect the pytensor memory interface
        f = function([], pt.constant([4]), mode="CVM")
        # print f.maker.fgraph.toposort()
        out = f()
        assert (out == 4).all()
        out[0] = 3
        out2 = f()
        # If the following 2 asserts fail it mean PyTensor broke it's memory contract.
        assert out2 is not out
        assert (out2 == 4).all()

        # Test that if the output is a constant and borrow, we respect the pytensor memory interface
        f = function([], Out(pt.constant([4]), borrow=True), mode="CVM")
        # print f.maker.fgraph.toposort()
        out = f()
        assert (out == 4).all()
        out[0] = 3
        out2 = f()

        if isinstance(get_default_mode(), DebugMode):
            # In DebugMode, we don't implement optimization based on borrow on the output.
            assert (out2 == 4).all()
        else:
            assert out2 is out
            assert (out2 == 3).all()

    def test_borrow_input(self):
        # Tests that the contract for io.In is respected. When borrow=False, it should be
        # impossible for outputs to be aliased to the input variables provided by the user,
        # either through a view-map or a destroy map. New tests should be added in the future
        # when borrow=True is implemented.

        a = dmatrix()
        aval = np.random.random((3, 3))

        # when borrow=False, test that a destroy map cannot alias output to input
        f = function([In(a, borrow=False)], Out(a + 1, borrow=True))
        assert np.all(f(aval) == aval + 1)
        assert not np.may_share_memory(aval, f(aval))

        # when borrow=False, test that a viewmap cannot alias output to input
        f = function([In(a, borrow=False)], Out(a[0, :], borrow=True))
        assert np.all(f(aval) == aval[0, :])
        assert not np.may_share_memory(aval, f(aval))

    def test_borrow_output(self):
        a = dmatrix()
        f = function([a], Out(a, borrow=False))
        o = np.ones((3, 3))
        assert o is not f(o)  # function no longer permits aliasing outputs to inputs

        f = function([a], Out(a * 4, borrow=False))
        o = np.ones((3, 3))
        four = f(o)
        assert np.all(four == 4)
        f(o + 0.1)  # should not clobber the memory used to store four
        assert np.all(four == 4)

        f = function([a], Out(a * 4, borrow=True), mode=Mode("c|py_nogc", "fast_run"))
        o = np.ones((3, 3))
        four = f(o)
        assert np.all(four == 4)
        f(o + 0.1)  # should clobber the memory used to store four
        if config.cxx:
            assert not np.all(four == 4)
        else:
            # The Elemwise.perform method don't reuse memory
            # as some numpy version don't support that correctly.
            assert np.all(four == 4)

    def test_disconnected_input(self):
        a = scalar("a")
        v = vector("v")
        with pytest.raises(UnusedInputError):
            function([a, v], v * 2)

        function([a, v], v * 2, on_unused_input="ignore")

    def test_masked_input(self):
        m = matrix("m")
        mt = m.T
        mt.name = "m.T"
        with pytest.raises(UnusedInputError):
            function([m, mt], mt * 2)
        function([m, mt], mt * 2, on_unused_input="ignore")

    def test_givens_input_var(self):
        # Ensure error is raised when trying to replace an input variable.

        x = scalar("x")
        y = x * 2
        with pytest.raises(RuntimeError):
            function([x], y, givens={x: x + 1})

    def test_free(self):
        # Make test on free() function

        x = vector("x")
        func = function([x], x + 1)
        func.vm.allow_gc = False
        func([1])

        check_list = []
        for key, val in func.vm.storage_map.items():
            if not isinstance(key, Constant):
                check_list.append(val)
        assert any(val[0] for val in check_list)

        func.free()

        for key, val in func.vm.storage_map.items():
            if not isinstance(key, Constant):
                assert val[0] is None

    def test_check_for_aliased_inputs(self):
        b = np.random.random((5, 4))
        s1 = shared(b)
        s2 = shared(b)
        x1 = vector()
        x2 = vector(shape=(3,))
        x3 = vector(shape=(1,))

        # Assert cases we should not check for aliased inputs
        for d in [
            dict(outputs=[s1 + 1]),
            dict(outputs=[s1 + 1, s2 + 3]),
            dict(outputs=[s1 + 1], updates=[(s2, s2 + 3)]),
            dict(inputs=[x1], outputs=[x1 + 1], updates=[(s2, s2 + 3)]),
            dict(
                inputs=[In(x1, mutable=True)], outputs=[x1 + 1], updates=[(s2, s2 + 3)]
            ),
            dict(
                inputs=[In(x2, mutable=True), In(x3, mutable=True)],
                outputs=[x2 + 2, x3 + 3],
            ),
        ]:
            if "inputs" not in d:
                d["inputs"] = []
            f = function(**d)
            assert not f._potential_aliased_input_groups, d

        # Assert cases we should check for aliased inputs
        for d in [
            dict(
                inputs=[In(x1, mutable=True), In(x2, mutable=True)],
                outputs=[x1 + 1, x2 + 2],
                updates=[(s2, s2 + 3)],
            ),
            dict(
                inputs=[In(x1, mutable=True), In(x3, mutable=True)],
                outputs=[x1 + 1, x3 + 3],
                updates=[(s2, s2 + 3)],
            ),
        ]:
            if "inputs" not in d:
                d["inputs"] = []
            f = function(**d)

            assert f._potential_aliased_input_groups, d

    def test_output_list_still_works(self):
        # Test that function works if outputs is a list.
        x = scalar("x")

        f = function([x], outputs=[x * 3, x * 2, x * 4, x])

        result = f(5.0)

        assert result[0] == 15.0
        assert result[1] == 10.0
        assert result[2] == 20.0
        assert result[3] == 5.0

    def test_dprint(self):
        x = pt.scalar("x")
        out = x + 1
        f = function([x], out)
        assert f.dprint(file="str") == debugprint(f, file="str")

    def test_empty_givens_updates(self):
        # Regression test for bug fixed in 8625e03.

        # Empty givens / updates dictionaries were not properly detected before,
        # triggering useless crashes at compile time.
        x = scalar()
        y = x * 2
        function([In(x)], y, givens={})
        function([In(x)], y, updates={})

    def test_rebuild_strict(self):
        # Test fix for error reported at
        # https://groups.google.com/d/topic/theano-users/BRK0UEB72XA/discussion
        w = imatrix()
        x, y = ivectors("x", "y")
        z = x * y
        f = function([w, y], z, givens=[(x, w)], rebuild_strict=False)
        z_val = f(np.ones((3, 5), dtype="int32"), np.arange(5, dtype="int32"))
        assert z_val.ndim == 2
        assert np.all(z_val == np.ones((3, 5)) * np.arange(5))


class SomethingToPickle:
    def __init__(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")
        v = vector("v")

        self.s = s
        self.x = x
        self.v = v

        self.e = a * x + s

        self.f1 = function(
            [
                x,
                In(a, name="a"),
                In(
                    s,
                    value=Container(s, storage=[np.array(0.0)]),
                    update=s + a * x,
                    mutable=True,
                ),
            ],
            s + a * x,
        )

        self.f2 = function(
            [
                x,
                In(a, name="a"),
                In(s, value=self.f1._finder[s], update=s + a * x, mutable=True),
            ],
            s + a * x,
        )


@pytest.mark.filterwarnings(
    "error",
    r"ignore:^Numba will use object mode to run.*perform method\.:UserWarning",
    r"ignore:Cannot cache compiled function \"numba_funcified_fgraph\".*:numba.NumbaWarning",
)
class TestPicklefunction:
    def test_deepcopy(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a", mutable=True),
                In(s, update=s + a * x, mutable=True),
            ],
            s + a * x,
        )
        try:
            g = copy.deepcopy(f)
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise
        # if they both return, assume that they return equivalent things.
        # print [(k, id(k)) for k in f.finder]
        # print [(k, id(k)) for k in g.finder]

        assert g._finder[0].storage is not f._finder[0].storage
        assert g._finder[1].storage is not f._finder[1].storage
        assert g._finder[2].storage is not f._finder[2].storage
        assert x not in g._finder
        # Shared variable is the first input
        assert (
            f._potential_aliased_input_groups
            == g._potential_aliased_input_groups
            == ((1, 2),)
        )
        assert f.name == g.name
        assert f.maker.fgraph.name == g.maker.fgraph.name

        assert g._finder[1].value is None and f._finder[1].value is None
        assert g._finder[2].value is None and f._finder[2].value is None

        assert f(2, 1, 0) == g(2, 1, 0)

    def test_deepcopy_trust_input(self):
        a = dscalar()  # the a is for 'anonymous' (un-named).
        x, s = dscalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(s, update=s + a * x, mutable=True),
            ],
            s + a * x,
        )
        f.trust_input = True
        try:
            g = copy.deepcopy(f)
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise
        assert f.trust_input is g.trust_input
        f(np.array(2.0), np.array(1.0), np.array(0.0))
        with pytest.raises(
            (ValueError, AttributeError, InvalidValueError, NumbaTypingError)
        ):
            f(2.0, np.array(1.0), np.array(0.0))
        g(np.array(2.0), np.array(1.0), np.array(0.0))
        with pytest.raises(
            (ValueError, AttributeError, InvalidValueError, NumbaTypingError)
        ):
            g(2.0, np.array(1.0), np.array(0.0))

    def test_deepcopy_shared_container(self):
        # Ensure that shared containers remain shared after a deep copy.
        a, x = scalars("ax")

        h = function([In(a, value=Container(a, storage=[np.array(0.0)]))], a)
        f = function([x, In(a, value=h._finder[a], implicit=True)], x + a)

        try:
            memo = {}
            ac = copy.deepcopy(a)
            memo.update({id(a): ac})
            hc = copy.deepcopy(h, memo=memo)
            memo.update({id(h): hc})
            fc = copy.deepcopy(f, memo=memo)
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise
        h._finder[a].value = 1
        hc._finder[ac].value = 2
        assert f._finder[a].value == 1
        assert fc._finder[ac].value == 2

    def test_pickle(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")

        f = function(
            [
                x,
                In(a, name="a"),
                In(s, update=s + a * x, mutable=True),
            ],
            s + a * x,
        )

        try:
            # Note that here we also test protocol 0 on purpose, since it
            # should work (even though one should not use it).
            g = pickle.loads(pickle.dumps(f, protocol=0))
            g = pickle.loads(pickle.dumps(f, protocol=-1))
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise
        # if they both return, assume that they return equivalent things.
        # print [(k, id(k)) for k in f.finder]
        # print [(k, id(k)) for k in g.finder]

        assert g._finder[0].storage is not f._finder[0].storage
        assert g._finder[1].storage is not f._finder[1].storage
        assert g._finder[2].storage is not f._finder[2].storage
        assert x not in g._finder

        assert g._finder[1].value is None and f._finder[1].value is None
        assert g._finder[2].value is None and f._finder[2].value is None
        assert f(2, 1, 0) == g(2, 1, 0)

    def test_optimizations_preserved(self):
        a = dvector()  # the a is for 'anonymous' (un-named).
        x = dvector("x")
        s = dvector("s")
        xm = dmatrix("x")
        sm = dmatrix("s")

        f = function(
            [a, x, s, xm, sm],
            ((a.T.T) * (dot(xm, (sm.T.T.T)) + x).T * (x / x) + s),
        )
        old_default_mode = config.mode
        try:
            try:
                str_f = pickle.dumps(f, protocol=-1)
                config.mode = "NUMBA"
                g = pickle.loads(str_f)
                # print g.maker.mode
                # print compile.mode.default_mode
            except NotImplementedError as e:
                if e[0].startswith("DebugMode is not pickl"):
                    g = "ok"
        finally:
            config.mode = old_default_mode

        if g == "ok":
            return

        assert f.maker is not g.maker
        assert f.maker.fgraph is not g.maker.fgraph
        tf = f.maker.fgraph.toposort()
        tg = f.maker.fgraph.toposort()
        assert len(tf) == len(tg)
        for nf, ng in zip(tf, tg, strict=True):
            assert nf.op == ng.op
            assert len(nf.inputs) == len(ng.inputs)
            assert len(nf.outputs) == len(ng.outputs)
            assert [i.type for i in nf.inputs] == [i.type for i in ng.inputs]
            assert [i.type for i in nf.outputs] == [i.type for i in ng.outputs]

    def test_multiple_functions(self):
        a = scalar()  # the a is for 'anonymous' (un-named).
        x, s = scalars("xs")
        v = vector("v")

        # put in some inputs
        list_of_things = [s, x, v]

        # some derived thing, whose inputs aren't all in the list
        list_of_things.append(a * x + s)

        f1 = function(
            [
                x,
                In(a, name="a"),
                In(
                    s,
                    value=Container(s, storage=[np.array(0.0)]),
                    update=s + a * x,
                    mutable=True,
                ),
            ],
            s + a * x,
        )
        list_of_things.append(f1)

        # now put in a function sharing container with the previous one
        f2 = function(
            [
                x,
                In(a, name="a"),
                In(s, value=f1._finder[s], update=s + a * x, mutable=True),
            ],
            s + a * x,
        )
        list_of_things.append(f2)

        assert isinstance(f2._finder[s].storage, list)
        assert f2._finder[s].storage is f1._finder[s].storage

        # now put in a function with non-scalar
        value = Container(v, storage=[np.asarray([2, 3, 4.0], dtype=config.floatX)])
        f3 = function([x, In(v, value=value)], x + v)
        list_of_things.append(f3)

        # try to pickle the entire things
        try:
            saved_format = pickle.dumps(list_of_things, protocol=-1)
            new_list_of_things = pickle.loads(saved_format)
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise

        # now test our recovered new_list_of_things
        # it should be totally unrelated to the original
        # it should be interdependent in the same way as the original

        ol = list_of_things
        nl = new_list_of_things

        for i in range(4):
            assert nl[i] != ol[i]
            assert nl[i].type == ol[i].type
            assert nl[i].type is not ol[i].type

        # see if the implicit input got stored
        assert ol[3].owner.inputs[1] is s
        assert nl[3].owner.inputs[1] is not s
        assert nl[3].owner.inputs[1].type == s.type

        # moving on to the functions...
        for i in range(4, 7):
            assert nl[i] != ol[i]

        # looking at function number 1, input 's'
        assert nl[4]._finder[nl[0]].value is not ol[4]._finder[ol[0]].value
        assert nl[4]._finder[nl[0]].value == ol[4]._finder[ol[0]].value
        assert nl[4](3, 1) == ol[4](3, 1)

        # looking at function number 2, input 's'
        # make sure it's shared with the first function
        assert ol[4]._finder[ol[0]].storage is ol[5]._finder[ol[0]].storage
        assert nl[4]._finder[nl[0]].storage is nl[5]._finder[nl[0]].storage
        assert nl[5](3, 1) == ol[5](3, 1)
        assert nl[4]._finder[nl[0]].value == 6

        assert np.all(nl[6]._finder[nl[2]].value == np.array([2, 3.0, 4]))

    def test_broken_pickle_with_shared(self):
        saves = []

        def pers_save(obj):
            if isinstance(obj, np.ndarray):
                saves.append(obj)
                return len(saves) - 1
            else:
                return None

        def pers_load(id):
            return saves[id]

        def exc_message(e):
            """
            In Python 3, when an exception is reraised it saves the original
            exception in its args, therefore in order to find the actual
            message, we need to unpack arguments recursively.
            """
            msg = e.args[0]
            if isinstance(msg, Exception):
                return exc_message(msg)
            return msg

        b = np.random.random((5, 4))

        x = matrix()
        y = shared(b)

        f = function([x], dot(x, y))

        from io import BytesIO

        fp = BytesIO()
        p = pickle.Pickler(fp, 2)
        p.persistent_id = pers_save
        try:
            p.dump(f)
        except NotImplementedError as e:
            if exc_message(e).startswith("DebugMode is not picklable"):
                return
            else:
                raise
        fp2 = BytesIO(fp.getvalue())
        fp.close()
        p = pickle.Unpickler(fp2)
        p.persistent_load = pers_load
        p.load()
        fp2.close()

    def test_pickle_class_with_functions(self):
        blah = SomethingToPickle()
        assert blah.f2._finder[blah.s].storage is blah.f1._finder[blah.s].storage

        try:
            blah2 = copy.deepcopy(blah)
        except NotImplementedError as e:
            if e[0].startswith("DebugMode is not picklable"):
                return
            else:
                raise

        assert blah2.f2._finder[blah2.s].storage is blah2.f1._finder[blah2.s].storage

        assert blah.f1._finder[blah.s].value == blah2.f1._finder[blah2.s].value

        blah.f2(5, 1)
        assert blah.f1._finder[blah.s].value != blah2.f1._finder[blah2.s].value
