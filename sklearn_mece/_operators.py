"""The condition operators of the rules language, in one table.

Every part of the package that reads an operator reads it here: the rule model
(which operators exist, which take a list), the compiler (which level codes a
level test allows), every evaluation path (numpy and the compiled kernels,
through :attr:`Operator.code`) and the describer. Adding an operator is adding
a row to :data:`OPERATORS` (and its branch in ``_numba_kernels.acc_compare``,
keyed by ``code``).

An operator applies to numbers and level codes; only the equality and list
operators (:attr:`Operator.on_text`) apply to text, which has no order.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Operator:
    """One condition operator.

    Attributes
    ----------
    name : str
        As written in rules (``"<="``, ``"not in"``).
    code : int
        Small integer the compiled kernels switch on.
    takes_list : bool
        Whether the value is a list (``in``, ``not in``) or a single value.
    compare : callable or None
        ``compare(a, b)`` for a single-value operator, elementwise on numpy
        arrays and on Python scalars (level codes); None for list operators.
    on_text : bool
        Whether it applies to text values (``==``, ``!=``, ``in``, ``not in``);
        text has no order, so ``<`` and friends do not.
    """

    name: str
    code: int
    takes_list: bool
    compare: object = None
    on_text: bool = True

    def allowed(self, operands, domain):
        """The codes ``0 .. domain - 1`` for which ``code op operands`` holds.

        How the compiler reads a test of a small-integer variable (a level
        code, or the slot of a listed text value): as the set of codes it
        allows.

        Parameters
        ----------
        operands : sequence of int
            The compared code (one item) or the listed codes.
        domain : int
            Number of codes.

        Returns
        -------
        list of int
            Ascending.

        Examples
        --------
        >>> OPERATORS[">="].allowed([1], 3)
        [1, 2]
        >>> OPERATORS["not in"].allowed([0, 2], 4)
        [1, 3]
        """
        if self.takes_list:
            listed = set(operands)
            keep = self.name == "in"
            return [c for c in range(domain) if (c in listed) == keep]
        return [c for c in range(domain) if self.compare(c, operands[0])]

    def holds(self, values, operands):
        """Boolean array: whether ``values op operands`` holds, elementwise.

        Parameters
        ----------
        values : ndarray
            The tested values (NaN never matches).
        operands : sequence
            The compared value (one item) or the listed values.

        Examples
        --------
        >>> import numpy as np
        >>> OPERATORS["<="].holds(np.array([1.0, 5.0, np.nan]), [3.0]).tolist()
        [True, False, False]
        >>> OPERATORS["not in"].holds(np.array([1.0, 2.0]), [2.0]).tolist()
        [True, False]
        """
        if self.takes_list:
            return np.isin(values, np.asarray(operands), invert=self.name == "not in")
        return self.compare(values, operands[0])


#: Every operator, by name, in kernel-code order.
OPERATORS = {
    op.name: op
    for op in (
        Operator("==", 0, False, np.equal),
        Operator("!=", 1, False, np.not_equal),
        Operator("<", 2, False, np.less, on_text=False),
        Operator("<=", 3, False, np.less_equal, on_text=False),
        Operator(">", 4, False, np.greater, on_text=False),
        Operator(">=", 5, False, np.greater_equal, on_text=False),
        Operator("in", 6, True),
        Operator("not in", 7, True),
    )
}


def get_operator(name):
    """The :class:`Operator` called ``name``; a ``ValueError`` for any other name.

    Examples
    --------
    >>> get_operator("in").takes_list
    True
    >>> get_operator("~")
    Traceback (most recent call last):
    ...
    ValueError: unknown operator '~'; use one of ['==', '!=', '<', '<=', '>', '>=', 'in', 'not in'].
    """
    try:
        return OPERATORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown operator {name!r}; use one of {list(OPERATORS)}."
        ) from None
