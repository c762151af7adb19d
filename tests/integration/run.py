#!/usr/bin/env python3
"""run.py: runs integration test files against the running stack.

    tests/integration/run.py [FILE...]     (default: every test_*.py here)

Each file registers tests with @apitest.test; they run in file order, then
definition order, and last openapi.every_response_matched_docs_openapi_yaml:
every response the tests received from the stack must match docs/openapi.yaml. Prints "integration: N passed, N failed" last; exits 1 on
any failure.
"""
import glob
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import apitest  # noqa: E402


def main():
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    label = os.environ.get("SUITE_LABEL", "integration")
    for f in files:
        spec = importlib.util.spec_from_file_location(os.path.basename(f)[:-3], f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    apitest.openapi_test()  # last: every response above matched docs/openapi.yaml
    ok = apitest.run(label=label)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
