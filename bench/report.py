#!/usr/bin/env python3
"""Summarizes the runs of bench/run.sh: results.json and RESULTS.md.

    report.py RUNS.jsonl META.txt RESULTS.json RESULTS.md "LABEL…"

Per shape and server: medians over the rounds of req/s, p50, p99 and server CPU µs per
request; per shop: the ratio reference µs ÷ shop µs (1.0 = the shop costs what the
hand-written server costs; 0.5 = twice as much) and shop req/s ÷ reference req/s, also per
round (the two ran back to back).
"""
import json
import sys
from statistics import median


def main():
    runs_path, meta_path, json_path, md_path, labels = sys.argv[1:6]
    labels = labels.split()
    runs = [json.loads(l) for l in open(runs_path) if l.strip()]
    meta = {}
    for line in open(meta_path):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    shapes = []
    for r in runs:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    servers = labels + ["reference"]

    summary = {}
    for shape in shapes:
        rs = [r for r in runs if r["shape"] == shape]
        out = {"description": meta.get(f"shape.{shape}", ""), "servers": {}, "ratios": {}}
        by = {s: [r for r in rs if r["server"] == s] for s in servers + ["copy-floor"]}
        for s, rows in by.items():
            if not rows:
                continue
            if shape == "export":
                out["servers"][s] = {
                    "rows": rows[-1]["rows"],
                    "rows_per_s": median(r["rows_per_s"] for r in rows),
                    "per_round_rows_per_s": [round(r["rows_per_s"]) for r in rows],
                }
                if "peak_rss_kib" in rows[0]:
                    out["servers"][s].update(
                        peak_rss_kib=max(r["peak_rss_kib"] for r in rows),
                        rss_before_kib=rows[0]["rss_before_kib"],
                        cpu_us_per_row=median(r["cpu_us_per_row"] for r in rows),
                    )
            else:
                out["servers"][s] = {
                    "rps": median(r["rps"] for r in rows),
                    "p50_us": median(r["p50_us"] for r in rows),
                    "p99_us": median(r["p99_us"] for r in rows),
                    "cpu_us_per_req": median(r["cpu_us_per_req"] for r in rows),
                    "per_round_rps": [round(r["rps"]) for r in rows],
                    "per_round_cpu_us": [round(r["cpu_us_per_req"], 2) for r in rows],
                    "errors": sum(r["non_2xx_3xx"] + r["socket_errors"] for r in rows),
                    "loadavg_1m": round(sum(r["loadavg_1m"] for r in rows) / len(rows), 2),
                }
            out["servers"][s]["rounds"] = len(rows)
        ref = out["servers"].get("reference")
        for label in labels:
            shop = out["servers"].get(label)
            if not (ref and shop):
                continue
            if shape == "export":
                out["ratios"][label] = {
                    "rows_per_s_shop_over_ref": shop["rows_per_s"] / ref["rows_per_s"],
                    "cpu_ref_over_shop": ref["cpu_us_per_row"] / shop["cpu_us_per_row"],
                }
                continue
            pairs = list(zip(by[label], by["reference"]))
            out["ratios"][label] = {
                "cpu_ref_over_shop": ref["cpu_us_per_req"] / shop["cpu_us_per_req"],
                "rps_shop_over_ref": shop["rps"] / ref["rps"],
                "per_round_cpu_ref_over_shop": [
                    round(b["cpu_us_per_req"] / a["cpu_us_per_req"], 2) for a, b in pairs
                ],
                "per_round_rps_shop_over_ref": [round(a["rps"] / b["rps"], 2) for a, b in pairs],
            }
        summary[shape] = out

    loads = [r["loadavg_1m"] for r in runs]
    doc = {
        "meta": {k: v for k, v in meta.items() if not k.startswith("shape.")},
        "loadavg_1m": {"min": min(loads), "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
        "shapes": summary,
    }
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    md = []
    w = md.append
    w("# bench/run.sh results" + (" (smoke run: not figures to quote)" if meta.get("smoke") == "1" else ""))
    w("")
    w(f"{meta.get('date')}; {meta.get('nproc')} vCPUs ({meta.get('cpu')}), Linux {meta.get('kernel')}; "
      f"{meta.get('rustc')}; PostgreSQL {meta.get('postgres')}; Redis {meta.get('redis')}; {meta.get('wrk')}.")
    w("")
    w(f"Load: `wrk {meta.get('wrk_args')}`; loopback, no `Accept-Encoding`; every server its own "
      f"process and database, copies of one seeded template ({meta.get('data')}). "
      f"Load average (1 min) during the runs: {doc['loadavg_1m']['min']}–{doc['loadavg_1m']['max']} "
      f"(mean {doc['loadavg_1m']['mean']}); the server shares the CPUs with wrk and whatever else runs.")
    w("")
    w("Servers:")
    w("")
    w(f"- `reference`: bench/reference, hand-written axum + sqlx + moka + redis (commit {meta.get('commit')})")
    for label in labels:
        note = meta.get("note." + label)
        w(f"- `{label}`" + (f": {note}" if note else ""))
        for k, v in sorted(meta.items()):
            if k.startswith(f"bin.{label}."):
                w(f"  - {k.split('.')[2]}: `{v}`")
    w("")
    w("CPU µs/req is the server process's on-CPU time (all threads, `/proc/PID/task/*/schedstat`) "
      "over the run divided by the requests served. **ratio = reference µs ÷ shop µs** "
      "(1.00: the shop costs what the hand-written server costs; 0.50: twice as much). "
      "Medians over the rounds; per-round ratios pair runs made back to back.")
    w("")
    w("| shape | server | req/s | p50 µs | p99 µs | CPU µs/req | ratio ref÷shop (CPU) | shop÷ref req/s | per-round CPU ratio | load |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for shape, out in summary.items():
        if shape == "export":
            continue
        for s in servers:
            r = out["servers"].get(s)
            if not r:
                continue
            ratio = out["ratios"].get(s)
            err = f" ({r['errors']} errors)" if r["errors"] else ""
            w(f"| {shape} | {s} | {r['rps']:,.0f}{err} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | "
              f"{r['cpu_us_per_req']:.1f} | "
              + (f"**{ratio['cpu_ref_over_shop']:.2f}** | {ratio['rps_shop_over_ref']:.2f} | "
                 + " ".join(f"{x:.2f}" for x in ratio["per_round_cpu_ref_over_shop"])
                 if ratio else " | | ")
              + f" | {r['loadavg_1m']} |")
    if "export" in summary:
        out = summary["export"]
        w("")
        w("Export (`GET /products/export`, NDJSON, read to the end by curl; peak RSS sampled every 20 ms):")
        w("")
        w("| server | rows | rows/s | CPU µs/row | RSS before → peak (KiB) | shop÷ref rows/s |")
        w("|---|---:|---:|---:|---|---:|")
        for s in servers + ["copy-floor"]:
            r = out["servers"].get(s)
            if not r:
                continue
            ratio = out["ratios"].get(s)
            if s == "copy-floor":
                w(f"| `COPY … TO STDOUT` (psql, floor) | {r['rows']:,} | {r['rows_per_s']:,.0f} | | | |")
            else:
                w(f"| {s} | {r['rows']:,} | {r['rows_per_s']:,.0f} | {r['cpu_us_per_row']:.2f} | "
                  f"{r['rss_before_kib']:,} → {r['peak_rss_kib']:,} | "
                  + (f"{ratio['rows_per_s_shop_over_ref']:.2f}" if ratio else "") + " |")
    w("")
    w("Shapes:")
    w("")
    for shape in summary:
        w(f"- `{shape}`: {summary[shape]['description']}")
    w("")
    with open(md_path, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
