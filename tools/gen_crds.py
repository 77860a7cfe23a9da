#!/usr/bin/env python3
"""Generates crds/*.yaml, the CustomResourceDefinitions of the
sagemaker.aws.amazon.com/v1 API (docs COMPAT.md), from the official AWS API
models that Debian's python3-botocore ships (JSON files only; no botocore code).

    python3 tools/gen_crds.py           write crds/, print what was adapted
    python3 tools/gen_crds.py --check   exit 1 if crds/ differs from the output
    --out DIR                           another directory than crds/

Spec schemas come from the Create* input shapes with COMPAT's rules: member
names with a lower-case first letter, maps as lists of {name, value}, tags as
{key, value}, `region` and `sageMakerEndpoint` added, the required lists of the
old operator at the top level (the API's below it). Types, enums, lengths,
numeric bounds and list sizes come from the model. Patterns are Java regexes
matched against the whole value; a CRD pattern is searched by the API server
(Go's RE2; OpenAPI calls it ECMA-262), so each one is anchored and rewritten
into the syntax those engines share, or dropped when it cannot be (the run
prints which). Structural schemas cannot recurse: a shape met again inside
itself is cut there with x-kubernetes-preserve-unknown-fields.
"""
import html
import json
import os
import re
import sys

BOTOCORE = "/usr/lib/python3/dist-packages/botocore/data"
GROUP = "sagemaker.aws.amazon.com"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_DIR = os.path.join(ROOT, "crds")

# Go's regexp refuses counted repetitions above this.
MAX_REPEAT = 1000


def latest(service):
    base = os.path.join(BOTOCORE, service)
    return os.path.join(base, sorted(os.listdir(base))[-1], "service-2.json")


def load(service):
    path = latest(service)
    with open(path, encoding="utf-8") as f:
        return path.replace(BOTOCORE + "/", "botocore/data/"), json.load(f)["shapes"]


# ---- descriptions ----

ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "approx", "Inc", "No")


