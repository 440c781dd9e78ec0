"""Formatters: a finished Report in, SARIF 2.1.0, gcc-style text or plain JSON out."""

from kmeminit.sarif.jsonout import to_json_report
from kmeminit.sarif.serialise import dumps
from kmeminit.sarif.text import format_notifications, format_text, summary_line
from kmeminit.sarif.writer import to_sarif

__all__ = ["dumps", "format_notifications", "format_text", "summary_line", "to_json_report",
           "to_sarif"]
