"""Formatters: RunResult in, SARIF 2.1.0, gcc-style text or plain JSON out."""

from kmeminit.sarif.jsonout import to_json_report
from kmeminit.sarif.text import format_notifications, format_text, summary_line
from kmeminit.sarif.writer import dumps, to_sarif

__all__ = ["dumps", "format_notifications", "format_text", "summary_line", "to_json_report",
           "to_sarif"]
