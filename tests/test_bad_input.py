"""Bad input across the API and the command line.

Oracle: the contract of ``lsa.validation`` and AGENTS.md: every bad input raises an
:class:`lsa.LsaError` subclass (or, where the input is usable, a warning) whose message names
the argument, column or file that is wrong. No raw numpy, pandas, patsy or pyreadstat exception
may reach the user, and the CLI exits with code 2 and a one-line message, never a traceback.
Each case asserts the exception class and a fragment of the message that names the culprit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lsa

# --- designs, estimators and formulas (the validation layer) ---------------------------

# --- multilevel models and mix_pv -------------------------------------------------------

# --- cluster-robust fits, GEE and imputation --------------------------------------------

# --- files, readers and the command line ------------------------------------------------
