#!/usr/bin/env python3
"""Fails when the workspace's own crates depend on one crate at two versions.

cargo-machete (in .ci/run) finds dependencies a crate declares but never uses; this finds
the other mistake a manifest edit makes: one member bumped (say `redis = "1"` in the
runtime) while another still names the old release (`redis = "0.32"` in the CLI or a
dev-dependency), so both compile. Transitive duplicates (two versions pulled in by
third-party crates) are not ours to fix and are not counted.

usage: .ci/duplicate-deps.py [MANIFEST]   (default: the workspace's Cargo.toml)
"""
import json
import subprocess
import sys
from collections import defaultdict

manifest = sys.argv[1] if len(sys.argv) > 1 else "Cargo.toml"
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--manifest-path", manifest],
    check=True, capture_output=True, text=True).stdout)
packages = {p["id"]: p for p in meta["packages"]}
members = set(meta["workspace_members"])
# Who (member, dependency kind) resolves each crate to which version.
seen = defaultdict(lambda: defaultdict(set))
for node in meta["resolve"]["nodes"]:
    if node["id"] not in members:
        continue
    member = packages[node["id"]]["name"]
    for dep in node["deps"]:
        target = packages[dep["pkg"]]
        if target["id"] in members:
            continue
        kinds = {k["kind"] or "normal" for k in dep["dep_kinds"]}
        for kind in kinds:
            seen[target["name"]][target["version"]].add(f"{member} ({kind})")
failed = False
for name, versions in sorted(seen.items()):
    if len(versions) > 1:
        failed = True
        where = "; ".join(f"{v}: {', '.join(sorted(users))}" for v, users in sorted(versions.items()))
        print(f"error: `{name}` is a dependency at {len(versions)} versions ({where}); "
              f"use one requirement in every Cargo.toml", file=sys.stderr)
if failed:
    sys.exit(1)
print(f"ok: {len(seen)} direct dependencies of {len(members)} workspace crates, one version each")
