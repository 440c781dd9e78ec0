"""sarif-om objects -> JSON: the walk that serialises the builder's log, and the text.

The walk writes what jschema_to_python's `to_json` writes (schema property names; unset
and default-valued properties left out) except that `level` is always kept: an absent
result level means "the rule's default level", not "warning", so dropping it would change
a warning under an error rule.  Properties come in the order `_order` gives, then the rest in
sarif-om's (alphabetical) order.  Each class's table of fields is computed once; objects
are read through their `__dict__`, never through attr.fields.  Dicts and lists (property
bags, fingerprints, a baseline's absent results) are walked as they are.
"""

from __future__ import annotations

import functools
import json
from typing import Any


@functools.cache
def _order() -> dict[type, tuple[str, ...]]:
    """Readers of a log expect `version` before `runs` and `ruleId` first.  (sarif-om and
    attr are imported on first use: a JSON or text report needs neither, and importing
    them costs 40 ms.)"""
    import sarif_om as om

    return {
        om.SarifLog: ("version", "schema_uri", "runs"),
        om.Run: ("tool", "automation_details", "version_control_provenance", "invocations",
                 "original_uri_base_ids", "artifacts", "results"),
        om.ToolComponent: ("name", "semantic_version", "version", "information_uri",
                           "rules"),
        om.ReportingDescriptor: ("id", "name", "short_description", "full_description",
                                 "default_configuration", "help", "properties"),
        om.MultiformatMessageString: ("text", "markdown"),
        om.Result: ("rule_id", "rule_index", "level", "message", "locations",
                    "related_locations", "code_flows", "partial_fingerprints",
                    "baseline_state", "suppressions", "fixes"),
        om.Suppression: ("kind", "justification"),
        om.Fix: ("description", "artifact_changes"),
        om.VersionControlDetails: ("repository_uri", "revision_id", "branch", "mapped_to"),
        om.Location: ("id", "physical_location", "logical_locations", "message"),
        om.LogicalLocation: ("name", "kind"),
        om.PhysicalLocation: ("artifact_location", "region"),
        om.ArtifactLocation: ("uri", "uri_base_id"),
        om.Region: ("start_line", "start_column", "end_line", "end_column"),
        om.CodeFlow: ("message", "thread_flows"),
        om.ThreadFlowLocation: ("location", "nesting_level"),
        om.Invocation: ("command_line", "arguments", "working_directory", "start_time_utc",
                        "end_time_utc", "execution_successful",
                        "tool_execution_notifications"),
        om.Notification: ("level", "message", "locations", "descriptor", "associated_rule"),
    }


_SCALARS = frozenset({str, int, float, bool, type(None)})
# (attribute, schema property name, default, written even when equal to the default)
_Field = tuple[str, str, Any, bool]


@functools.cache
def _fields(cls: type) -> tuple[_Field, ...]:
    import attr

    first = _order().get(cls, ())
    fields = sorted(attr.fields(cls), key=lambda f: (first.index(f.name) if f.name in first
                                                     else len(first)))
    return tuple((f.name, f.metadata["schema_property_name"],
                  f.default.factory() if isinstance(f.default, attr.Factory) else f.default,
                  f.name == "level" or f.default is attr.NOTHING) for f in fields)


def to_json(obj: Any) -> Any:
    """The JSON-ready form of a sarif-om object (or of a list or dict holding them)."""
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if cls is list:
        return [to_json(v) for v in obj]
    if cls is dict:
        return {k: to_json(v) for k, v in obj.items()}
    values = obj.__dict__
    out = {}
    for name, schema, default, keep in _fields(cls):
        value = values[name]
        if value is not None and (keep or value != default):
            out[schema] = value if type(value) in _SCALARS else to_json(value)
    return out


def dumps(log: Any) -> str:
    """The text of a SARIF (or JSON report) file: indented JSON, valid UTF-8.  A file name
    that is not UTF-8 on disk reaches strings such as the command line as surrogate
    escapes; in the text they become U+FFFD (URIs keep the exact bytes, percent-encoded)."""
    text = json.dumps(log, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
