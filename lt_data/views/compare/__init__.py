"""Comparing evaluated runs (``lt-data compare``): per class and per bucket, against a baseline,
mean ± standard deviation over the seeds of a recipe.

Inputs are ``metrics.json`` files (what ``lt-data evaluate`` and the trainer write, see
:func:`lt_data.training.metrics.evaluate_confusion`) or run directories holding one. A run's *recipe* is its
``config.json`` record without what does not define the experiment: the seed, the run directory
and the options that only change how a run is carried out (:data:`lt_data.training.runs.OPERATIONAL`); the
training and evaluation data count by their statistics fingerprints, not their paths. Runs of one
recipe (e.g. CE with seeds 0, 1, 2) form one *group*, shown as mean ± standard deviation with the
number of seeds. A metrics file without a ``config.json`` beside it is a group of its own.

The standard deviation is the **sample** standard deviation (n − 1 in the denominator,
``statistics.stdev``): the seeds are a sample of the recipe's possible runs. A group of one run has
none. Means and deviations skip runs where a class is absent (IoU null); each number says how many
runs it is over. Deltas are a group's mean minus the baseline group's mean, in IoU points.

One module per concept, all pure functions but the stage, none importing torch:

- :mod:`~lt_data.views.compare.runs`: :func:`load_runs` (read and check), :class:`Run`, :func:`group_runs`
  (recipes, a :class:`RunGroup` each);
- :mod:`~lt_data.views.compare.stats`: :func:`mean_std`, :func:`compare_data` (every number, the content of
  ``compare.json``);
- :mod:`~lt_data.views.compare.tables`: numbers as cells and the summary rows, shared by the renderers;
- :mod:`~lt_data.views.compare.markdown`, :mod:`~lt_data.views.compare.latex`, :mod:`~lt_data.views.compare.html`: the
  renderers (``compare.md``, the booktabs tables, ``index.html``);
- :mod:`~lt_data.views.compare.figures`: the two figures;
- :mod:`~lt_data.views.compare.stage`: :func:`write_comparison` (the stage) and :func:`format_summary`.
"""

from .figures import FIGURES, plot_bucket_miou, plot_per_class
from .html import render_html
from .latex import TABLES, TEX_STD_NOTE, render_latex, tex_escape
from .markdown import render_markdown
from .runs import LABEL_KEYS, NOT_RECIPE, Run, RunGroup, group_runs, load_run, load_runs
from .stage import format_summary, write_comparison
from .stats import COMPARE_SCHEMA, MEASURE_LABELS, MEASURES, class_order, compare_data, mean_std
from .tables import STD_NOTE, SUMMARY_HEADER, summary_rows

__all__ = ["COMPARE_SCHEMA", "FIGURES", "LABEL_KEYS", "MEASURES", "MEASURE_LABELS", "NOT_RECIPE", "Run", "RunGroup",
           "STD_NOTE", "SUMMARY_HEADER", "TABLES", "TEX_STD_NOTE", "class_order", "compare_data", "format_summary",
           "group_runs", "load_run", "load_runs", "mean_std", "plot_bucket_miou", "plot_per_class", "render_html",
           "render_latex", "render_markdown", "summary_rows", "tex_escape", "write_comparison"]
