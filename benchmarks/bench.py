"""Benchmark losscli against public baselines, side by side, in one run.

Each command runs in a fresh process; wall = time.perf_counter around subprocess.run,
peak RSS = "Maximum resident set size" from /usr/bin/time -v; median of N runs.
  1. latency of `losscli mse 2,3,4,5 4,5,6,7 --format plain` vs the floor (hello_typer.py,
     a hello-world Typer app importing numpy) and the PyTorch one-liner if torch imports;
  2. throughput on 1M and 10M-row CSVs: `losscli mse FILE --format plain` vs awk (and mlr),
     wall and peak RSS as ratios to awk; losscli's value must match awk's to 1e-9 relative;
  3. memory growth: losscli's peak RSS at 10M vs 30M rows (only with --big);
  4. `--format table` vs `--format plain` on the 10M-row file;
  5. LOSSCLI_READER=numpy (with and without worker processes) vs the default reader and awk, on the
     1M and 10M-row files and a 5M-row file of 6-decimal values; labelled by `losscli --version`;
  6. softmax of a 1M x 10 table to `-f csv` vs an awk one-liner (wall, peak RSS); `softmax --dim 0`
     peak RSS at 1M vs 3M rows (3M only with --big); mse over the same numbers as .npy vs CSV;
  7. per-row output of the 1M and 10M-row CSVs (`-r none` plain and csv, `--grad -f csv`) vs awk
     printing the same numbers with printf %.17g; every value of the first 100k rows checked equal.
  8. combine: the 1M-row file as 4 shards, `xargs -P 2` losscli per shard + `losscli combine`,
     vs one losscli run over the whole file (wall ratio; the values must agree to 1e-14 relative).
A command that exits non-zero shows up as "failed: <first stderr line>".
Data is generated once into benchmarks/data/ (numpy, fixed seed) and reused.

Run:  make bench                              # or: .venv/bin/python benchmarks/bench.py
      make bench BENCH_ARGS="--big --write"   # + 30M rows; rewrite RESULTS.md, keeping notes
Flags: --runs N (both counts), --latency-runs N (11), --throughput-runs N (5), --big, --write,
       --only 6|7|8 (one section).
"""
import argparse, datetime, json, os, platform, shlex, shutil, statistics, subprocess, sys, tempfile, time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
LOSSCLI = str(Path(sys.executable).parent / "losscli")  # .venv/bin/losscli under `make bench`
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
MARKER = "<!-- notes -->"
# The awk baseline; printf %.17g instead of print (OFMT %.6g) so values can be compared to 1e-9.
AWK = r'NR>1{d=$1-$2;s+=d*d} END{printf "%.17g\n", s/(NR-1)}'
MLR = "d=$y_hat-$y; @s+=d*d; @n+=1; end{print @s/@n}"
TORCH = ("import torch; print(torch.nn.functional.mse_loss("
         "torch.tensor([2.,3,4,5]), torch.tensor([4.,5,6,7])).item())")
SOFTMAX_AWK = ('{m=$1; for(i=2;i<=NF;i++) if($i>m) m=$i; s=0; for(i=1;i<=NF;i++){e[i]=exp($i-m); s+=e[i]} '
               'for(i=1;i<=NF;i++) printf "%s%.17g", (i>1?",":""), e[i]/s; print ""}')
HELLO = ('"""Latency floor for benchmarks/bench.py: a one-command Typer app that imports numpy."""\n'
         "import typer, numpy  # noqa: E401, F401\n\napp = typer.Typer()\n\n\n@app.command()\n"
         'def hello():\n    print("hello")\n\n\nif __name__ == "__main__":\n    app()\n')


@dataclass
class Result:
    wall: float | None = None  # median seconds
    rss: float | None = None   # median peak RSS, KiB
    out: str = ""              # stdout of the last run
    error: str = ""            # "failed: ..." when the command exited non-zero

    ok = property(lambda self: not self.error)


def first_line(text):
    """First non-blank line (last, for a traceback), minus rich's box drawing and data paths."""
    lines = [l.strip(" \t│┃╭╮╰╯─━") for l in text.splitlines() if l.strip(" \t│┃╭╮╰╯─━")] or [""]
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]  # a traceback's last line says why
    return line.replace(f"{DATA}/", "")[:100]


