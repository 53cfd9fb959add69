# cython: language_level=3
"""A pick from a precomputed smooth-WRR cycle as a Cython extension type: the same work as the
binding's `WeightedRoundRobin.pick` (one cursor step into a table computed once), so that timing
the two side by side shows what each boundary costs (Cython's method call against PyO3's).

Built only by loadtests/micro/cython_build.py for `make microbench`, never for the package.
"""


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
