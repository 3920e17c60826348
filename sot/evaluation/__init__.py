"""Benchmark evaluation: official scoring protocols, running trackers over datasets, reports.

The API ``eval.py`` is written over::

    results = run_tracker(tracker_factory, dataset, out_dir, workers=4, repetitions=1, result_format="otb")
    report = score(dataset, results_or_dir, protocol="otb")      # Report: report["auc"], .per_sequence
    write_report({"sot": report, "other": other_report}, out_dir) # table + metrics.json + plots
"""
from sot.evaluation.protocols import PROTOCOLS, ResultFormatError, score
from sot.evaluation.report import Report, TrackerResult, write_report
from sot.evaluation.results_io import load_results, write_submission_zip
from sot.evaluation.runner import run_tracker

__all__ = ["PROTOCOLS", "Report", "ResultFormatError", "TrackerResult", "load_results", "run_tracker", "score",
           "write_report", "write_submission_zip"]
