"""The summary of a benches/failover.sh run: reads its raw files in OUT_DIR,
prints markdown and writes OUT_DIR/results.json.

    python3 benches/failover-report.py OUT_DIR
"""

import json
import os
import statistics
import sys

out = sys.argv[1]
results = {}


def path(name):
    return os.path.join(out, name)


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec=",.0f"):
    return "-" if x is None else format(x, spec)


def failover():
    """Failover time per kill: to the first acknowledgement by another node."""
    if not os.path.exists(path("failover-kills.txt")):
        return
    events = [json.loads(line) for line in open(path("failover-events.jsonl")) if line.strip()]
    switches = [e for e in events if e["event"] == "switch"]
    summary = next((e for e in events if e["event"] == "summary"), None)
    rounds = []
    for line in open(path("failover-kills.txt")):
        n, killed_port, kill_ns, new_port, elected_ns = line.split()
        kill_ns, elected_ns = int(kill_ns), int(elected_ns)
        first = next((e for e in switches
                      if int(e["at_unix_ns"]) > kill_ns and not e["by"].endswith(":" + killed_port)),
                     None)
        rounds.append({
            "round": int(n),
            "failover_ms": None if first is None else round((int(first["at_unix_ns"]) - kill_ns) / 1e6, 1),
            "client_gap_ms": None if first is None else first["gap_ms"],
            "role_shows_new_leader_ms": round((elected_ns - kill_ns) / 1e6, 1),
            "failures": None if first is None else first["failures"],
        })
    times = [r["failover_ms"] for r in rounds if r["failover_ms"] is not None]
    missing = len(rounds) - len(times)
    # Acknowledgements that came after failures without a kill before them:
    # hiccups (e.g. when a restarted node rejoins).
    resumes = [e for e in events if e["event"] == "resume"]
    results["failover"] = {
        "rounds": rounds,
        "median_ms": med(times),
        "max_ms": max(times) if times else None,
        "never_recovered": missing,
        "client": summary,
        "resumes_without_switch": len(resumes),
    }
    print(f"## Failover ({len(rounds)} kill -9 of the leader)\n")
    print("| round | kill → first ack on new leader ms | client's gap between acks ms | "
          "ROLE shows the new leader ms | failures seen before it |")
    print("|---:|---:|---:|---:|---|")
    for r in rounds:
        f = r["failures"] or {}
        seen = ", ".join(f"{k} {v}" for k, v in f.items() if k != "messages" and v)
        print(f"| {r['round']} | {fmt(r['failover_ms'], ',.1f')} | {fmt(r['client_gap_ms'], ',.1f')} | "
              f"{fmt(r['role_shows_new_leader_ms'], ',.1f')} | {seen} |")
    verdict = "met" if times and med(times) <= 2000 and not missing else "**not met**"
    print(f"\nmedian {fmt(med(times), ',.1f')} ms, max {fmt(max(times) if times else None, ',.1f')} ms "
          f"(target: median ≤ 2 s: {verdict}); {missing} kills never followed by an ack")
    if summary:
        print(f"client: {summary['acked']:,} writes acknowledged ({summary['acked_per_sec']:,.0f}/s), "
              f"{summary['abandoned']} abandoned, longest write {summary['longest_write_ms']:,.1f} ms; "
              f"{len(resumes)} recoveries from failures without a change of leader")
    for e in resumes:
        print(f"  - resume at {e['at_unix_ns']} by {e['by']} after {e['gap_ms']} ms: "
              f"{json.dumps(e['failures'])}")
    messages = sorted({m for r in rounds for m in (r["failures"] or {}).get("messages", [])})
    if messages:
        print("errors seen:", *(f"  - {m}" for m in messages[:12]), sep="\n")
    print()


