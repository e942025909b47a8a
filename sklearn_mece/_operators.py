"""The condition operators of the rules language, in one table.

Every part of the package that reads an operator reads it here: the rule model
(which operators exist, which take a list), the compiler (which level codes a
level test allows), every evaluation path (numpy and the compiled kernels,
through :attr:`Operator.code`) and the describer. Adding an operator is adding
a row to :data:`OPERATORS` (and its branch in the kernels, keyed by ``code``).
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
    """

    name: str
    code: int
    takes_list: bool
    compare: object = None

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
        Operator("<", 2, False, np.less),
        Operator("<=", 3, False, np.less_equal),
        Operator(">", 4, False, np.greater),
        Operator(">=", 5, False, np.greater_equal),
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
