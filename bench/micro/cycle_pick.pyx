# cython: language_level=3
"""A pick from a precomputed smooth-WRR cycle as Cython extension types: the same work as the
binding's `WeightedRoundRobin.pick` (one cursor step into a table computed once), so that timing
them side by side shows what each boundary costs (Cython's method call against PyO3's).

`CyclePick` returns the table's own str objects (a reference count); `CyclePickNewStr` decodes
a new str from UTF-8 bytes on every pick, as the binding does (its `pick` returns a Rust
`String`, which PyO3 turns into a new Python str).

Built only by bench/micro/cython_build.py for `make microbench`, never for the package.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8


cdef class CyclePick:
    cdef list _cycle
    cdef Py_ssize_t _cursor
    cdef Py_ssize_t _length

    def __init__(self, cycle):
        self._cycle = list(cycle)
        self._length = len(self._cycle)
        self._cursor = 0

    def pick(self):
        name = self._cycle[self._cursor]
        self._cursor += 1
        if self._cursor == self._length:
            self._cursor = 0
        return name


cdef class CyclePickNewStr:
    cdef list _encoded
    cdef Py_ssize_t _cursor
    cdef Py_ssize_t _length

    def __init__(self, cycle):
        self._encoded = [name.encode() for name in cycle]
        self._length = len(self._encoded)
        self._cursor = 0

    def pick(self):
        cdef bytes name = self._encoded[self._cursor]
        self._cursor += 1
        if self._cursor == self._length:
            self._cursor = 0
        return PyUnicode_DecodeUTF8(name, len(name), NULL)
