"""The cost of telling learning platforms about a big apply: events and their webhook fan-out.

    .venv/bin/python bench/hooks.py [--rows 100000]

On a fresh SQLite database: `regtui batch apply` of N creates (which writes one access.granted and one
learner.created event per row, set-based, in the apply's transaction), then, with one endpoint that
wants every event, the fan-out that turns those events into pending deliveries (`regtui hooks
deliver` does it before sending; here only the fan-out is timed, the receiver being out of the
picture). Prints a table: the apply, the fan-out, and the fan-out as a share of the apply (target:
the events and their fan-out add at most 20%).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PY, ROOT, bench_env, generate, make_database, run_child  # noqa: E402


def fan_out_child(env: dict) -> tuple[float, int]:
    """Seconds of endpoints.fan_out() in a child process, and how many deliveries it made."""
    code = (
        "import time\n"
        "from regtui import config\n"
        "from regtui.core import db\n"
        "from regtui.core.services import endpoints\n"
        "db.open_database(config.database_url())\n"
        "t0 = time.perf_counter(); n = endpoints.fan_out(); t = time.perf_counter() - t0\n"
        "print(t, n)\n"
    )
    import subprocess

    out = subprocess.run([PY, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    seconds, n = out.stdout.split()
    return float(seconds), int(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    csv_path, _ = generate(args.rows)
    work = Path(tempfile.mkdtemp(prefix="regtui-bench-hooks-"))
    try:
        home = work / "home"
        url = f"sqlite:///{work / 'bench.db'}"
        pool_id = make_database(url, home, args.rows)
        env = bench_env(url, home)
        regtui = [PY, "-m", "regtui"]
        added = run_child(regtui + ["hooks", "add", "http://10.255.255.1/hook", "--allow-private"], env)
        if added[2]:
            raise SystemExit(f"hooks add failed: {added[3]}")
        apply_s, rss, rc, err = run_child(regtui + ["batch", "apply", str(csv_path), "--pool", str(pool_id), "--yes"], env)
        if rc:
            raise SystemExit(f"apply failed: {err}")
        t0 = time.perf_counter()
        fan_s, deliveries = fan_out_child(env)
        fan_wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.rows:,} creates, SQLite, one endpoint wanting every event\n")
    print("| step | seconds | note |")
    print("| --- | ---: | --- |")
    print(f"| batch apply (writes {2 * args.rows:,} events in its transaction) | {apply_s:.2f} | peak RSS {rss:.0f} MB |")
    print(f"| fan-out to the endpoint ({deliveries:,} deliveries) | {fan_s:.2f} | {fan_wall:.2f} s as a whole process |")
    print(f"| fan-out / apply | {fan_s / apply_s:.0%} | target ≤ 20% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
