#!/usr/bin/env python3
"""The JSON update scripts of the catalogue (updates/*.json) and of the fuzz seeds are
valid against the format's JSON Schema (updates/schema/update-v1.schema.json), and
scripts the engine refuses for their form are invalid against it too: the schema and
Chester's reader describe the same format.

Usage: test_update_schema.py --root SOURCE_ROOT
"""
import argparse
import glob
import json
import os
import sys

import jsonschema

# Each of these is refused by chester::readJsonScript (tests/unit/chester/UpdaterTest.cpp).
INVALID = {
    "no version": {"steps": []},
    "version 2": {"espellUpdate": 2, "steps": []},
    "unknown top-level field": {"espellUpdate": 1, "steps": [], "extra": 1},
    "step without op": {"espellUpdate": 1, "steps": [{"class": "A"}]},
    "unknown operation": {"espellUpdate": 1, "steps": [{"op": "frobnicate"}]},
    "missing source": {"espellUpdate": 1, "steps": [{"op": "addMethod", "class": "A"}]},
    "misspelt field": {"espellUpdate": 1, "steps": [{"op": "addMethod", "class": "A", "sourc": "x = ( ^ 1 )"}]},
    "lowercase class": {"espellUpdate": 1, "steps": [{"op": "removeClass", "name": "point"}]},
    "bad side": {"espellUpdate": 1, "steps": [{"op": "addMethod", "class": "A", "side": "meta", "source": "x = ( )"}]},
    "bad selector": {"espellUpdate": 1, "steps": [{"op": "removeMethod", "class": "A", "selector": "a b"}]},
    "bad migration": {"espellUpdate": 1, "steps": [{"op": "redefineClass", "class": "P",
                                                      "migrate": {"z": {"frm": "x"}}}]},
    "two migration sources": {"espellUpdate": 1, "steps": [{"op": "redefineClass", "class": "P",
                                                              "migrate": {"z": {"from": "x", "value": "0"}}}]},
    "duplicate instance variables": {"espellUpdate": 1, "steps": [{"op": "defineClass", "name": "A",
                                                                     "superclass": "Object",
                                                                     "instanceVariables": ["a", "a"]}]},
    "verify not a list": {"espellUpdate": 1, "steps": [], "verify": "true"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.root, "updates", "schema", "update-v1.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0
    scripts = sorted(glob.glob(os.path.join(args.root, "updates", "*.json")))
    if len(scripts) < 8:
        print(f"FAIL only {len(scripts)} JSON scripts in updates/")
        failures += 1
    for path in scripts:
        with open(path) as f:
            errors = list(validator.iter_errors(json.load(f)))
        for e in errors:
            print(f"FAIL {os.path.basename(path)}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
        failures += len(errors)
        if not errors:
            print(f"ok   {os.path.basename(path)} is valid")
    for name, script in INVALID.items():
        if validator.is_valid(script):
            print(f"FAIL the schema accepts a script with {name}")
            failures += 1
        else:
            print(f"ok   the schema refuses a script with {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
