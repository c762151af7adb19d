"""openapi_check.py: checks HTTP responses against docs/openapi.yaml, so the
document cannot drift from what the server answers.

apitest.request() hands every response from the stack's two listeners to
observe(); each mismatch is recorded as one line naming the operation, the
status and the JSON path, and tests/integration/run.py ends with a test that
fails listing them. Also used on its own:

    spec = load_spec()                       # docs/openapi.yaml (PyYAML)
    spec.check("public", "GET", "/api/v1/profiles/1", 200, headers, body)
        -> [] or ["getProfile (public GET /api/v1/profiles/1) -> 200: $.data.viewCount: ..."]

How a response is matched (the conventions written at the top of the YAML):
  - the listener ("public" or "admin") selects the path items whose servers
    carry that `x-listener` (path items without servers: the top-level ones);
    concrete paths win over templated ones ({x} is one path segment);
  - HEAD uses the GET operation (status and headers; no body is expected);
  - a path served on no path item of the listener is checked against
    `x-unmatched-path`, a method the path item lacks against `x-unmatched-method`;
  - the status must be listed (exact, then `4XX`-style, then `default`); every
    header marked required must be there and match its schema; the
    Content-Type must be one of the documented media types (JSON with
    `charset=utf-8`, as API.md says); a JSON body must match the schema.

The JSON Schema subset (2020-12 keywords): type (a name or a list, "null"
included), enum, const, properties, required, additionalProperties (boolean
or schema), items, minItems, maxItems, minimum, maximum, exclusiveMinimum,
exclusiveMaximum, minLength, maxLength (code points), pattern (Python `re`,
searched, so the document anchors its patterns), $ref (local `#/...`),
allOf, anyOf, oneOf, not, dependentRequired, and boolean schemas.
Annotations (description, title, examples, default, deprecated, $comment)
are ignored. Any other keyword raises SchemaError: the document cannot use
a rule this validator would silently skip. Deliberately stricter than JSON
Schema: "integer" is a JSON number without a fraction or exponent as
parsed by Python's json (1.0 is not an integer: money is never a float), and
equality in enum/const never confuses true with 1.
"""
import json
import os
import re
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")

ANNOTATIONS = {"description", "title", "examples", "default", "deprecated", "$comment",
               "readOnly", "writeOnly"}
