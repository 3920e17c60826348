"""Benchmark evaluation: official scoring protocols, running trackers over datasets, reports.

The API ``eval.py`` is written over::

    results = run_tracker(tracker_factory, dataset, out_dir, workers=4, repetitions=1, result_format="otb")
    report = score(dataset, results_or_dir, protocol="otb")      # Report: report["auc"], .per_sequence
    write_report({"sot": report, "other": other_report}, out_dir) # table + metrics.json + plots
"""
from sot.evaluation.protocols import PROTOCOLS, ResultFormatError, score
from sot.evaluation.report import Report, TrackerResult

__all__ = ["PROTOCOLS", "Report", "ResultFormatError", "TrackerResult", "score"]