def describe(doc, limit=300):
    """The first sentence (two when the first is short) of an HTML doc string."""
    if not doc:
        return None
    text = html.unescape(re.sub(r"<[^>]*>", " ", doc))
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ([.,;:)])", r"\1", text).replace("( ", "(")
    if not text:
        return None
    out, start = "", 0
    for m in re.finditer(r"[.!?](?= [A-Z(\"]|$)", text):
        words = text[start:m.start()].split(" ")
        if words and words[-1] in ABBREVIATIONS:
            continue
        out = text[:m.end()]
        start = m.end()
        if len(out) >= 60:
            break
    out = out or text
    if len(out) > limit:
        cut = out.rfind(" ", 0, limit - 3)
        out = out[:cut if cut > 0 else limit - 3].rstrip(",;:") + "..."
    return out


# ---- patterns ----

# Patterns that accept every value the other constraints allow (Java's '.'
# also refuses line terminators; not worth a regex per value).
NO_OP_PATTERNS = {".*", ".+", "[\\S\\s]*", "[\\s\\S]*", "[\\S\\s]+", "[\\s\\S]+"}

# Java constructs with no portable spelling, rewritten by hand to the same
# language (or, where marked, a slightly larger one).
WHOLE_REWRITES = {
    # "not only white space": a negative lookahead.
    "^(?!\\s*$).+": ".*\\S.*",
    # XML's Char production through \\u escapes and a surrogate pair; every
    # character but the C0 controls (U+FFFE/U+FFFF now pass too).
    "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*": "[^\\x00-\\x08\\x0A-\\x1F]*",
    "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*":
        "[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]*",
}
PART_REWRITES = [
    # 1-63 characters, not ending in '-': a lookbehind (?<!-).
    ("([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)", "([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"),
]

# Java's POSIX classes are US-ASCII; spelled as ranges every engine knows.
POSIX = {
    "Lower": "a-z", "Upper": "A-Z", "ASCII": "\\x00-\\x7F", "Alpha": "a-zA-Z",
    "Digit": "0-9", "Alnum": "a-zA-Z0-9", "Punct": "!-\\/:-@\\[-`{-~",
    "Graph": "!-~", "Print": " -~", "Blank": " \\t", "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F", "Space": " \\t\\n\\x0B\\f\\r",
}


class NotPortable(Exception):
    pass


def _quantifier_end(p, i, changes):
    """Index after a {m}, {m,} or {m,n} starting at p[i], and its text."""
    m = re.match(r"\{(\d+)(,(\d*))?\}", p[i:])
    if not m:
        raise NotPortable("'{' that is not a counted repetition")
    lo = int(m.group(1))
    hi = m.group(3)
    if lo > MAX_REPEAT:
        raise NotPortable("repetition count above %d" % MAX_REPEAT)
    text = m.group(0)
    if hi and int(hi) > MAX_REPEAT:
        # Loosened to an open bound; maxLength still holds the length.
        text = "*" if lo == 0 else "+" if lo == 1 else "{%d,}" % lo
        changes.append("repetition bound above %d opened" % MAX_REPEAT)
    return i + len(m.group(0)), text


def translate(p, changes):
    """Java regex -> the syntax Go's RE2, ECMA-262 and PCRE2 share; what had
    to change is appended to changes."""
    out, i, in_class, n = [], 0, False, len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise NotPortable("trailing backslash")
            e = p[i + 1]
            if e in "pP":
                m = re.match(r"\\[pP]\{(\w+)\}", p[i:])
                name = m and m.group(1)
                if not m or name not in POSIX:
                    raise NotPortable("Unicode property \\%s{...}" % e)
                if e == "P" and in_class:
                    raise NotPortable("negated property inside a class")
                rng = POSIX[name]
                changes.append("POSIX class \\%s{%s} spelled as ASCII ranges" % (e, name))
                out.append(rng if in_class else ("[^%s]" if e == "P" else "[%s]") % rng)
                i += len(m.group(0))
                continue
            if e == "x":
                if not re.match(r"[0-9A-Fa-f]{2}", p[i + 2:i + 4]):
                    raise NotPortable("\\x without two hex digits")
                out.append(p[i:i + 4])
                i += 4
                continue
            if e in "dDsSwWtnrf" or (e in "bB" and not in_class):
                out.append(p[i:i + 2])
            elif e.isalnum() or ord(e) > 127:
                raise NotPortable("escape \\%s" % e)
            else:
                out.append(p[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "[":
                raise NotPortable("nested character class")
            if c == "&" and p.startswith("&&", i):
                raise NotPortable("class intersection")
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            j = i + 1
            if p.startswith("^", j):
                j += 1
            if p.startswith("]", j):
                raise NotPortable("']' first in a class")
            out.append(p[i:j])
            i = j
            continue
        if c == "(" and p.startswith("(?", i):
            if p.startswith("(?:", i):
                out.append("(?:")
                i += 3
                continue
            raise NotPortable("group construct %s" % p[i:i + 4])
        if c in "*+?}" or c == "{":
            if c == "{":
                i, text = _quantifier_end(p, i, changes)
                out.append(text)
            elif c == "}":
                raise NotPortable("unbalanced '}'")
            else:
                out.append(c)
                i += 1
            if i < n and p[i] == "+":
                raise NotPortable("possessive quantifier")
            if i < n and p[i] == "?":
                out.append("?")
                i += 1
            if i < n and p[i] in "*+{":
                raise NotPortable("repeated quantifier")
            continue
        out.append(c)
        i += 1
    if in_class:
        raise NotPortable("unterminated class")
    return "".join(out)


def _has_top_level_bar(p):
    depth, i, in_class = 0, 0, False
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if p.startswith("]", i + 1):
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _ends_with_anchor(p):
    if not p.endswith("$"):
        return False
    slashes = len(p[:-1]) - len(p[:-1].rstrip("\\"))
    return slashes % 2 == 0


def portable_pattern(java):
    """(pattern or None, note or None): the CRD pattern for a model pattern,
    matching the whole value as Java's matches() does."""
    if java in NO_OP_PATTERNS:
        return None, "no-op"
    changes = []
    body = java
    if java in WHOLE_REWRITES:
        body = WHOLE_REWRITES[java]
        changes.append("rewritten by hand")
    else:
        for old, new in PART_REWRITES:
            if old in body:
                body = body.replace(old, new)
                changes.append("lookbehind rewritten by hand")
    try:
        body = translate(body, changes)
    except NotPortable as e:
        return None, "dropped: %s" % e
    if body.startswith("^"):
        body = body[1:]
    if _ends_with_anchor(body):
        body = body[:-1]
    if _has_top_level_bar(body):
        body = "(?:%s)" % body
    return "^%s$" % body, "; ".join(changes) or None


# ---- schemas from shapes ----

def lower_camel(name):
    return name[:1].lower() + name[1:]


# Member spellings that differ from the lower-camel rule (COMPAT.md): the
# dataProcessing members keep their API spelling (the old operator's
# `inputFilter` is accepted too); old manifests spell hookParameters as
# ruleParameters.
SPEC_NAMES = {
    ("DataProcessing", "InputFilter"): ["InputFilter", "inputFilter"],
    ("DataProcessing", "OutputFilter"): ["OutputFilter"],
    ("DataProcessing", "JoinSource"): ["JoinSource"],
    ("DebugHookConfig", "HookParameters"): ["hookParameters", "ruleParameters"],
}

# Schema changes to single members (COMPAT.md): weights are integers in the
# spec; an instance count is at least 1 as in the old operator.
MEMBER_OVERRIDES = {
    ("ProductionVariant", "InitialVariantWeight"): {
        "type": "integer", "format": "int64", "minimum": 0,
        "description_suffix": " An integer here; the operator sends it as a float."},
    ("ResourceConfig", "InstanceCount"): {"minimum": 1},
}

# Status values read from SageMaker, spelled as the old operator wrote them.
STATUS_OVERRIDES = {
    ("FinalHyperParameterTuningJobObjectiveMetric", "Value"): {
        "type": "string", "description_suffix": " Written as a string."},
}


class Builder:
    """Turns model shapes into structural schema nodes. A loose builder (for
    status) keeps types and descriptions only: the operator writes status, and
    a constraint there could only make its writes fail."""

    def __init__(self, shapes, loose=False):
        self.shapes = shapes
        self.loose = loose
        self.notes = []      # (path, model pattern, CRD pattern or None, note)
        self.cuts = []       # paths where a recursive shape was cut

    def node(self, name, path, stack=(), doc=None):
        shape = self.shapes[name]
        kind = shape["type"]
        out = {}
        text = describe(doc) or describe(shape.get("documentation"))
        if text:
            out["description"] = text
        if name in stack:
            # Only containers can recurse; the cut keeps their JSON type.
            self.cuts.append("%s (%s)" % (path, name))
            out["description"] = (text + " " if text else "") + "(Recursive; not validated here.)"
            out["type"] = "object" if kind == "structure" else "array"
            if kind != "structure":
                out["items"] = {"x-kubernetes-preserve-unknown-fields": True}
            else:
                out["x-kubernetes-preserve-unknown-fields"] = True
            return out
        stack = stack + (name,)
        if shape.get("document"):
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif kind == "structure":
            self.structure(name, shape, path, stack, out)
        elif kind == "list":
            out["type"] = "array"
            out["items"] = self.node(shape["member"]["shape"], path + "[]", stack)
            self.bounds(shape, out, "minItems", "maxItems")
        elif kind == "map":
            out["type"] = "array"
            item = {"type": "object", "required": ["name"], "properties": {
                "name": self.node(shape["key"]["shape"], path + "[].name", stack),
                "value": self.node(shape["value"]["shape"], path + "[].value", stack),
            }}
            for sub in item["properties"].values():
                sub.pop("description", None)
            if self.loose:
                del item["required"]
            out["items"] = item
            self.bounds(shape, out, "minItems", "maxItems")
        elif kind == "string":
            out["type"] = "string"
            if not self.loose:
                if "enum" in shape:
                    out["enum"] = list(shape["enum"])
                self.bounds(shape, out, "minLength", "maxLength")
                if "pattern" in shape:
                    pattern, note = portable_pattern(shape["pattern"])
                    if pattern:
                        out["pattern"] = pattern
                    elif note == "no-op" and shape["pattern"].endswith("+"):
                        out.setdefault("minLength", 1)
                    if note:
                        self.notes.append((path, shape["pattern"], pattern, note))
        elif kind in ("integer", "long"):
            out["type"] = "integer"
            if kind == "long":
                out["format"] = "int64"
            self.bounds(shape, out, "minimum", "maximum")
        elif kind in ("float", "double"):
            out["type"] = "number"
            self.bounds(shape, out, "minimum", "maximum")
        elif kind == "boolean":
            out["type"] = "boolean"
        elif kind == "timestamp":
            out["type"] = "string"
            out["format"] = "date-time"
        elif kind == "blob":
            out["type"] = "string"
            out["format"] = "byte"
        else:
            raise SystemExit("%s: shape %s has unknown type %s" % (path, name, kind))
        return out

    def bounds(self, shape, out, lo, hi):
        if self.loose:
            return
        for key, dest in (("min", lo), ("max", hi)):
            if key in shape:
                v = shape[key]
                out[dest] = int(v) if float(v).is_integer() else v
        if out.get(lo) == 0 and lo != "minimum":
            del out[lo]

    def structure(self, name, shape, path, stack, out, only=None, skip=()):
        unknown = (set(only or ()) | set(skip)) - set(shape["members"])
        if unknown:
            raise SystemExit("%s: %s has no member %s" % (path, name, ", ".join(sorted(unknown))))
        out["type"] = "object"
        props, required = {}, []
        overrides = STATUS_OVERRIDES if self.loose else MEMBER_OVERRIDES
        for member, ref in shape["members"].items():
            if (only is not None and member not in only) or member in skip:
                continue
            names = SPEC_NAMES.get((name, member), [lower_camel(member)])
            child = self.node(ref["shape"], "%s.%s" % (path, names[0]), stack, ref.get("documentation"))
            override = overrides.get((name, member))
            if override:
                child = self.override(child, override)
            for spelled in names:
                props[spelled] = child
            if member in shape.get("required", ()) and len(names) == 1:
                required.append(names[0])
        if required and not self.loose:
            out["required"] = sorted(required)
        out["properties"] = dict(sorted(props.items()))
        if not props:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out

    @staticmethod
    def override(child, override):
        child = dict(child)
        for key, value in override.items():
            if key == "description_suffix":
                child["description"] = child.get("description", "") + value
            else:
                child[key] = value
        if child.get("type") != "string":
            for key in ("pattern", "minLength", "maxLength", "enum"):
                child.pop(key, None)
        return child

    def members(self, shape_name, path, only=None, skip=()):
        """The properties of a structure shape, to assemble a spec from; the
        caller decides what is required."""
        out = {}
        self.structure(shape_name, self.shapes[shape_name], path, (shape_name,), out, only, skip)
        return out["properties"]


def obj(description, properties, required=None, **extra):
    out = {"description": description, "type": "object"}
    if required:
        out["required"] = sorted(required)
    out["properties"] = dict(sorted(properties.items()))
    out.update(extra)
    return out


def string(description, **extra):
    return dict({"description": description, "type": "string"}, **extra)


def operator_fields():
    return {
        "region": string("AWS region of the SageMaker resources, for example us-west-2.", minLength=1),
        "sageMakerEndpoint": string(
            "URL of the SageMaker API to call instead of the region's public endpoint.",
            pattern="^(https|http)://.*$"),
    }


# ---- status ----

def time(description):
    return string(description, format="date-time")


def integer(description):
    return {"description": description, "type": "integer", "format": "int64"}


def name_values(description):
    return {"description": description, "type": "array", "items": {
        "type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}}


CONDITIONS = {
    "description": "Standard conditions (Ready, Synced), for kstatus, Argo CD and Flux.",
    "type": "array",
    "items": obj("A metav1.Condition.", {
        "type": string("Type of the condition, in CamelCase.", maxLength=316,
                       pattern="^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                               "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"),
        "status": string("Status of the condition.", enum=["True", "False", "Unknown"]),
        "observedGeneration": dict(integer("The .metadata.generation the condition was set from."),
                                   minimum=0),
        "lastTransitionTime": time("Last time the condition changed status."),
        "reason": string("Machine-readable reason for the last transition, in CamelCase.", minLength=1,
                         maxLength=1024, pattern="^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
        "message": string("Human-readable details of the last transition.", maxLength=32768),
    }, ["type", "status", "lastTransitionTime", "reason", "message"]),
    "x-kubernetes-list-map-keys": ["type"],
    "x-kubernetes-list-type": "map",
}


def status_schema(kind, fields):
    common = {
        "additional": string("Additional information: the reason of an error or a retry, SageMaker's "
                             "FailureReason, or why a spec change was not applied."),
        "lastCheckTime": time("Last time the operator checked the resource in SageMaker."),
        "observedGeneration": integer("The .metadata.generation this status was computed from."),
        "scriptVersion": string("Version of the operator scripts that wrote this status."),
        "conditions": CONDITIONS,
    }
    common.update(fields)
    return obj("Observed state of the %s, written by the operator." % kind, common)


# ---- kinds ----

class Kind:
    def __init__(self, kind, plural, description, columns, short=()):
        self.kind = kind
        self.plural = plural
        self.description = description
        self.columns = columns
        self.short = list(short)


def col(name, path, typ="string", description=None):
    out = {"name": name, "type": typ, "jsonPath": path}
    if description:
        out["description"] = description
    return out


CREATED = col("Creation-Time", ".metadata.creationTimestamp", "date")


def training_job(sm, sm_status):
    props = sm.members("CreateTrainingJobRequest", "spec")
    props["trainingJobName"]["description"] += " Generated from the object's name and UID when not set."
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker training job (CreateTrainingJob).", props, [
        "algorithmSpecification", "outputDataConfig", "region", "resourceConfig", "roleArn",
        "stoppingCondition"])
    rule = sm_status.members("DebugRuleEvaluationStatus", "status.debugRuleEvaluationStatuses[]")
    rule["statusDetail"] = rule.pop("statusDetails")
    status = status_schema("TrainingJob", {
        "trainingJobStatus": string("SageMaker's TrainingJobStatus (InProgress, Completed, Failed, Stopping, "
                                    "Stopped), or the operator's own: SynchronizingK8sJobWithSageMaker, "
                                    "Reconciling, Error."),
        "secondaryStatus": string("SageMaker's SecondaryStatus (Starting, Downloading, Training, "
                                  "Uploading, ...)."),
        "sageMakerTrainingJobName": string("Name of the training job in SageMaker."),
        "cloudWatchLogUrl": string("CloudWatch console URL of the job's logs."),
        "modelPath": string("S3 URI of the model artifact of a completed job."),
        "debugRuleEvaluationStatuses": {
            "description": "Status of the Debugger rule evaluation jobs.", "type": "array",
            "items": obj("A DebugRuleEvaluationStatus.", rule)},
    })
    return Kind("TrainingJob", "trainingjobs", "A SageMaker training job.", [
        col("Status", ".status.trainingJobStatus"),
        col("Secondary-Status", ".status.secondaryStatus"),
        CREATED,
        col("Sagemaker-Job-Name", ".status.sageMakerTrainingJobName"),
    ]), spec, status


def tuning_job(sm, sm_status):
    props = sm.members("CreateHyperParameterTuningJobRequest", "spec")
    props["hyperParameterTuningJobName"]["description"] += \
        " Generated from the object's name and UID when not set."
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker hyperparameter tuning job (CreateHyperParameterTuningJob).",
               props, ["hyperParameterTuningJobConfig", "region"])
    best = sm_status.node("HyperParameterTrainingJobSummary", "status.bestTrainingJob")
    counters = {name: integer(text) for name, text in (
        ("completed", "Training jobs that completed."),
        ("inProgress", "Training jobs in progress."),
        ("nonRetryableError", "Training jobs that failed and cannot be retried."),
        ("retryableError", "Training jobs that failed and can be retried."),
        ("stopped", "Training jobs that were stopped."),
        ("totalError", "nonRetryableError + retryableError."),
    )}
    status = status_schema("HyperparameterTuningJob", {
        "hyperParameterTuningJobStatus": string(
            "SageMaker's HyperParameterTuningJobStatus (InProgress, Completed, Failed, Stopping, Stopped), "
            "or the operator's own: SynchronizingK8sJobWithSageMaker, Reconciling, Error."),
        "sageMakerHyperParameterTuningJobName": string("Name of the tuning job in SageMaker."),
        "trainingJobStatusCounters": obj("Training jobs launched by the tuning job, by status.", counters),
        "bestTrainingJob": best,
    })
    return Kind("HyperparameterTuningJob", "hyperparametertuningjobs",
                "A SageMaker hyperparameter tuning job.", [
                    col("Status", ".status.hyperParameterTuningJobStatus"),
                    CREATED,
                    col("Completed", ".status.trainingJobStatusCounters.completed", "integer"),
                    col("InProgress", ".status.trainingJobStatusCounters.inProgress", "integer"),
                    col("Errors", ".status.trainingJobStatusCounters.totalError", "integer"),
                    col("Stopped", ".status.trainingJobStatusCounters.stopped", "integer"),
                    col("Best-Training-Job", ".status.bestTrainingJob.trainingJobName"),
                    col("Sagemaker-Job-Name", ".status.sageMakerHyperParameterTuningJobName"),
                ]), spec, status


def transform_job(sm, sm_status):
    props = sm.members("CreateTransformJobRequest", "spec")
    props["transformJobName"]["description"] += " Generated from the object's name and UID when not set."
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker batch transform job (CreateTransformJob).", props, [
        "modelName", "region", "transformInput", "transformOutput", "transformResources"])
    status = status_schema("BatchTransformJob", {
        "transformJobStatus": string("SageMaker's TransformJobStatus (InProgress, Completed, Failed, "
                                     "Stopping, Stopped), or the operator's own: "
                                     "SynchronizingK8sJobWithSageMaker, Reconciling, Error."),
        "sageMakerTransformJobName": string("Name of the transform job in SageMaker."),
    })
    return Kind("BatchTransformJob", "batchtransformjobs", "A SageMaker batch transform job.", [
        col("Status", ".status.transformJobStatus"),
        CREATED,
        col("Sagemaker-Job-Name", ".status.sageMakerTransformJobName"),
    ]), spec, status


def processing_job(sm, sm_status):
    # The old API names processing jobs only by generation (COMPAT.md).
    props = sm.members("CreateProcessingJobRequest", "spec", skip=("ProcessingJobName",))
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker processing job (CreateProcessingJob).", props, [
        "appSpecification", "processingResources", "region", "roleArn"])
    status = status_schema("ProcessingJob", {
        "processingJobStatus": string("SageMaker's ProcessingJobStatus (InProgress, Completed, Failed, "
                                      "Stopping, Stopped), or the operator's own: "
                                      "SynchronizingK8sJobWithSageMaker, Reconciling, Error."),
        "sageMakerProcessingJobName": string("Name of the processing job in SageMaker."),
        "cloudWatchLogUrl": string("CloudWatch console URL of the job's logs."),
    })
    return Kind("ProcessingJob", "processingjobs", "A SageMaker processing job.", [
        col("Status", ".status.processingJobStatus"),
        CREATED,
        col("Sagemaker-Job-Name", ".status.sageMakerProcessingJobName"),
    ]), spec, status


def hosting_deployment(sm, sm_status):
    # An endpoint with its endpoint config and models: the endpoint config's
    # members, the models inline, the endpoint's name and update options.
    # Shadow variants are left out: their models would need the same mapping.
    props = sm.members("CreateEndpointConfigInput", "spec",
                       skip=("EndpointConfigName", "ShadowProductionVariants"))
    endpoint = sm.members("CreateEndpointInput", "spec", only=("EndpointName",))
    endpoint["endpointName"]["description"] += " Generated from the object's name and UID when not set."
    props.update(endpoint)
    update = sm.members("UpdateEndpointInput", "spec",
                        only=("RetainAllVariantProperties", "ExcludeRetainedVariantProperties"))
    props.update(update)
    props["productionVariants"]["minItems"] = 1
    props["productionVariants"]["description"] += " modelName names one of spec.models."
    model = sm.members("CreateModelInput", "spec.models[]",
                       only=("ExecutionRoleArn", "Containers", "EnableNetworkIsolation", "VpcConfig",
                             "InferenceExecutionConfig"))
    model["name"] = sm.node("ModelName", "spec.models[].name")
    model["name"]["description"] = "Name of the model in this spec; productionVariants refer to it."
    model["containers"]["minItems"] = 1
    model["primaryContainer"] = string("containerHostname of the container in containers that is the "
                                       "model's primary container.")
    props["models"] = {
        "description": "The SageMaker models the production variants serve (CreateModel).",
        "type": "array", "minItems": 1,
        "items": obj("A model: CreateModel's members, with its primary container named.", model,
                     ["containers", "executionRoleArn", "name"]),
    }
    props.update(operator_fields())
    spec = obj("Desired state of a SageMaker endpoint with its endpoint config and models.", props, [
        "models", "productionVariants", "region"])
    variant = sm_status.node("ProductionVariantSummary", "status.productionVariants[]")
    status = status_schema("HostingDeployment", {
        "endpointStatus": string("SageMaker's EndpointStatus (Creating, Updating, SystemUpdating, "
                                 "RollingBack, InService, OutOfService, Deleting, Failed), or the "
                                 "operator's own: SynchronizingK8sJobWithSageMaker, ReconcilingEndpoint, "
                                 "Error."),
        "endpointName": string("Name of the endpoint in SageMaker."),
        "endpointConfigName": string("Name of the endpoint config the endpoint serves."),
        "endpointArn": string("ARN of the endpoint."),
        "endpointUrl": string("Invocation URL of the endpoint."),
        "creationTime": time("When the endpoint was created."),
        "lastModifiedTime": time("When the endpoint was last modified."),
        "failureReason": string("SageMaker's FailureReason for the endpoint."),
        "modelNames": name_values("SageMaker model name of each spec.models name."),
        "productionVariants": {
            "description": "The endpoint's production variants, as SageMaker reports them.",
            "type": "array", "items": variant},
    })
    return Kind("HostingDeployment", "hostingdeployments",
                "A SageMaker endpoint with its endpoint config and models.", [
                    col("Status", ".status.endpointStatus"),
                    col("Sagemaker-Endpoint-Name", ".status.endpointName"),
                ]), spec, status


def model(sm, sm_status):
    # Model names are generated (the old API has no modelName).
    props = sm.members("CreateModelInput", "spec", skip=("ModelName",))
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker model (CreateModel).", props, ["executionRoleArn", "region"])
    status = status_schema("Model", {
        "status": string("Created, or the operator's own: SynchronizingK8sJobWithSageMaker, Reconciling, "
                         "Error."),
        "sageMakerModelName": string("Name of the model in SageMaker."),
        "modelArn": string("ARN of the model."),
        "lastUpdateTime": time("Last time the status was updated (the old operator's name for "
                               "lastCheckTime)."),
    })
    return Kind("Model", "models", "A SageMaker model.", [
        col("Status", ".status.status"),
        col("Sage-Maker-Model-Name", ".status.sageMakerModelName"),
    ]), spec, status


def endpoint_config(sm, sm_status):
    props = sm.members("CreateEndpointConfigInput", "spec", skip=("EndpointConfigName",))
    props["productionVariants"]["minItems"] = 1
    props.update(operator_fields())
    spec = obj("Desired state of the SageMaker endpoint config (CreateEndpointConfig).", props, [
        "productionVariants", "region"])
    status = status_schema("EndpointConfig", {
        "status": string("Created, or the operator's own: SynchronizingK8sJobWithSageMaker, Reconciling, "
                         "Error."),
        "sageMakerEndpointConfigName": string("Name of the endpoint config in SageMaker."),
        "endpointConfigArn": string("ARN of the endpoint config."),
        "lastUpdateTime": time("Last time the status was updated (the old operator's name for "
                               "lastCheckTime)."),
    })
    return Kind("EndpointConfig", "endpointconfigs", "A SageMaker endpoint config.", [
        col("Status", ".status.status"),
        col("Sage-Maker-EndpointConfig-Name", ".status.sageMakerEndpointConfigName"),
    ]), spec, status


def autoscaling_policy(sm, aas):
    # RegisterScalableTarget + PutScalingPolicy for each endpoint variant.
    props = aas.members("RegisterScalableTargetRequest", "spec",
                        only=("MinCapacity", "MaxCapacity", "SuspendedState", "ServiceNamespace",
                              "ScalableDimension"))
    policy = aas.members("PutScalingPolicyRequest", "spec",
                         only=("PolicyName", "PolicyType", "StepScalingPolicyConfiguration",
                               "TargetTrackingScalingPolicyConfiguration"))
    props.update(policy)
    props["serviceNamespace"]["enum"] = ["sagemaker"]
    props["serviceNamespace"]["description"] = "Always sagemaker (the default)."
    props["scalableDimension"]["enum"] = [
        v for v in props["scalableDimension"]["enum"] if v.startswith("sagemaker:variant:")]
    props["scalableDimension"]["description"] = \
        "Scalable dimension of each variant; default sagemaker:variant:DesiredInstanceCount."
    metric = props["targetTrackingScalingPolicyConfiguration"]["properties"]["predefinedMetricSpecification"]
    metric = metric["properties"]["predefinedMetricType"]
    metric["enum"] = [v for v in metric["enum"] if v.startswith("SageMaker")]
    metric["description"] = "The predefined metric to track."
    props["policyName"]["description"] += " Default SageMakerEndpointInvocationScalingPolicy."
    props["policyType"]["description"] += " Default TargetTrackingScaling."
    variant = {
        "endpointName": sm.node("EndpointName", "spec.resourceId[].endpointName"),
        "variantName": sm.node("VariantName", "spec.resourceId[].variantName"),
    }
    variant["endpointName"]["description"] = "Name of the endpoint in SageMaker."
    variant["variantName"]["description"] = "Name of the production variant."
    props["resourceId"] = {
        "description": "The endpoint variants to scale (resource ID endpoint/<endpointName>/variant/"
                       "<variantName>).",
        "type": "array", "minItems": 1,
        "items": obj("An endpoint variant.", variant, ["endpointName", "variantName"]),
    }
    props.update(operator_fields())
    spec = obj("Desired autoscaling of SageMaker endpoint variants (Application Auto Scaling).", props, [
        "maxCapacity", "minCapacity", "region", "resourceId"])
    status = status_schema("HostingAutoscalingPolicy", {
        "hostingAutoscalingPolicyStatus": string("Reconciling, Created or Error."),
        "policyName": string("Name of the scaling policy in Application Auto Scaling."),
        "resourceIDList": {"description": "Resource IDs the policy is applied to.", "type": "array",
                           "items": {"type": "string"}},
    })
    return Kind("HostingAutoscalingPolicy", "hostingautoscalingpolicies",
                "Autoscaling of SageMaker endpoint variants.", [
                    col("Status", ".status.hostingAutoscalingPolicyStatus"),
                    CREATED,
                ], short=["hap"]), spec, status


def crd(kind, spec, status):
    root = obj("%s (%s/v1)." % (kind.description.rstrip("."), GROUP), {
        "apiVersion": string("APIVersion of this representation of the object."),
        "kind": string("Kind of the object."),
        "metadata": {"type": "object"},
        "spec": spec,
        "status": status,
    }, ["spec"])
    names = {"kind": kind.kind, "listKind": kind.kind + "List", "plural": kind.plural,
             "singular": kind.kind.lower(), "categories": ["sagemaker"]}
    if kind.short:
        names["shortNames"] = kind.short
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (kind.plural, GROUP)},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": kind.columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


