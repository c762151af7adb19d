"""test_openapi_check.py: unit tests of openapi_check.py (the JSON Schema
subset and the response matching) and of docs/openapi.yaml itself: it loads,
every schema uses only supported keywords, and it documents exactly the
routes of the C route tables (src/*/*.c), so a route added without its
documentation fails here even if no integration test calls it.

    /usr/bin/python3 -m unittest tests/lib/test_openapi_check.py
"""
import glob
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402
from openapi_check import SchemaError, Spec, Validator  # noqa: E402

JSON_HDRS = {"content-type": "application/json; charset=utf-8", "x-request-id": "abc123"}


def errs(schema, value, root=None):
    return Validator(root or {}).validate(schema, value)


class SchemaSubset(unittest.TestCase):
    def test_types_and_lists_of_types(self):
        self.assertEqual(errs({"type": "string"}, "x"), [])
        self.assertEqual(errs({"type": ["string", "null"]}, None), [])
        self.assertTrue(errs({"type": ["string", "null"]}, 3))
        self.assertEqual(errs({"type": "number"}, 1.5), [])
        self.assertEqual(errs({"type": "array"}, []), [])
        self.assertEqual(errs({"type": "object"}, {}), [])
        self.assertTrue(errs({"type": "object"}, []))

    def test_integer_is_strict(self):
        self.assertEqual(errs({"type": "integer"}, 7), [])
        self.assertTrue(errs({"type": "integer"}, 7.0), "money is never a float")
        self.assertTrue(errs({"type": "integer"}, True), "a boolean is not an integer")
        self.assertTrue(errs({"type": "boolean"}, 1))

    def test_const_and_enum_do_not_confuse_true_and_1(self):
        self.assertTrue(errs({"const": 1}, True))
        self.assertTrue(errs({"enum": [0, 1]}, False))
        self.assertEqual(errs({"const": 200}, 200), [])
        self.assertEqual(errs({"enum": ["A", None]}, None), [])
        self.assertTrue(errs({"enum": ["A", "B"]}, "C"))

    def test_numbers_strings_arrays(self):
        self.assertTrue(errs({"minimum": 1}, 0))
        self.assertTrue(errs({"maximum": 100}, 101))
        self.assertEqual(errs({"minimum": 1, "maximum": 100}, 100), [])
        self.assertTrue(errs({"exclusiveMinimum": 0}, 0))
        self.assertTrue(errs({"exclusiveMaximum": 10}, 10))
        self.assertTrue(errs({"minLength": 1}, ""))
        self.assertEqual(errs({"maxLength": 3}, "김민지"), [], "code points, not bytes")
        self.assertTrue(errs({"maxLength": 2}, "김민지"))
        self.assertEqual(errs({"pattern": "^[0-9]{4}$"}, "2024"), [])
        self.assertTrue(errs({"pattern": "^[0-9]{4}$"}, "20245"))
        self.assertTrue(errs({"minItems": 1}, []))
        self.assertTrue(errs({"maxItems": 1}, [1, 2]))
        self.assertEqual(errs({"minimum": 5}, "text"), [], "numeric keywords ignore other types")

    def test_objects(self):
        s = {"type": "object", "required": ["a"], "additionalProperties": False,
             "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
        self.assertEqual(errs(s, {"a": 1, "b": "x"}), [])
        self.assertEqual(errs(s, {}), ["$.a: required member is missing"])
        self.assertEqual(errs(s, {"a": 1, "c": 2}), ["$.c: member not in the schema"])
        self.assertEqual(errs(s, {"a": "1"}), ['$.a: expected integer, got "1"'])
        self.assertEqual(errs({"additionalProperties": {"type": "integer"}}, {"x": "y"}),
                         ['$.x: expected integer, got "y"'])
        self.assertEqual(errs({"dependentRequired": {"pgCode": ["pgMessage"]}}, {"pgCode": "X"}),
                         ["$.pgMessage: required with pgCode"])

    def test_items_and_json_paths(self):
        s = {"properties": {"data": {"properties": {"contents": {"items": {
            "properties": {"viewCount": {"type": "integer"}}}}}}}}
        v = {"data": {"contents": [{"viewCount": 1}, {"viewCount": "2"}]}}
        self.assertEqual(errs(s, v), ['$.data.contents[1].viewCount: expected integer, got "2"'])
        self.assertEqual(errs({"properties": {"a-b": {"type": "null"}}}, {"a-b": 1}),
                         ['$["a-b"]: expected null, got 1'])

    def test_refs_and_combinators(self):
        root = {"components": {"schemas": {"Id": {"type": "integer", "minimum": 1},
                                            "a~b/c": {"const": "x"}}}}
        self.assertEqual(errs({"$ref": "#/components/schemas/Id"}, 1, root), [])
        self.assertTrue(errs({"$ref": "#/components/schemas/Id"}, 0, root))
        self.assertEqual(errs({"$ref": "#/components/schemas/a~0b~1c"}, "x", root), [])
        with self.assertRaises(SchemaError):
            errs({"$ref": "#/components/schemas/Nope"}, 1, root)
        with self.assertRaises(SchemaError):
            errs({"$ref": "other.yaml#/x"}, 1, root)
        one = {"oneOf": [{"type": "string"}, {"type": "null"}]}
        self.assertEqual(errs(one, None), [])
        self.assertTrue(errs(one, 1))
        self.assertTrue(errs({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 3),
                        "two branches match: not exactly one")
        self.assertEqual(errs({"anyOf": [{"type": "integer"}, {"minimum": 0}]}, 3), [])
        self.assertTrue(errs({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "x"))
        self.assertTrue(errs({"allOf": [{"type": "integer"}, {"minimum": 5}]}, 3))
        self.assertTrue(errs({"not": {"const": 0}}, 0))
        self.assertEqual(errs({"not": {"const": 0}}, 1), [])
        self.assertEqual(errs(True, {"any": 1}), [])
        self.assertTrue(errs(False, 1))

    def test_unknown_keywords_are_refused(self):
        with self.assertRaises(SchemaError):
            errs({"format": "email"}, "a@b")
        with self.assertRaises(SchemaError):
            errs({"type": "strnig"}, "a")
        self.assertEqual(errs({"description": "x", "examples": [1], "x-note": 1}, 1), [])


# A small document exercising every matching rule.
MINI = {
    "openapi": "3.1.0",
    "servers": [{"url": "http://127.0.0.1:8080", "x-listener": "public"}],
    "paths": {
        "/items/{id}": {"get": {"operationId": "getItem", "responses": {
            "200": {"description": "ok", "headers": {"X-Request-Id": {"required": True, "schema": {
                "type": "string", "pattern": "^[a-z0-9]+$"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
            "4XX": {"$ref": "#/components/responses/Err"}}}},
        "/items/special": {"get": {"operationId": "getSpecial", "responses": {
            "200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/admin-only": {"servers": [{"url": "http://127.0.0.1:8081", "x-listener": "admin"}],
                        "post": {"operationId": "adminPost", "responses": {
                            "204": {"description": "nothing"}}}},
    },
    "components": {
        "schemas": {"Item": {"type": "object", "required": ["id"], "additionalProperties": False,
                             "properties": {"id": {"type": "integer"}}},
                    "Error": {"type": "object", "required": ["code"],
                              "properties": {"code": {"type": "integer"}}}},
        "responses": {"Err": {"description": "error", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}},
    },
    "x-unmatched-path": {"responses": {"404": {"$ref": "#/components/responses/Err"}}},
    "x-unmatched-method": {"responses": {"405": {"$ref": "#/components/responses/Err"}}},
}


def body(v):
    return json.dumps(v).encode()


class Matching(unittest.TestCase):
    def setUp(self):
        self.spec = Spec(MINI)

    def check(self, listener, method, path, status, value, headers=None):
        h = dict(JSON_HDRS) if headers is None else headers
        b = value if isinstance(value, bytes) else body(value)
        return self.spec.check(listener, method, path, status, h, b)

    def test_a_matching_response_passes(self):
        self.assertEqual(self.check("public", "GET", "/items/7?x=1", 200, {"id": 7}), [])

    def test_a_schema_mismatch_names_operation_status_and_json_path(self):
        out = self.check("public", "GET", "/items/7", 200, {"id": "7"})
        self.assertEqual(out, ['getItem (public GET /items/7) -> 200: $.id: expected integer, got "7"'])

    def test_undocumented_status(self):
        out = self.check("public", "GET", "/items/7", 500, {"code": 500})
        self.assertEqual(len(out), 1)
        self.assertIn("status 500 is not documented", out[0])
        self.assertEqual(self.check("public", "GET", "/items/7", 404, {"code": 404}), [],
                         "4XX covers 404")

    def test_content_type(self):
        out = self.check("public", "GET", "/items/7", 200, {"id": 7},
                         {"content-type": "text/html", "x-request-id": "a"})
        self.assertIn("Content-Type text/html is not documented", out[0])
        out = self.check("public", "GET", "/items/7", 200, {"id": 7},
                         {"content-type": "application/json", "x-request-id": "a"})
        self.assertEqual(len(out), 1)
        self.assertIn("lacks charset=utf-8", out[0])
        out = self.check("public", "GET", "/items/7", 200, b"{not json")
        self.assertIn("not JSON", out[0])

    def test_required_headers(self):
        out = self.check("public", "GET", "/items/7", 200, {"id": 7},
                         {"content-type": "application/json; charset=utf-8"})
        self.assertEqual(out, ["getItem (public GET /items/7) -> 200: header X-Request-Id is missing"])
        out = self.check("public", "GET", "/items/7", 200, {"id": 7},
                         {"content-type": "application/json; charset=utf-8", "x-request-id": "A B"})
        self.assertIn("header X-Request-Id", out[0])

    def test_concrete_paths_win_and_text_bodies(self):
        self.assertEqual(self.check("public", "GET", "/items/special", 200, b"hello",
                                    {"content-type": "text/plain; charset=utf-8"}), [])

    def test_head_uses_the_get_operation_without_a_body(self):
        self.assertEqual(self.check("public", "HEAD", "/items/7", 200, b""), [])
        out = self.check("public", "HEAD", "/items/7", 200, {"id": 7})
        self.assertIn("HEAD response with a body", out[0])

    def test_unmatched_paths_and_methods(self):
        self.assertEqual(self.check("public", "GET", "/nothing", 404, {"code": 404}), [])
        out = self.check("public", "GET", "/nothing", 200, {"code": 200})
        self.assertIn("x-unmatched-path (public GET /nothing) -> 200: status 200 is not documented",
                      out[0])
        self.assertEqual(self.check("public", "DELETE", "/items/7", 405, {"code": 405}), [])
        self.assertTrue(self.check("public", "DELETE", "/items/7", 200, {"code": 200}))

    def test_listeners(self):
        self.assertEqual(self.check("admin", "POST", "/admin-only", 204, b"", {}), [])
        out = self.check("admin", "POST", "/admin-only", 204, b"x", {})
        self.assertIn("a body where the document says none", out[0])
        # the admin path does not exist on the public listener: 404 is all it may answer
        self.assertEqual(self.check("public", "POST", "/admin-only", 404, {"code": 404}), [])
        self.assertTrue(self.check("public", "POST", "/admin-only", 204, b"", {}))
        # and public paths do not exist on the admin listener
        self.assertTrue(self.check("admin", "GET", "/items/7", 200, {"id": 7}))

    def test_collection(self):
        openapi_check.reset()
        spec, openapi_check._spec = openapi_check._spec, self.spec
        enabled, openapi_check.ENABLED = openapi_check.ENABLED, True
        try:
            openapi_check.observe("public", "GET", "/items/1", 200, JSON_HDRS, body({"id": 1}))
            openapi_check.observe("public", "GET", "/items/2", 200, JSON_HDRS, body({"id": "2"}))
            openapi_check.observe("public", "GET", "/items/2", 200, JSON_HDRS, body({"id": "2"}))
            n, violations, seen = openapi_check.summary()
            self.assertEqual(n, 3)
            self.assertEqual(list(violations.values()), [2])
            self.assertEqual(seen, {("getItem", 200): 3})
        finally:
            openapi_check._spec, openapi_check.ENABLED = spec, enabled
            openapi_check.reset()


# ---- the real document -----------------------------------------------------

ROUTE_RX = re.compile(r'\{\s*(HTTP_[A-Z]+(?:\s*\|\s*HTTP_[A-Z]+)*)\s*,\s*"(/[^"]*)"\s*,\s*\w+\s*,'
                      r'\s*([^,]+?)\s*,\s*"(\w+)"\s*\}', re.S)


def c_routes():
    """(methods, pattern, admin) of every route in the C route tables."""
    out = []
    for f in glob.glob(os.path.join(openapi_check.ROOT, "src", "*", "*.c")):
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        for m in ROUTE_RX.finditer(text):
            methods = {x.strip()[5:].lower() for x in m.group(1).split("|")}
            out.append((methods, m.group(2), "HTTP_ROUTE_ADMIN" in m.group(3)))
    return out


class TheDocument(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load_spec()

    def test_it_loads_and_every_schema_is_supported(self):
        self.spec.v.check_schemas()  # raises SchemaError otherwise
        self.assertEqual(self.spec.doc["openapi"], "3.1.0")

    def test_every_c_route_is_documented_on_its_listener(self):
        routes = c_routes()
        self.assertGreaterEqual(len(routes), 12, "the route tables were found")
        documented = {p.template: p for p in self.spec.paths}
        for methods, pattern, admin in routes:
            with self.subTest(route=pattern):
                self.assertTrue(pattern in documented, f"{pattern} is not in docs/openapi.yaml")
                p = documented[pattern]
                for m in methods:
                    self.assertIn(m, p.item, f"{m.upper()} {pattern} is not documented")
                if admin:
                    self.assertEqual(p.listeners, {"admin"}, f"{pattern} is admin only")
                else:
                    self.assertIn("public", p.listeners if pattern.startswith("/api/")
                                  else p.listeners | {"public"})

    def test_every_documented_pool_operation_exists(self):
        routes = {(m, pattern) for methods, pattern, _ in c_routes() for m in methods}
        for template, method, op, _ in self.spec.operations():
            if self.spec.doc["paths"][template].get("x-served-by") == "nginx":
                continue
            with self.subTest(op=op.get("operationId")):
                self.assertIn((method, template), routes,
                              f"{method.upper()} {template} is documented but not routed")

    def test_every_operation_has_an_id_a_tag_and_the_request_id_header(self):
        ids = set()
        for template, method, op, _ in self.spec.operations():
            with self.subTest(op=f"{method} {template}"):
                self.assertNotIn(op["operationId"], ids)
                ids.add(op["operationId"])
                self.assertTrue(op.get("tags"))
                for status, resp in op["responses"].items():
                    resp = self.spec.v.deref(resp)
                    self.assertIn("X-Request-Id", resp.get("headers", {}), f"{status}")

    def test_real_examples(self):
        ok = {"code": 200, "status": "OK", "message": "OK", "data": {
            "id": 1, "name": "김민지", "userId": 1, "createdAt": "2024-10-01 12:00:00", "viewCount": 42}}
        self.assertEqual(self.spec.check("public", "GET", "/api/v1/profiles/1", 200, JSON_HDRS,
                                         body(ok)), [])
        bad = json.loads(json.dumps(ok))
        del bad["data"]["viewCount"]
        self.assertEqual(self.spec.check("public", "GET", "/api/v1/profiles/1", 200, JSON_HDRS,
                                         body(bad)),
                         ["getProfile (public GET /api/v1/profiles/1) -> 200: "
                          "$.data.viewCount: required member is missing"])
        err = {"code": 404, "status": "NOT_FOUND", "errorType": "NO_RESOURCE",
               "errorMessage": "no resource at this path", "requestId": "abc123"}
        self.assertEqual(self.spec.check("public", "GET", "/nothing-here.html", 404, JSON_HDRS,
                                         body(err)), [])
        self.assertEqual(self.spec.check("public", "GET", "/metrics", 404, JSON_HDRS, body(err)), [],
                         "admin paths are 404 on the public listener")
        pg = dict(err, code=403, status="FORBIDDEN", errorType="EXTERNAL_API_ERROR", pgCode="X")
        out = self.spec.check("public", "POST", "/api/v1/payments/success/toss?paymentKey=k"
                              "&orderId=abcdef&amount=1", 403, JSON_HDRS, body(pg))
        # a 403 there is a member's FORBIDDEN or a gateway refusal: the gateway
        # branch names what is missing
        self.assertEqual(len(out), 1, out)
        self.assertTrue(out[0].startswith("confirmPayment (public POST /api/v1/payments/success/"
                                          "toss) -> 403: $: matches none of oneOf"), out)
        self.assertIn("$.pgMessage: required with pgCode", out[0])
        forbidden = dict(err, code=403, status="FORBIDDEN", errorType="FORBIDDEN")
        self.assertEqual(self.spec.check("public", "POST", "/api/v1/payments/success/toss?paymentKey"
                                         "=k&orderId=abcdef&amount=1", 403, JSON_HDRS,
                                         body(forbidden)), [])
        money = {"code": 200, "status": "OK", "message": "OK",
                 "data": {"userId": 1, "point": 1000.0}}
        out = self.spec.check("public", "GET", "/api/v1/users/1/points", 200, JSON_HDRS, body(money))
        self.assertEqual(out, ["getPoints (public GET /api/v1/users/1/points) -> 200: "
                               "$.data.point: expected integer, got 1000.0"])


if __name__ == "__main__":
    unittest.main()