def sh(cmd, **kw):
    """subprocess.run capturing text; a missing program becomes exit status 127, not an exception."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: {e.strerror}")


def measure(cmd, runs, env=None, latency=False):
    """Median wall and peak RSS over `runs` runs of cmd; a failure stops it and is returned.

    Throughput: every run is under /usr/bin/time -v (its ~10 ms are noise at that scale).
    Latency: one warm-up run under /usr/bin/time gives the RSS; the timed runs are bare.
    """
    env = {**os.environ, **(env or {})}
    walls, rss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "time.txt"
        for i in range(runs + latency):
            wrap = [TIME, "-v", "-o", str(report)] if TIME and (i == 0 or not latency) else []
            t0 = time.perf_counter()
            p = sh(wrap + list(cmd), env=env)
            wall = time.perf_counter() - t0
            if p.returncode != 0:
                why = first_line(p.stderr) or first_line(p.stdout) or f"exit status {p.returncode}"
                return Result(error=f"failed: {why}")
            if not (latency and i == 0):
                walls.append(wall)
            for line in report.read_text().splitlines() if wrap else []:
                if "Maximum resident set size" in line:
                    rss.append(int(line.rsplit(":", 1)[1]))
    return Result(statistics.median(walls), statistics.median(rss) if rss else None, p.stdout.strip())


def hyperfine(cmd, runs):
    """Median seconds from hyperfine (no shell), or an error string."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hf.json"
        p = sh(["hyperfine", "-N", "--warmup", "1", "--runs", str(max(runs, 2)),
                "--export-json", str(out), shlex.join(cmd)])
        if p.returncode != 0:
            return f"failed: {first_line(p.stderr)}"
        return f"{json.loads(out.read_text())['results'][0]['median'] * 1e3:.0f} ms"


def generated(path, write):
    """``path``, written once by ``write(file)`` and reused; an interrupted run never leaves a
    half-written file to be reused (it is written to a .tmp and renamed)."""
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    print(f"generating {path.relative_to(HERE.parent)} ...", file=sys.stderr, flush=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        write(f)
    tmp.replace(path)
    return path


def dataset(rows, seed=0):
    """benchmarks/data/mse_<N>M.csv: ~75% values like 0.1234, the rest full repr floats."""
    def write(f):
        rng = np.random.default_rng(seed)
        f.write("y_hat,y\n")
        for start in range(0, rows, 1_000_000):  # chunked: the 1M file is a prefix of the 10M one
            n = min(1_000_000, rows - start)
            y = rng.random(n)
            y_hat = y + rng.normal(0, 0.1, n)
            short = (rng.random(n) < 0.75).tolist()
            cols = [[f"{x:.4f}" if s else repr(x) for x, s in zip(v.tolist(), short)] for v in (y_hat, y)]
            f.write("\n".join(map(",".join, zip(*cols))) + "\n")

    return generated(DATA / f"mse_{rows // 1_000_000}M.csv", write)


def decimals_dataset(rows, seed=7):
    """benchmarks/data/dec6_<N>M.csv: y ~ U(0, 1), y_hat = y + N(0, 0.1), every value with 6 decimals."""
    def write(f):
        rng = np.random.default_rng(seed)
        y = rng.random(rows)
        f.write("y_hat,y\n")
        np.savetxt(f, np.column_stack([y + rng.normal(0, 0.1, rows), y]), fmt="%.6f", delimiter=",")

    return generated(DATA / f"dec6_{rows // 1_000_000}M.csv", write)


def logits_table(rows, columns=10, seed=1):
    """benchmarks/data/logits_<N>M_<C>.csv: normal logits (sd 3) with 6 decimals, no header."""
    def write(f):
        rng = np.random.default_rng(seed)
        for start in range(0, rows, 1_000_000):
            np.savetxt(f, rng.normal(0, 3, (min(1_000_000, rows - start), columns)), fmt="%.6f", delimiter=",")

    return generated(DATA / f"logits_{rows // 1_000_000}M_{columns}.csv", write)


def npy_of(csv_path, header):
    """The numbers of a CSV as a .npy next to it (what np.save users have instead of the CSV)."""
    path = csv_path.with_suffix(".npy")
    if not path.exists():
        np.save(path, np.loadtxt(csv_path, delimiter=",", skiprows=1 if header else 0))
    return path


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor() or "unknown")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    git = sh(["git", "describe", "--always", "--dirty"], cwd=HERE)
    awk = os.path.basename(os.path.realpath(shutil.which("awk") or "awk"))
    return "\n".join([
        f"- {len(os.sched_getaffinity(0))} CPUs (nproc), {cpu}, {mem / 2**20:.1f} GiB RAM",
        f"- Python {platform.python_version()}, numpy {np.__version__}, {platform.platform()}, awk = {awk}",
        f"- {first_line(version())} at commit {git.stdout.strip() or 'unknown'}",
        f"- {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min) at start"])