# ---- YAML ----

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if PLAIN.fullmatch(v) and v.lower() not in YAML11_WORDS:
        return v
    return json.dumps(v)


def emit(value, indent, lines):
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                lines.append("%s%s:" % (pad, k))
                emit(v, indent + 2, lines)
            elif isinstance(v, list) and v:
                lines.append("%s%s:" % (pad, k))
                emit(v, indent, lines)
            else:
                lines.append("%s%s: %s" % (pad, k, "{}" if v == {} else "[]" if v == [] else scalar(v)))
    else:
        for item in value:
            if isinstance(item, dict) and item:
                sub = []
                emit(item, indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append("%s- %s" % (pad, scalar(item)))


def to_yaml(doc, header):
    lines = [header]
    emit(doc, 0, lines)
    return "\n".join(lines) + "\n"


# ---- main ----

KINDS = [training_job, tuning_job, transform_job, processing_job, hosting_deployment, model,
         endpoint_config, autoscaling_policy]


def generate():
    sm_path, sm_shapes = load("sagemaker")
    aas_path, aas_shapes = load("application-autoscaling")
    builders = []
    files = {}
    for make in KINDS:
        sm, sm_status = Builder(sm_shapes), Builder(sm_shapes, loose=True)
        other = Builder(aas_shapes) if make is autoscaling_policy else sm_status
        kind, spec, status = make(sm, other)
        builders.append((kind.kind, sm, other))
        source = aas_path + " and " + sm_path if make is autoscaling_policy else sm_path
        header = "# Generated by tools/gen_crds.py from %s; do not edit." % source
        name = "%s_%s.yaml" % (GROUP, kind.plural)
        files[name] = to_yaml(crd(kind, spec, status), header)
    return files, builders


def report(files, builders):
    for name, text in sorted(files.items()):
        print("crds/%s: %d bytes" % (name, len(text)))
    changed, noop = {}, set()
    for kind, *bs in builders:
        for b in bs:
            for path, java, pattern, note in b.notes:
                if note == "no-op":
                    noop.add(java)
                else:
                    changed.setdefault((java, pattern, note), []).append("%s %s" % (kind, path))
            for cut in b.cuts:
                print("%s: recursive shape cut at %s" % (kind, cut))
    for (java, pattern, note), where in sorted(changed.items()):
        print("pattern %s -> %s (%s): %s%s" % (java, pattern or "none", note, where[0],
                                              " and %d more" % (len(where) - 1) if len(where) > 1 else ""))
    if noop:
        print("no-op patterns left out: %s" % " ".join(sorted(noop)))


def main(argv):
    args = argv[1:]
    check = "--check" in args
    out_dir = OUT_DIR
    if "--out" in args:
        at = args.index("--out")
        if at + 1 >= len(args):
            print("--out needs a directory", file=sys.stderr)
            return 2
        out_dir = args[at + 1]
        del args[at:at + 2]
    unknown = [a for a in args if a != "--check"]
    if unknown:
        print("usage: gen_crds.py [--check] [--out DIR]", file=sys.stderr)
        return 2
    files, builders = generate()
    if check:
        stale = []
        for name, text in sorted(files.items()):
            path = os.path.join(out_dir, name)
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() == text:
                        continue
            except FileNotFoundError:
                pass
            stale.append(name)
        extra = sorted(n for n in os.listdir(out_dir) if n.endswith(".yaml") and n not in files) \
            if os.path.isdir(out_dir) else []
        for name in stale:
            print("%s differs from the generator's output" % os.path.join(out_dir, name), file=sys.stderr)
        for name in extra:
            print("%s is not generated" % os.path.join(out_dir, name), file=sys.stderr)
        if stale or extra:
            print("run: python3 tools/gen_crds.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(out_dir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(text)
    report(files, builders)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
