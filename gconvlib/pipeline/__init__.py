"""profile -> parameters -> papermill-executed notebooks -> book.

Each notebook in ``notebooks/`` is executed with papermill with the parameters of the chosen
profile (``notebooks/profiles/<profile>.yaml``) plus command-line overrides. The jobs, one module
each:

* :mod:`.settings`: which notebooks, profiles and ``--set`` overrides (one-line errors);
* :mod:`.stamps`: when a notebook is up to date (its inputs, and the records it produced);
* :mod:`.relay`: the kernel's output on the terminal, progress bars included;
* :mod:`.book`: what the book shows of an executed notebook, and of one that failed;
* :mod:`.run`: the run loop and its summary table.

Re-running ``make reproduce`` redoes nothing that is finished. A failing notebook is recorded
as failed and the others still run.
"""
from .book import (FAILURE_CELL_ID, MAX_STREAM_LINES, PARAMETER_CELL_ID, check_book_sources, failure_page,
                   parameter_rows, parameter_table, postprocess, write_book_copy)
from .relay import KERNEL_SETUP, Relay, kernel_options, progress_columns
from .run import FAILED, Summary, claims_by_chapter, run_notebooks
from .settings import (NOTEBOOKS, PROFILES, SUMMARIES, WHAT, PipelineError, available_notebooks, book_dir,
                       declared_parameters, load_profile, notebook_dir, notebook_parameters, parameter_sources,
                       parse_overrides)
from .stamps import (data_hash, has_error_output, notebook_hash, notebook_imports, stale_reason, stamp_for,
                     stamp_inputs)

__all__ = ["FAILED", "FAILURE_CELL_ID", "KERNEL_SETUP", "MAX_STREAM_LINES", "NOTEBOOKS", "PARAMETER_CELL_ID",
           "PROFILES", "SUMMARIES", "WHAT", "PipelineError", "Relay", "Summary", "available_notebooks",
           "book_dir", "check_book_sources", "claims_by_chapter", "data_hash", "declared_parameters",
           "failure_page", "has_error_output", "kernel_options", "load_profile", "notebook_dir",
           "notebook_hash", "notebook_imports", "notebook_parameters", "parameter_rows", "parameter_sources",
           "parameter_table", "parse_overrides", "postprocess", "progress_columns", "run_notebooks",
           "stale_reason", "stamp_for", "stamp_inputs", "write_book_copy"]