def version(env=None):
    p = sh([LOSSCLI, "--version"], env={**os.environ, **(env or {})})
    return p.stdout if p.returncode == 0 else f"failed: {first_line(p.stderr)}"


def label(text):
    return (text.splitlines()[1:2] or ["(no reader line in --version)"])[0].strip()


def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(str(c).replace("|", r"\|") for c in r) + " |" for r in rows])


def wall(r):
    return r.error or (f"{r.wall * 1e3:.0f} ms" if r.wall < 1 else f"{r.wall:.2f} s")


def mb(r):
    return f"{r.rss / 1024:.0f} MB" if r.ok and r.rss else "n/a"


def ratio(a, b, key="wall"):
    x, y = getattr(a, key), getattr(b, key)
    return f"{x / y:.2f}×" if a.ok and b.ok and x and y else "n/a"


def agreement(ours, ref):
    try:
        a, b = float(ours.out.split()[0]), float(ref.out.split()[0])
    except (IndexError, ValueError):
        return f"n/a (losscli: {ours.error or ours.out[:40]!r})"
    rel = abs(a - b) / abs(b) if b else abs(a)
    return f"losscli {a!r}, awk {b!r}, rel. diff {rel:.1e} → {'agree' if rel <= 1e-9 else 'DISAGREE'}"


