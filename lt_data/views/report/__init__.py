"""The bucket report (``WORK/report/``): a self-contained HTML page, figures, Markdown and JSON.

``write_report(work, eval_work=None, out=None)`` reads the statistics and ``buckets.json`` (or, when
there is none, computes the default ``share`` buckets in memory and says so) and writes into ``out``
(default ``WORK/report``; a folder holding files lt-data did not write is refused)::

    index.html                 open in a browser; every figure embedded as a base64 PNG
    report.md                  the same tables, figures linked as files
    report.json                every number shown, for machines (:func:`load_report`)
    NAME.png, NAME.svg, NAME.pdf   each plot, as PNG and as vector files for a paper:
        pixel_histogram, cumulative_share, image_frequency, tail_cooccurrence (two tail classes or more),
        classes_per_image, spatial_prior (when the label files can be read), object_sizes (with a bank),
        train_vs_eval (with an evaluation split)
    bank_objects.png           example objects of the bank (a contact sheet), when there is a bank

When the work directory holds a tail bank (``bank.zarr``), the report shows example objects and the
distribution of object sizes per class; a bank built from other statistics is not read, and the page
says why in one line. With ``eval_work`` (the statistics of an evaluation split, e.g. from
``lt-data stats ... --split val``), it shows the class pixel shares of both splits side by side. The
page and ``report.md`` end with the references of the methods and datasets lt-data names
(:mod:`lt_data.core.references`).

One module per concept:

- :mod:`~lt_data.views.report.data`: the numbers (:func:`report_data`, :func:`add_eval`, :func:`bank_data`,
  :func:`exposure_rows`): what ``report.json`` holds;
- :mod:`~lt_data.views.report.views`: how classes share images and frames (tail × tail co-occurrence, classes
  per image, the spatial prior), each view with its numbers, figure and Markdown and HTML sections;
- :mod:`~lt_data.views.report.figures`: the other figures (:func:`build_figures` gathers them all) and their
  captions;
- :mod:`~lt_data.views.report.tables`: the rows, headers and notes both renderers share;
- :mod:`~lt_data.views.report.markdown` and :mod:`~lt_data.views.report.html`: ``report.md`` and ``index.html``;
- :mod:`~lt_data.views.report.stage`: :func:`write_report` (the stage) and :func:`load_report`.

Plots are drawn by :mod:`lt_data.core.plots` (no pyplot). Class bars are drawn in frequency order, coloured
by bucket (the same three colours everywhere, each figure with a legend for them), with a strip of
each class's palette colour under the axis; wide plots (many classes) scroll sideways in the page. No
text in a figure is smaller than 9 pt (12.5 px at the saved size). Class tables sort in the browser.
"""

from .data import EXPOSURE_METHODS, add_eval, bank_data, exposure_rows, paste_exposure_rows, report_data
from .figures import (CAPTIONS, CONTACT_SHEET, PLOTS, build_figures, contact_sheet_png, plot_cumulative_share,
                      plot_image_frequency, plot_object_sizes, plot_pixel_histogram, plot_train_vs_eval)
from .html import render_html
from .markdown import render_markdown
from .stage import REPORT_DIR, REPORT_SCHEMA, load_report, write_report
from .tables import (BANK_HEADER, BANK_NOTE, BUCKET_HEADER, CLASS_HEADER, EVAL_BUCKET_HEADER, EVAL_HEADER,
                     EXPOSURE_NOTE)
from .views import CAPTIONS as VIEW_CAPTIONS
from .views import (SMALL_PT, classes_per_image, html_sections, markdown_sections, pct, plot_classes_per_image,
                    plot_spatial_prior, plot_tail_cooccurrence, spatial_data, tail_cooccurrence)
from .views import figures as view_figures

__all__ = ["BANK_HEADER", "BANK_NOTE", "BUCKET_HEADER", "CAPTIONS", "CLASS_HEADER", "CONTACT_SHEET",
           "EVAL_BUCKET_HEADER", "EVAL_HEADER", "EXPOSURE_METHODS", "EXPOSURE_NOTE", "PLOTS", "REPORT_DIR",
           "REPORT_SCHEMA", "SMALL_PT", "VIEW_CAPTIONS", "add_eval", "bank_data", "build_figures",
           "classes_per_image", "contact_sheet_png", "exposure_rows", "html_sections", "load_report",
           "markdown_sections", "paste_exposure_rows", "pct", "plot_classes_per_image", "plot_cumulative_share",
           "plot_image_frequency", "plot_object_sizes", "plot_pixel_histogram", "plot_spatial_prior",
           "plot_tail_cooccurrence", "plot_train_vs_eval", "render_html", "render_markdown", "report_data",
           "spatial_data", "tail_cooccurrence", "view_figures", "write_report"]
