"""What a number in the book is: every value says which of these kinds it is (named once, here).

* ``exact``: computed here from the model; must equal the paper's value.
* ``measured here``: measured on the machine that executed the page (device, date, commit and
  protocol stated).
* ``measured``: measured on a GPU and committed to ``data/results/reference/`` (device, date,
  commit, protocol).
* ``quoted``: the paper's value, cited by table or figure (``data/paper/values.csv``).
* ``scaled-down``: computed here with less data, fewer epochs, a narrower model or a lower
  resolution than the paper, by the factor stated beside it.

A bottom module (it imports nothing), so the claims, the measurement code and the chapters can
all read it.
"""
EXACT, MEASURED_HERE, MEASURED, QUOTED, SCALED = "exact", "measured here", "measured", "quoted", "scaled-down"
