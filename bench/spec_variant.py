#!/usr/bin/env python3
"""Writes a variant of a resource spec for bench/run.sh, on stdout.

    spec_variant.py nocache SPEC   # every `cache:` section removed (top level and resources)
    spec_variant.py redis SPEC     # resources keep `cache.redis` and `cache.http` only
                                   # (no in-process tier: every GET goes to Redis)

Line-based (the spec's comments and layout are kept): a `cache:` key and the lines indented
deeper than it go; for `redis`, a `memory:` line under a resource's `cache:` goes.
"""
import re
import sys


def indent(line):
    return len(line) - len(line.lstrip(" "))


def variant(kind, lines):
    out = []
    skip_deeper_than = None  # drop lines indented deeper than this
    cache_indent = None  # inside a resource's cache: (redis variant)
    for line in lines:
        blank = not line.strip() or line.lstrip().startswith("#")
        if skip_deeper_than is not None:
            if blank or indent(line) > skip_deeper_than:
                if blank and not line.strip():
                    out.append(line)
                continue
            skip_deeper_than = None
        if cache_indent is not None and not blank and indent(line) <= cache_indent:
            cache_indent = None
        key = re.match(r"^(\s*)(\w+):", line)
        if key and key.group(2) == "cache":
            top_level = indent(line) == 0
            if kind == "nocache":
                skip_deeper_than = indent(line)
                continue
            if kind == "redis" and not top_level:
                cache_indent = indent(line)
        if kind == "redis" and cache_indent is not None and key and key.group(2) == "memory":
            if indent(line) > cache_indent:
                skip_deeper_than = indent(line)
                continue
        out.append(line)
    return out


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind not in ("nocache", "redis"):
        sys.exit(f"unknown variant {kind!r}: nocache or redis")
    with open(path) as f:
        lines = f.read().split("\n")
    sys.stdout.write("\n".join(variant(kind, lines)))


if __name__ == "__main__":
    main()