KEYWORDS = {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
            "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "minLength", "maxLength", "pattern", "$ref", "allOf", "anyOf", "oneOf", "not",
            "dependentRequired"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SchemaError(Exception):
    """The document itself is wrong or uses what this validator does not know."""


# ---- JSON Schema subset --------------------------------------------------------

def _type_ok(name, v):
    if name == "null":
        return v is None
    if name == "boolean":
        return isinstance(v, bool)
    if name == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if name == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if name == "string":
        return isinstance(v, str)
    if name == "array":
        return isinstance(v, list)
    if name == "object":
        return isinstance(v, dict)
    raise SchemaError(f"unknown type {name!r}")


def json_equal(a, b):
    """Equality as JSON means it: true is not 1, 1 is 1.0 only between numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _short(v, n=60):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n - 3] + "..."


def _key_path(path, key):
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


class Validator:
    """Validates JSON values against schemas inside one document (for $ref)."""

    def __init__(self, root):
        self.root = root
        self._patterns = {}

    def resolve(self, ref):
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise SchemaError(f"only local references are supported: {ref!r}")
        node = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise SchemaError(f"unresolved reference {ref}")
        return node

    def deref(self, node):
        """A Reference Object (or a chain of them) to what it points at."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolve(node["$ref"])
            seen += 1
            if seen > 32:
                raise SchemaError("reference loop")
        return node

    def _regex(self, p):
        r = self._patterns.get(p)
        if r is None:
            try:
                r = self._patterns[p] = re.compile(p)
            except re.error as e:
                raise SchemaError(f"bad pattern {p!r}: {e}") from None
        return r

    def validate(self, schema, v, path="$"):
        """Returns a list of "path: message" strings (empty: valid)."""
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: no value is allowed here (got {_short(v)})"]
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object or a boolean, got {schema!r}")
        for k in schema:
            if k not in KEYWORDS and k not in ANNOTATIONS and not k.startswith("x-"):
                raise SchemaError(f"unsupported schema keyword {k!r} (at {path})")
        errs = []
        if "$ref" in schema:
            errs += self.validate(self.resolve(schema["$ref"]), v, path)
        if "type" in schema:
            t = schema["type"]
            names = t if isinstance(t, list) else [t]
            if not any(_type_ok(n, v) for n in names):
                return errs + [f"{path}: expected {' or '.join(names)}, got {_short(v)}"]
        if "const" in schema and not json_equal(v, schema["const"]):
            errs.append(f"{path}: expected {_short(schema['const'])}, got {_short(v)}")
        if "enum" in schema and not any(json_equal(v, e) for e in schema["enum"]):
            errs.append(f"{path}: {_short(v)} is not one of {_short(schema['enum'], 120)}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in schema and v < schema["minimum"]:
                errs.append(f"{path}: {v} is below the minimum {schema['minimum']}")
            if "maximum" in schema and v > schema["maximum"]:
                errs.append(f"{path}: {v} is above the maximum {schema['maximum']}")
            if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
                errs.append(f"{path}: {v} is not above {schema['exclusiveMinimum']}")
            if "exclusiveMaximum" in schema and v >= schema["exclusiveMaximum"]:
                errs.append(f"{path}: {v} is not below {schema['exclusiveMaximum']}")
        if isinstance(v, str):
            if "minLength" in schema and len(v) < schema["minLength"]:
                errs.append(f"{path}: shorter than {schema['minLength']} characters")
            if "maxLength" in schema and len(v) > schema["maxLength"]:
                errs.append(f"{path}: longer than {schema['maxLength']} characters")
            if "pattern" in schema and not self._regex(schema["pattern"]).search(v):
                errs.append(f"{path}: {_short(v)} does not match {schema['pattern']}")
        if isinstance(v, list):
            if "minItems" in schema and len(v) < schema["minItems"]:
                errs.append(f"{path}: fewer than {schema['minItems']} items")
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                errs.append(f"{path}: more than {schema['maxItems']} items")
            if "items" in schema:
                for i, item in enumerate(v):
                    errs += self.validate(schema["items"], item, f"{path}[{i}]")
        if isinstance(v, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in v:
                    errs.append(f"{_key_path(path, name)}: required member is missing")
            for name, sub in props.items():
                if name in v:
                    errs += self.validate(sub, v[name], _key_path(path, name))
            if "additionalProperties" in schema:
                extra = [k for k in v if k not in props]
                ap = schema["additionalProperties"]
                for k in extra:
                    if ap is False:
                        errs.append(f"{_key_path(path, k)}: member not in the schema")
                    else:
                        errs += self.validate(ap, v[k], _key_path(path, k))
            for name, needs in schema.get("dependentRequired", {}).items():
                if name in v:
                    for n in needs:
                        if n not in v:
                            errs.append(f"{_key_path(path, n)}: required with {name}")
        for sub in schema.get("allOf", []):
            errs += self.validate(sub, v, path)
        if "anyOf" in schema:
            results = [self.validate(sub, v, path) for sub in schema["anyOf"]]
            if all(results):
                errs.append(f"{path}: matches none of anyOf ({'; '.join(r[0] for r in results)})")
        if "oneOf" in schema:
            results = [self.validate(sub, v, path) for sub in schema["oneOf"]]
            ok = sum(1 for r in results if not r)
            if ok == 0:
                errs.append(f"{path}: matches none of oneOf ({'; '.join(r[0] for r in results)})")
            elif ok > 1:
                errs.append(f"{path}: matches {ok} branches of oneOf (exactly one expected)")
        if "not" in schema and not self.validate(schema["not"], v, path):
            errs.append(f"{path}: {_short(v)} matches a schema it must not match")
        return errs

    def check_schemas(self, node=None, where="#"):
        """Walks every schema of the document once: each $ref must resolve and
        each keyword be supported (raises SchemaError otherwise)."""
        node = self.root if node is None else node
        if isinstance(node, dict):
            if "$ref" in node:
                self.resolve(node["$ref"])
            if "schema" in node and isinstance(node["schema"], (dict, bool)):
                self._walk_schema(node["schema"], where + "/schema")
            for k, sub in node.items():
                if k == "schemas" and where == "#/components":
                    for name, s in sub.items():
                        self._walk_schema(s, f"{where}/schemas/{name}")
                elif k != "schema":
                    self.check_schemas(sub, f"{where}/{k}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                self.check_schemas(sub, f"{where}/{i}")

    def _walk_schema(self, s, where):
        if isinstance(s, bool):
            return
        if not isinstance(s, dict):
            raise SchemaError(f"{where}: a schema must be an object or a boolean")
        for k in s:
            if k not in KEYWORDS and k not in ANNOTATIONS and not k.startswith("x-"):
                raise SchemaError(f"{where}: unsupported schema keyword {k!r}")
        if "$ref" in s:
            self.resolve(s["$ref"])
        if "pattern" in s:
            self._regex(s["pattern"])
        if "type" in s:
            for n in (s["type"] if isinstance(s["type"], list) else [s["type"]]):
                _type_ok(n, None)
        for k in ("items", "not", "additionalProperties"):
            if k in s:
                self._walk_schema(s[k], f"{where}/{k}")
        for k in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(s.get(k, [])):
                self._walk_schema(sub, f"{where}/{k}/{i}")
        for name, sub in s.get("properties", {}).items():
            self._walk_schema(sub, f"{where}/properties/{name}")


# ---- the OpenAPI document ------------------------------------------------------

class PathItem:
    def __init__(self, template, item, listeners):
        self.template = template
        self.item = item
        self.listeners = listeners
        parts = template.strip("/").split("/") if template != "/" else []
        self.params = sum(1 for p in parts if p.startswith("{"))
        rx = "".join("/" + ("[^/]+" if p.startswith("{") else re.escape(p)) for p in parts)
        self.regex = re.compile("^" + (rx or "/") + "$")


class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.v = Validator(doc)
        top = self._listeners(doc.get("servers", []), "servers")
        self.paths = []
        for template, item in doc.get("paths", {}).items():
            listeners = self._listeners(item["servers"], template) if "servers" in item else top
            self.paths.append(PathItem(template, item, listeners))
        # concrete before templated, then longer first
        self.paths.sort(key=lambda p: (p.params, -len(p.template)))
        for ext in ("x-unmatched-path", "x-unmatched-method"):
            if "responses" not in doc.get(ext, {}):
                raise SchemaError(f"{ext} with responses is missing")

    @staticmethod
    def _listeners(servers, where):
        out = set()
        for s in servers:
            if "x-listener" not in s:
                raise SchemaError(f"a server of {where} has no x-listener")
            out.add(s["x-listener"])
        return out

    def operations(self):
        """(template, method, operation, listeners) of every operation."""
        for p in self.paths:
            for m in METHODS:
                if m in p.item:
                    yield p.template, m, p.item[m], p.listeners

    def find(self, listener, method, path):
        """(label, responses, is_head) for a request."""
        m = method.lower()
        for p in self.paths:
            if listener in p.listeners and p.regex.match(path):
                op = p.item.get(m)
                is_head = False
                if op is None and m == "head" and "get" in p.item:
                    op, is_head = p.item["get"], True
                if op is None:
                    return (f"x-unmatched-method[{p.template}]",
                            self.doc["x-unmatched-method"]["responses"], m == "head")
                return op.get("operationId", f"{m} {p.template}"), op["responses"], is_head
        return "x-unmatched-path", self.doc["x-unmatched-path"]["responses"], m == "head"

    def check(self, listener, method, raw_path, status, headers, body):
        """Violations (strings) of one response; headers: {lower-case name: value}."""
        path = raw_path.split("?", 1)[0]
        label, responses, is_head = self.find(listener, method, path)
        where = f"{label} ({listener} {method.upper()} {path}) -> {status}"
        resp = responses.get(str(status)) or responses.get(f"{status // 100}XX") \
            or responses.get("default")
        if resp is None:
            return [f"{where}: status {status} is not documented for this operation "
                    f"(documented: {', '.join(sorted(responses))})"]
        resp = self.v.deref(resp)
        out = []
        for name, h in resp.get("headers", {}).items():
            h = self.v.deref(h)
            val = headers.get(name.lower())
            if val is None:
                if h.get("required"):
                    out.append(f"{where}: header {name} is missing")
                continue
            if "schema" in h:
                out += [f"{where}: header {name}: {e[2:]}" for e in
                        self.v.validate(h["schema"], val, "$")]
        content = resp.get("content")
        ctype = headers.get("content-type", "")
        if not content:
            if body:
                out.append(f"{where}: a body where the document says none ({len(body)} bytes)")
            return out
        base = ctype.split(";", 1)[0].strip().lower()
        params = {k.strip().lower(): v.strip().strip('"').lower() for k, _, v in
                  (p.partition("=") for p in ctype.split(";")[1:])}
        media = next((content[k] for k in content if k.lower() == base), None)
        if media is None:
            return out + [f"{where}: Content-Type {ctype or '(none)'} is not documented "
                          f"({', '.join(content)})"]
        if base == "application/json" and params.get("charset") != "utf-8":
            out.append(f"{where}: Content-Type {ctype} lacks charset=utf-8")
        if is_head or method.upper() == "HEAD":
            if body:
                out.append(f"{where}: a HEAD response with a body")
            return out
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return out + [f"{where}: the body is not UTF-8"]
        schema = media.get("schema", True)
        if base == "application/json" or base.endswith("+json"):
            try:
                value = json.loads(text)
            except ValueError as e:
                return out + [f"{where}: the body is not JSON ({e})"]
        else:
            value = text
        out += [f"{where}: {e}" for e in self.v.validate(schema, value, "$")]
        return out


def load_spec(path=None):
    """Parses the YAML document (Debian's python3-yaml) and checks its schemas."""
    import yaml  # noqa: PLC0415 - only needed when validating
    with open(path or SPEC_PATH, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    spec = Spec(doc)
    spec.v.check_schemas()
    return spec


# ---- collection during a test run ----------------------------------------------

# Off until a runner turns it on (apitest.openapi_test(), called by
# tests/integration/run.py), so benchmarks that use apitest pay nothing.
ENABLED = False
_lock = threading.Lock()
_spec = None
_load_error = None
_violations = {}       # line -> count
_seen = {}             # (operationId, status) -> count
_responses = 0


def _get_spec():
    global _spec, _load_error
    if _spec is None and _load_error is None:
        try:
            _spec = load_spec()
        except Exception as e:  # noqa: BLE001 - reported as a violation
            _load_error = f"cannot load {os.path.relpath(SPEC_PATH, ROOT)}: {type(e).__name__}: {e}"
    return _spec


def observe(listener, method, raw_path, status, headers, body):
    """Records the violations of one response (thread-safe)."""
    global _responses
    if not ENABLED:
        return
    with _lock:
        spec = _get_spec()
        _responses += 1
        if spec is None:
            _violations[_load_error] = _violations.get(_load_error, 0) + 1
            return
        label = spec.find(listener, method, raw_path.split("?", 1)[0])[0]
        _seen[(label, status)] = _seen.get((label, status), 0) + 1
        try:
            errs = spec.check(listener, method, raw_path, status, headers, body)
        except SchemaError as e:
            errs = [f"docs/openapi.yaml: {e}"]
        for e in errs:
            _violations[e] = _violations.get(e, 0) + 1


def summary():
    """(responses checked, {violation: count}, {(operation, status): count})."""
    with _lock:
        return _responses, dict(_violations), dict(_seen)


def reset():
    global _responses
    with _lock:
        _violations.clear()
        _seen.clear()
        _responses = 0