def softmax_section(args, tp_n, emit):
    """Section 6: softmax 1M x 10 vs awk, --dim 0 peak memory, .npy vs CSV read."""
    logits = logits_table(1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        ours = measure(["sh", "-c", f'exec "$0" softmax "$1" -f csv > {tmp}/ours.csv', LOSSCLI, str(logits)], tp_n)
        awk = measure(["sh", "-c", f"exec awk -F, '{SOFTMAX_AWK}' \"$0\" > {tmp}/awk.csv", str(logits)], tp_n)
        check = sh([sys.executable, "-c", (
            "import sys, numpy as np; o = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1, usecols=5, max_rows=1000);"
            "a = np.loadtxt(sys.argv[2], delimiter=',', max_rows=100).ravel();"
            "print(f'{np.max(np.abs(o - a) / a):.1e}')"), f"{tmp}/ours.csv", f"{tmp}/awk.csv"])
    rows = [["losscli softmax FILE -f csv", wall(ours), mb(ours), ratio(ours, awk), ratio(ours, awk, "rss")],
            ["awk one-liner", wall(awk), mb(awk), "1.00×", "1.00×"]]
    dim0 = {"1M": measure([LOSSCLI, "softmax", str(logits_table(1_000_000, 3)), "--dim", "0", "-f", "plain"], 1)}
    if args.big:
        dim0["3M"] = measure([LOSSCLI, "softmax", str(logits_table(3_000_000, 3)), "--dim", "0", "-f", "plain"], 1)
    dim_rows = [[size, wall(r), mb(r), ratio(r, dim0["1M"], "rss")] for size, r in dim0.items()]
    mse_csv = dataset(1_000_000)
    mse_npy = npy_of(mse_csv, header=True)
    read = {kind: measure([LOSSCLI, "mse", str(path), "--format", "plain"], tp_n) for kind, path in (("CSV", mse_csv), (".npy", mse_npy))}
    same = "agree" if read["CSV"].out == read[".npy"].out else f"DIFFER: {read['CSV'].out} vs {read['.npy'].out}"
    emit("## 6. Softmax over big tables; binary input\n\n"
         "Row-wise softmax of a 1M × 10 table (6-decimal logits), output to a file; losscli writes one csv line per "
         "element (row, col, x, e^x, Σ, softmax: 10M lines), awk one line of 10 probabilities per row.\n\n"
         + table(["command", "wall", "peak RSS", "wall vs awk", "RSS vs awk"], rows)
         + f"\n\nmax relative difference of the first 1000 probabilities, losscli vs awk: {check.stdout.strip() or check.stderr[:80]}"
         + "\n\n`softmax --dim 0 -f plain` over N × 3 (the file is read three times: maxima, sums, output):\n\n"
         + table(["rows", "wall", "peak RSS", "RSS vs 1M"], dim_rows)
         + ("" if args.big else "\n\n3M rows: run with `--big`.")
         + "\n\n`mse FILE --format plain` over the 1M-row numbers as CSV and as .npy (np.save):\n\n"
         + table(["input", "wall", "peak RSS", "vs CSV"], [[k, wall(r), mb(r), ratio(r, read["CSV"])] for k, r in read.items()])
         + f"\n\nValues: {same}.")


# Per-row output: awk prints what losscli prints, each float with printf %.17g (exact, as repr
# is); the mean's gradient divides by the row count, handed to awk (-v n=) so it reads once.
ROW_OUTPUT = [
    ("mse FILE -r none -f plain", ["-r", "none", "-f", "plain"],
     'NR>1{d=$1-$2; printf "%.17g\\n", d*d}'),
    ("mse FILE -r none -f csv", ["-r", "none", "-f", "csv"],
     'NR==1{print "row,pred,target,diff,sq_diff"} NR>1{d=$1-$2; printf "%d,%.17g,%.17g,%.17g,%.17g\\n", NR-1, $1, $2, d, d*d}'),
    ("mse FILE --grad -f csv", ["--grad", "-f", "csv"],
     'NR==1{print "row,pred,target,diff,sq_diff,grad"} NR>1{d=$1-$2; s+=d*d; '
     'printf "%d,%.17g,%.17g,%.17g,%.17g,%.17g\\n", NR-1, $1, $2, d, d*d, 2*d/n} END{printf "mean,,,,%.17g,\\n", s/n}'),
]


def same_values(ours: str, theirs: str, lines: int = 100_001) -> str:
    """Whether two outputs hold the same numbers (as floats, exactly) in their first ``lines``
    lines and their last line (the mean's row)."""
    def cells(path):
        with open(path, "rb") as f:
            head = [line for _, line in zip(range(lines), f)]
            f.seek(max(0, f.seek(0, 2) - 200))
            last = f.read().splitlines()[-1:]
        return [line.decode().rstrip("\n").split("," if b"," in line else "\t") for line in head + last]

    a, b = cells(ours), cells(theirs)
    if len(a) != len(b):
        return f"DIFFER: {len(a)} vs {len(b)} lines"
    note = ""
    for i, (x, y) in enumerate(zip(a, b)):
        for u, v in zip(x, y):
            if u == v or float(u) == float(v):
                continue
            if x[0] == "mean":  # a sum over all rows: awk adds in row order, losscli in fixed chunks
                rel = abs(float(u) - float(v)) / abs(float(v))
                note = f"; the mean's row {u} vs awk {v}, rel. diff {rel:.1e} → {'agree' if rel <= 1e-9 else 'DISAGREE'}"
                continue
            return f"DIFFER at line {i + 1}: {u} vs {v}"
    return f"equal ({len(a) - 1:,} lines and the last){note}"


def row_output_section(tp_n, emit):
    """Section 7: per-row output vs awk printing the same numbers, stdout to a file; with the
    default reader and with LOSSCLI_READER=numpy (what an install without the fast extra does)."""
    rows, checks = [], []
    installs = {"default": {}, "LOSSCLI_READER=numpy": {"LOSSCLI_READER": "numpy"}}
    with tempfile.TemporaryDirectory() as tmp:
        for size, n in (("1M", 1_000_000), ("10M", 10_000_000)):
            path = dataset(n)
            for name, options, program in ROW_OUTPUT:
                awk = measure(["sh", "-c", f'exec awk -F, -v n={n} "$1" "$0" > {tmp}/awk', str(path), program], tp_n)
                for install, env in installs.items():
                    ours = measure(["sh", "-c", f'exec "$0" mse "$@" > {tmp}/ours', LOSSCLI, str(path), *options], tp_n, env=env)
                    rows.append([size, name, install, wall(ours), wall(awk), ratio(ours, awk), mb(ours)])
                    if size == "1M":
                        checks.append(f"- {name} ({install}): {same_values(f'{tmp}/ours', f'{tmp}/awk')}")
    emit("## 7. Per-row output vs awk\n\n"
         "`losscli mse FILE ...` with stdout to a file, against awk printing the same numbers with `printf "
         "%.17g` (exact like losscli's shortest round-trip text, but longer), the row count given to awk for "
         "the mean's gradient.\n\n"
         + table(["rows", "command", "reader", "losscli", "awk", "losscli vs awk", "losscli peak RSS"], rows)
         + "\n\nValues of the first 100k lines and the last at 1M rows, losscli vs awk (as floats, exactly):\n" + "\n".join(checks))


def shards_of(csv_path, count):
    """The rows of a CSV with a header as ``count`` headerless shards, as `split -n l/4` cuts them."""
    folder = csv_path.with_name(csv_path.stem + f"_shards{count}")
    if folder.exists():
        return sorted(folder.iterdir())
    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(exist_ok=True)
    lines = csv_path.read_text().splitlines(keepends=True)[1:]
    size = -(-len(lines) // count)
    for i in range(count):
        (tmp / f"shard-{i}.csv").write_text("".join(lines[i * size : (i + 1) * size]))
    tmp.replace(folder)
    return sorted(folder.iterdir())


def combine_section(tp_n, emit):
    """Section 8: shards through xargs -P 2 and `losscli combine` vs one run over the whole file."""
    whole = dataset(1_000_000)
    shards = shards_of(whole, 4)
    one = measure([LOSSCLI, "mse", str(whole), "--format", "plain"], tp_n)
    script = ('printf "%s\\n" "$@" | xargs -P 2 -n 1 "$0" mse --no-header --pred 1 --target 2 -q -f partial'
              ' | "$0" combine -f plain')
    joined = measure(["sh", "-c", script, LOSSCLI, *map(str, shards)], tp_n)
    parts = sh(["sh", "-c", script.replace(' | "$0" combine -f plain', ""), LOSSCLI, *map(str, shards)]).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        f.write(parts)
        f.flush()
        alone = measure([LOSSCLI, "combine", f.name, "-f", "plain"], tp_n, latency=True)
    try:
        a, b = float(joined.out), float(one.out)
        check = f"combined {a!r}, whole {b!r}, rel. diff {abs(a - b) / abs(b):.1e} → {'agree' if abs(a - b) <= 1e-14 * abs(b) else 'DISAGREE'}"
    except ValueError:
        check = f"n/a ({joined.error or joined.out[:40]!r})"
    emit("## 8. Shards and combine\n\n"
         "The 1M-row file as 4 headerless shards; each through `losscli mse -f partial` with `xargs -P 2`, the "
         "partials through `losscli combine`, against one `losscli mse FILE -f plain`; and `combine` alone on the "
         "4 partials.\n\n"
         + table(["command", "wall", "peak RSS", "vs one run"],
                 [["losscli mse FILE -f plain (one run)", wall(one), mb(one), "1.00×"],
                  ["xargs -P 2 losscli mse SHARD -f partial × 4 | losscli combine", wall(joined), mb(joined), ratio(joined, one)],
                  ["losscli combine PARTS (4 partials)", wall(alone), mb(alone), ratio(alone, one)]])
         + f"\n\nValue check: {check}.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, help="runs per command for every section (overrides the two below)")
    ap.add_argument("--latency-runs", type=int, default=11)
    ap.add_argument("--throughput-runs", type=int, default=5)
    ap.add_argument("--big", action="store_true", help="also generate and run 30M rows (memory growth)")
    ap.add_argument("--write", action="store_true", help="rewrite benchmarks/RESULTS.md, keeping notes")
    ap.add_argument("--only", choices=["6", "7", "8"], help="run only section 6 (softmax, binary input), 7 (per-row output) or 8 (shards and combine)")
    args = ap.parse_args()
    lat_n = args.runs or args.latency_runs
    tp_n = args.runs or args.throughput_runs
    parts = []

    def emit(text):
        parts.append(text)
        print(text + "\n", flush=True)

    emit("# losscli benchmarks\n\n" + machine() + f"\n\nMedian of {lat_n} runs (latency) and {tp_n} "
         "(throughput); wall = perf_counter around subprocess.run; peak RSS from `/usr/bin/time -v` "
         "(throughput runs under it; latency: from a warm-up run under it, timed runs bare).")

    if args.only:
        {"6": lambda: softmax_section(args, tp_n, emit), "7": lambda: row_output_section(tp_n, emit),
         "8": lambda: combine_section(tp_n, emit)}[args.only]()
        return

    # 1. latency
    hello = HERE / "hello_typer.py"
    if not hello.exists() or hello.read_text() != HELLO:
        hello.write_text(HELLO)
    FLOOR, TORCH_ = "floor: hello Typer + numpy", "PyTorch one-liner"
    OURS = "losscli mse 2,3,4,5 4,5,6,7 --format plain"
    # torch is no dependency of losscli: BENCH_TORCH_PYTHON may name an interpreter that has it.
    torch_python = os.environ.get("BENCH_TORCH_PYTHON") or (sys.executable if find_spec("torch") else None)
    cmds = {FLOOR: [sys.executable, str(hello)], TORCH_: [torch_python or "", "-c", TORCH],
            OURS: [LOSSCLI, "mse", "2,3,4,5", "4,5,6,7", "--format", "plain"]}
    res = {k: measure(c, lat_n, latency=True) for k, c in cmds.items() if k != TORCH_ or torch_python}
    torch = res.setdefault(TORCH_, Result(error="skipped: no torch (set BENCH_TORCH_PYTHON to a python that has it)"))
    floor, ours = res[FLOOR], res[OURS]
    hf = shutil.which("hyperfine") is not None
    rows = [[k, wall(r), mb(r), ratio(r, floor), r.out[:20]]
            + ([hyperfine(cmds[k], lat_n) if r.ok else ""] if hf else []) for k, r in res.items()]
    emit("## 1. Latency (inline input)\n\n" + table(
        ["command", "wall", "peak RSS", "vs floor", "output"] + (["hyperfine median"] if hf else []), rows)
        + f"\n\nlosscli / floor = **{ratio(ours, floor)}**; torch / losscli = **{ratio(torch, ours)}**"
        + ("" if torch.ok else f" ({torch.error})"))

    # 2. throughput
    tools = {"losscli": lambda f: [LOSSCLI, "mse", str(f), "--format", "plain"],
             "awk": lambda f: ["awk", "-F,", AWK, str(f)]}
    if shutil.which("mlr"):
        tools["mlr"] = lambda f: ["mlr", "--icsv", "put", "-q", MLR, str(f)]
    sizes = {"1M": 1_000_000, "10M": 10_000_000} | ({"30M": 30_000_000} if args.big else {})
    files = {k: dataset(n) for k, n in sizes.items()}
    tp, rows, checks = {}, [], []
    for size in ("1M", "10M"):
        tp[size] = {name: measure(cmd(files[size]), tp_n) for name, cmd in tools.items()}
        awk = tp[size]["awk"]
        rows += [[size, name, wall(r), mb(r), ratio(r, awk), ratio(r, awk, "rss"), r.out[:24]]
                 for name, r in tp[size].items()]
        checks.append(f"- {size}: {agreement(tp[size]['losscli'], awk)}")
    missing = [t for t in ("mlr", "datamash", "hyperfine") if not shutil.which(t)]
    emit("## 2. Throughput: mean((y_hat-y)²) over a CSV file\n\n" + table(
        ["rows", "tool", "wall", "peak RSS", "wall vs awk", "RSS vs awk", "printed"], rows)
        + "\n\nValue check (1e-9 relative):\n" + "\n".join(checks)
        + f"\n\nawk program: `{AWK}`. datamash has no per-row arithmetic, so it has no one-command"
        " equivalent and is not measured." + (f" Not installed: {', '.join(missing)}." if missing else ""))

    # 3. memory growth
    if args.big:
        big = {name: measure(cmd(files["30M"]), tp_n) for name, cmd in tools.items()}
        rows = [[name, mb(ten), mb(r), ratio(r, ten, "rss"), wall(r),
                 f"{(r.rss - ten.rss) * 1024 / 20e6:.1f}" if r.rss and ten.rss else "n/a"]
                for name, r in big.items() for ten in [tp["10M"][name]]]
        emit("## 3. Memory growth: 10M → 30M rows\n\n" + table(
            ["tool", "peak RSS 10M", "peak RSS 30M", "30M / 10M", "wall 30M", "extra bytes per row"], rows)
            + "\n\nA reader that holds only the parsed floats needs ~16 bytes per row (two float64).")
    else:
        emit("## 3. Memory growth: 10M → 30M rows\n\nSkipped: run with `--big`.")

    # 4. table vs plain
    plain = tp["10M"]["losscli"]
    tab = measure([LOSSCLI, "mse", str(files["10M"]), "--format", "table"], tp_n)
    emit("## 4. Table view of the 10M-row file\n\n" + table(
        ["format", "wall", "peak RSS", "vs plain"],
        [[fmt, wall(r), mb(r), ratio(r, plain)] for fmt, r in (("plain", plain), ("table", tab))]))

    # 5. reader selection
    default, numpy_ = label(version()), label(version({"LOSSCLI_READER": "numpy"}))
    readers_ = {f"default: {default}": {}, f"LOSSCLI_READER=numpy: {numpy_}": {"LOSSCLI_READER": "numpy"},
                "the same, LOSSCLI_WORKERS=0 (no worker processes)": {"LOSSCLI_READER": "numpy", "LOSSCLI_WORKERS": "0"}}
    rows = []
    for size, path in (("1M", files["1M"]), ("10M", files["10M"]), ("5M, 6 decimals", decimals_dataset(5_000_000))):
        awk = tp[size]["awk"] if size in tp else measure(tools["awk"](path), tp_n)
        first = None
        for name, env in readers_.items():
            r = tp[size]["losscli"] if size in tp and not env else measure(tools["losscli"](path), tp_n, env=env)
            first = first or r
            rows.append([size, name, wall(r), mb(r), ratio(r, first), ratio(r, awk), r.out[:24]])
        rows.append([size, "awk", wall(awk), mb(awk), ratio(awk, first), "1.00×", awk.out[:24]])
    emit("## 5. Reader selection (LOSSCLI_READER)\n\n" + table(
        ["rows", "reader", "wall", "peak RSS", "vs default", "vs awk", "printed"], rows)
        + "\n\nPeak RSS is the largest single process's (`/usr/bin/time`): the numpy reader's two worker "
          "processes are forks of the main one, most of their pages shared."
        + ("\n\n`losscli --version` reports the same reader either way, so the variable may be unsupported."
           if default == numpy_ else ""))

    # 6. softmax over big tables, binary input
    softmax_section(args, tp_n, emit)

    # 7. per-row output
    row_output_section(tp_n, emit)

    # 8. shards and combine
    combine_section(tp_n, emit)

    if args.write:
        out = HERE / "RESULTS.md"
        old = out.read_text() if out.exists() else ""
        notes = old[old.index(MARKER):] if MARKER in old else MARKER + "\n"
        out.write_text("\n\n".join(parts) + "\n\n" + notes)
        print(f"wrote {out.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