def throughput():
    if not os.path.exists(path("throughput.jsonl")):
        return
    runs = {}
    failed = 0
    for line in open(path("throughput.jsonl")):
        r = json.loads(line)
        if r["run"] is None:
            failed += 1
            continue
        key = (r["workload"], r["pipeline"], r["system"])
        entry = runs.setdefault(key, {"ops": [], "p99": [], "cpu": [], "other": []})
        run = r["run"]
        entry["ops"].append(run["ops_per_sec"])
        entry["p99"].append(run["p99_us"])
        if run.get("server_cpu_us_per_op") is not None:
            entry["cpu"].append(run["server_cpu_us_per_op"])
        if run.get("other_cpu_us_per_op") is not None:
            entry["other"].append(run["other_cpu_us_per_op"])
    table = []
    print("## Throughput (sessiond-bench, medians)\n")
    print("| workload | P | system | ops/s | rounds | p99 µs | server CPU µs/op | "
          "followers/replica CPU µs/op | vs single | vs redis+WAIT |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|")
    for (workload, pipeline, system), e in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], ["group", "single", "redis"].index(kv[0][2]))):
        ops = med(e["ops"])
        single = runs.get((workload, pipeline, "single"))
        redis = runs.get((workload, pipeline, "redis"))
        vs_single = ops / med(single["ops"]) if single and system != "single" else None
        vs_redis = ops / med(redis["ops"]) if redis and system != "redis" else None
        row = {"workload": workload, "pipeline": pipeline, "system": system, "ops_per_sec": ops,
               "rounds": e["ops"], "p99_us": med(e["p99"]), "server_cpu_us_per_op": med(e["cpu"]),
               "other_cpu_us_per_op": med(e["other"]), "vs_single": vs_single, "vs_redis_wait": vs_redis}
        table.append(row)
        print(f"| {workload} | {pipeline} | {system} | {ops:,.0f} | "
              f"{', '.join(f'{x:,.0f}' for x in e['ops'])} | {fmt(med(e['p99']))} | "
              f"{fmt(med(e['cpu']), '.1f')} | {fmt(med(e['other']), '.1f')} | "
              f"{fmt(vs_single, '.2f')}{'x' if vs_single else ''} | {fmt(vs_redis, '.2f')}{'x' if vs_redis else ''} |")
    results["throughput"] = table
    print(f"\n{failed} runs failed" if failed else "")
    print("Targets: group reads (get) ≥ 0.9x single node; group writes (set, session-mix) ≥ 1x Redis with WAIT.")
    for row in table:
        if row["system"] != "group":
            continue
        if row["workload"] == "get" and row["vs_single"] is not None:
            ok = "met" if row["vs_single"] >= 0.9 else "**not met**"
            print(f"- get P{row['pipeline']}: group/single {row['vs_single']:.2f}x: {ok}")
        if row["workload"] in ("set", "session-mix") and row["vs_redis_wait"] is not None:
            ok = "met" if row["vs_redis_wait"] >= 1 else "**not met**"
            print(f"- {row['workload']} P{row['pipeline']}: group/redis+WAIT {row['vs_redis_wait']:.2f}x: {ok}")
    print()


def redis_benchmark():
    if not os.path.exists(path("redis-benchmark.txt")):
        return
    runs = {}
    for line in open(path("redis-benchmark.txt")):
        _, system, case, rate, cpu, other = line.split()
        entry = runs.setdefault((case, system), {"rate": [], "cpu": [], "other": []})
        entry["rate"].append(float(rate))
        entry["cpu"].append(float(cpu))
        entry["other"].append(float(other))
    print("## redis-benchmark on the RESP listener (medians)\n")
    print("| test | system | requests/s | rounds | server CPU µs/req | followers CPU µs/req | group/single |")
    print("|---|---|---:|---|---:|---:|---:|")
    table = []
    for (case, system), e in sorted(runs.items()):
        single = runs.get((case, "single"))
        ratio = med(e["rate"]) / med(single["rate"]) if single and system == "group" and med(single["rate"]) else None
        table.append({"test": case, "system": system, "requests_per_sec": med(e["rate"]),
                      "rounds": e["rate"], "server_cpu_us": med(e["cpu"]),
                      "followers_cpu_us": med(e["other"]), "group_vs_single": ratio})
        print(f"| {case} | {system} | {med(e['rate']):,.0f} | {', '.join(f'{x:,.0f}' for x in e['rate'])} | "
              f"{med(e['cpu']):.1f} | {med(e['other']):.1f} | {fmt(ratio, '.2f')}{'x' if ratio else ''} |")
    results["redis_benchmark"] = table
    print()


def fault_tests():
    if not os.path.exists(path("fault-tests.txt")):
        return
    status, ms = open(path("fault-tests.txt")).read().split()
    results["fault_tests"] = {"status": status, "seconds": int(ms) / 1000}
    print("## Fault tests (SESSIOND_FAULT_ROUNDS=20)\n")
    print(f"{status}, {int(ms) / 1000:.1f} s (log: {path('fault-tests.log')})\n")


failover()
throughput()
redis_benchmark()
fault_tests()
with open(path("results.json"), "w") as f:
    json.dump(results, f, indent=1)
