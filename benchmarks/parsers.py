"""Benchmark CSV readers for losscli: wall time, peak RSS, exactness vs float().

    python benchmarks/parsers.py --rows 10000000 [--runs 3]

Each reader runs in a fresh subprocess under /usr/bin/time -v and computes
mean((a-b)**2) over a generated two-column CSV.  Optional readers (pandas,
pyarrow, polars) are skipped when not importable.
"""
from __future__ import annotations

import argparse, concurrent.futures as cf, importlib.metadata as md, importlib.util, io
import itertools, multiprocessing as mp, os, re, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np

CHUNK = 16 << 20  # bytes per chunk for the byte-range readers
warnings.filterwarnings("ignore", "loadtxt: input contained no data")
warnings.filterwarnings("ignore", "string or file could not be read to its end")  # checked by count
warnings.filterwarnings("ignore", ".*float_precision.*")  # deprecated in pandas 3


# ---------------------------------------------------------------- chunking
def byte_ranges(path, chunk=CHUNK):
    """(start, end) offsets of newline-aligned chunks, header skipped."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        start = len(f.readline())
        while start < size:
            f.seek(min(start + chunk, size))
            end = f.tell() + len(f.readline())  # extend to end of line
            yield start, end
            start = end


def read_range(path, rng):
    with open(path, "rb") as f:
        f.seek(rng[0])
        return f.read(rng[1] - rng[0])


def parse_fromstring(buf: bytes, ncols=2):
    if not buf.endswith(b"\n"):
        buf += b"\n"
    arr = np.fromstring(buf.replace(b"\n", b","), sep=",")  # bad data: warns + truncates
    expected = buf.count(b"\n") * ncols
    if arr.size != expected:
        raise ValueError(f"parsed {arr.size} values, expected {expected}")
    return arr.reshape(-1, ncols)


def parse_loadtxt(buf: bytes, ncols=2):
    return np.loadtxt(io.StringIO(buf.decode()), delimiter=",", ndmin=2)


def _work(args):  # process-pool task
    parse, path, rng = args
    return parse(read_range(path, rng))


# ---------------------------------------------------------------- readers: path -> iterator of (n, 2) arrays
def r_loadtxt(path):
    with open(path) as f:
        f.readline()
        while (a := np.loadtxt(itertools.islice(f, 1_000_000), delimiter=",", ndmin=2)).size:
            yield a


def r_loadtxt_maxrows(path):  # max_rows over an open file, as the numpy docs suggest
    with open(path) as f:
        f.readline()
        while (a := np.loadtxt(f, delimiter=",", max_rows=1_000_000, ndmin=2)).size:
            yield a


def _serial(parse):
    return lambda path: (parse(read_range(path, r)) for r in byte_ranges(path))


def _threads(parse, workers=2):
    def gen(path):
        with cf.ThreadPoolExecutor(workers) as ex:
            pending = []
            for r in byte_ranges(path):
                pending.append(ex.submit(parse, read_range(path, r)))
                if len(pending) > workers:
                    yield pending.pop(0).result()
            for fut in pending:
                yield fut.result()
    return gen


def _procs(parse, workers=2):
    def gen(path):
        with mp.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(_work, ((parse, path, r) for r in byte_ranges(path)))
    return gen


def r_pandas(path, fp=None):
    import pandas as pd
    for df in pd.read_csv(path, chunksize=1_000_000, engine="c", dtype="float64", float_precision=fp):
        yield df.to_numpy()


def r_pyarrow(path):
    import pyarrow as pa, pyarrow.csv as pc
    rd = pc.open_csv(path, read_options=pc.ReadOptions(block_size=CHUNK),
                     convert_options=pc.ConvertOptions(column_types={"y_hat": pa.float64(), "y": pa.float64()}))
    for b in rd:
        yield np.column_stack([c.to_numpy(zero_copy_only=False) for c in b.columns])


def r_polars(path):
    import polars as pl
    lf = pl.scan_csv(path, schema={"y_hat": pl.Float64, "y": pl.Float64})
    for df in lf.collect_batches(chunk_size=1_000_000):
        yield df.to_numpy()


READERS = {
    "numpy loadtxt islice 1M rows": r_loadtxt,
    "numpy loadtxt max_rows=1M": r_loadtxt_maxrows,
    "numpy fromstring 16MB": _serial(parse_fromstring),
    "numpy fromstring 2 threads": _threads(parse_fromstring),
    "numpy fromstring 2 procs": _procs(parse_fromstring),
    "numpy loadtxt 2 threads": _threads(parse_loadtxt),
    "numpy loadtxt 2 procs": _procs(parse_loadtxt),
    "pandas c chunks (high)": r_pandas,
    "pandas c chunks (round_trip)": lambda p: r_pandas(p, "round_trip"),
    "pyarrow open_csv 16MB": r_pyarrow,
    "polars collect_batches": r_polars,
}
NEEDS = {"pandas": "pandas", "pyarrow": "pyarrow", "polars": "polars"}
DIST = {"numpy": ["numpy"], "pandas": ["pandas", "python-dateutil", "six"], "pyarrow": ["pyarrow"],
        "polars": ["polars", "polars-runtime-32"]}


def mse(chunks):
    s, n = 0.0, 0
    for a in chunks:
        d = a[:, 0] - a[:, 1]
        s, n = s + float(d @ d), n + len(d)
    return s / n, n


# ---------------------------------------------------------------- data
def generate(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write("y_hat,y\n")
        for i in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - i)
            y = rng.random(n)
            yh = y + rng.normal(0, 0.1, n)
            short = rng.random(n) < 0.75  # 75% short decimals like 0.1234, rest full repr
            y, yh = np.where(short, y.round(4), y), np.where(short, yh.round(4), yh)
            f.write("\n".join(map(",".join, zip(map(repr, yh.tolist()), map(repr, y.tolist())))) + "\n")


HARD = ["2.2250738585072011e-308", "9007199254740993", "0.1000000000000000055511151231257827",
        "2.2250738585072012e-308", "4.9406564584124654e-324", "1.7976931348623157e308",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999999999999999999999999999999999999999999999999999999999999999999999",
        "0.500000000000000166533453693773481063544750213623046875", "3.518437208883201171875e13",
        "62.5364939768271845828", "8.10109172351e-10", "1.00000005960464477550",
        "123456789012345678901234567890e-30", "7.038531e-26"]
EDGE = {"1e-5": "1e-5,1", "-0": "-0,1", "nan": "nan,1", "inf": "inf,1", "' 1.5 '": " 1.5 ,1",
        '"1.5"': '"1.5",1', "CRLF": "1.5,1\r", "empty field": ",1"}


def exactness_values(n=1_000_000, seed=1):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**63, n, dtype=np.uint64)  # random finite positive doubles...
    vals = [repr(x) for x in bits.view(np.float64).tolist() if np.isfinite(x)]
    vals = [("-" if i % 2 else "") + v for i, v in enumerate(vals)]
    # ...plus long decimals (20-25 significant digits), the usual weak spot of fast parsers
    digits = rng.integers(0, 10, (n // 5, 25)).astype("U1")
    vals += [f"0.{''.join(d[:20 + i % 6])}e{i % 40 - 20}" for i, d in enumerate(digits)]
    return vals + HARD


def check_exact(reader, path, strs):
    try:
        got = np.concatenate(list(reader(path))).ravel()
    except Exception as e:
        return f"error: {type(e).__name__}"
    want = np.array([float(s) for s in strs])
    if got.size != want.size:
        return f"wrong count {got.size}"
    bad = np.flatnonzero(got.view(np.uint64) != want.view(np.uint64))
    hard = sum(i >= len(strs) - len(HARD) for i in bad)
    return "bit-exact" if not bad.size else f"{bad.size} mismatches ({hard} hard)"


def check_edge(reader, tmp):
    out = []
    for line in EDGE.values():
        p = Path(tmp, "edge.csv")
        p.write_bytes(f"y_hat,y\n{line}\n".encode())
        try:
            out.append(repr(float(np.concatenate(list(reader(str(p))))[0, 0])))
        except Exception as e:
            out.append(type(e).__name__)
    return out


# ---------------------------------------------------------------- measurement
def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError(p.stderr[-500:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)[1]) / 1024
    return wall, rss, p.stdout.strip()


def bench(cmd, runs):
    res = [timed(cmd) for _ in range(runs)]
    return statistics.median(r[0] for r in res), statistics.median(r[1] for r in res), res[0][2]


def gil_check(path, parse):
    """time of 2 parses in 2 threads / time of 2 parses sequentially (~0.5 = GIL released)."""
    bufs = [read_range(path, r) for r in itertools.islice(byte_ranges(path), 2)]
    t = time.perf_counter(); [parse(b) for b in bufs]; seq = time.perf_counter() - t
    with cf.ThreadPoolExecutor(2) as ex:
        t = time.perf_counter(); list(ex.map(parse, bufs)); par = time.perf_counter() - t
    return par / seq


def available(name):
    mod = next((m for k, m in NEEDS.items() if name.startswith(k)), None)
    return mod is None or importlib.util.find_spec(mod) is not None


def dist_mb(names):
    total = 0
    for n in names:
        try:
            total += sum((f.locate().stat().st_size for f in md.distribution(n).files or []
                          if f.locate().exists()))
        except md.PackageNotFoundError:
            pass
    return total / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--run", nargs=2, help=argparse.SUPPRESS)  # internal: --run NAME PATH
    a = ap.parse_args()
    if a.run:
        m, n = mse(READERS[a.run[0]](a.run[1]))
        return print(f"{m!r} {n}")
    me = [sys.executable, os.path.abspath(__file__)]
    with tempfile.TemporaryDirectory() as tmp:
        data, exact = os.path.join(tmp, "data.csv"), os.path.join(tmp, "exact.csv")
        generate(data, a.rows)
        strs = exactness_values()
        strs += ["0"] * (len(strs) % 2)
        Path(exact).write_text("y_hat,y\n" + "\n".join(map(",".join, zip(strs[::2], strs[1::2]))) + "\n")
        print(f"data: {a.rows:,} rows, {os.path.getsize(data) / 2**20:.0f} MiB; numpy {np.__version__}; "
              f"{os.cpu_count()} cpus; median of {a.runs}\n")
        awk = "NR>1{d=$1-$2;s+=d*d} END{printf \"%.17g\\n\", s/(NR-1)}"
        rows = []
        for prog in ("mawk", "gawk"):
            if subprocess.run(["which", prog], capture_output=True).returncode == 0:
                rows.append((prog, *bench([prog, "-F,", awk, data], a.runs), "-", ""))
        base = rows[0][1]
        for name, reader in READERS.items():
            if not available(name):
                print(f"skip {name}: not importable"); continue
            wall, rss, out = bench([*me, "--run", name, data], a.runs)
            rows.append((name, wall, rss, out, check_exact(reader, exact, strs), check_edge(reader, tmp)))
        print(f"| reader | wall s | x awk | peak RSS MB | mse (n) | exact vs float() ({len(strs):,} values) |")
        print("|---|---:|---:|---:|---|---|")
        for name, wall, rss, out, ex, _ in rows:
            print(f"| {name} | {wall:.2f} | {wall / base:.2f} | {rss:.0f} | {out} | {ex} |")
        print("\n| reader | " + " | ".join(EDGE) + " |\n" + "|---" * (len(EDGE) + 1) + "|")
        for name, *_, edge in rows:
            if edge:
                print(f"| {name} | " + " | ".join(edge) + " |")
        print("\n| package | import s | installed MB |\n|---|---:|---:|")
        for mod, dists in DIST.items():
            if importlib.util.find_spec(mod):
                t = statistics.median(timed([sys.executable, "-c", f"import {mod}"])[0] for _ in range(a.runs))
                print(f"| {mod} | {t:.3f} | {dist_mb(dists):.0f} |")
        t = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(a.runs))
        print(f"| (python -c pass) | {t:.3f} | - |")
        for label, parse in (("fromstring", parse_fromstring), ("loadtxt", parse_loadtxt)):
            print(f"\nGIL check {label}: 2 threads / sequential = {gil_check(data, parse):.2f} (0.5 = releases GIL)")


if __name__ == "__main__":
    main()
