"""What the wrk-driven benches share: the tools, the processes they start, and how they count.

A wrk bench (bench_proxy.py, bench_auth.py, bench_http_log.py, bench_proxy_cache.py,
bench_tls.py) loads contenders on 127.0.0.1 with wrk and prints medians, and ratios against a
baseline measured in the same run. It never fails a build: without wrk, nginx or taskset it says
so and exits 0. Each bench keeps only its own decK file, contenders and explanation; this module
holds the rest:

  * ``upstream_and_gateway``: the upstream nginx (``return 200``) pinned to the load core, and
    ``konnect-desktop gateway run`` pinned to the proxy core with the bench's decK file, on free
    ports; both (and any baseline nginx started through the ``Rig``) are stopped on leaving, also
    on error;
  * ``interleaved``: the contenders run round by round, so a change in the machine's load hits
    every contender alike;
  * ``report`` / ``print_ratio``: the medians per contender, then per-round ratios to a baseline
    and their median;
  * the tools underneath: ``wrk`` (one run: wall req/s, p50/p99, requests per CPU-second of the
    process under test), ``find_nginx``, ``free_port``, ``wait_port``, ``cpus``, ``wrk_args``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
if str(ROOT) not in sys.path:
    # in-process parts import this tree's package, as the gateway process does (cwd=ROOT)
    sys.path.insert(0, str(ROOT))

Run = tuple[float, float, float, float, float]
"""One wrk run: wall req/s, p50 ms, p99 ms, requests per CPU-second of the process under test,
and the CPU seconds it used."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def cpus() -> tuple[str, str]:
    """(the proxy's core, the load's core): the first and the last."""
    n = os.cpu_count() or 1
    return "0", str(n - 1)


def _nginx_conf(tmp: Path, name: str, server: str, http: str = "") -> Path:
    """An nginx config in ``tmp`` for one worker, no access log, its files named after ``name``."""
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    fastcgi_temp_path {tmp}/{name}-fcgi;
    uwsgi_temp_path {tmp}/{name}-uwsgi;
    scgi_temp_path {tmp}/{name}-scgi;
{http}    server {{
{server}    }}
}}
""")
    return conf


def upstream_conf(tmp: Path, upstream_port: int, directives: str = "") -> Path:
    """nginx answering ``return 200 "ok"`` (a fast, neutral upstream); ``directives``: more lines
    for its ``http`` block (e.g. ``client_max_body_size 64m;`` for a log server)."""
    http = f"    {directives}\n" if directives else ""
    return _nginx_conf(tmp, "upstream", f"""        listen 127.0.0.1:{upstream_port};
        location / {{ return 200 "ok\\n"; }}
""", http)


def nginx_proxy_conf(tmp: Path, upstream_port: int, port: int,
                     tls: tuple[Path, Path] | None = None) -> Path:
    """nginx as a keep-alive reverse proxy to the upstream (the baseline proxy); with ``tls``
    (certificate, key) it listens for HTTPS."""
    listen = f"        listen 127.0.0.1:{port};\n"
    name = "nginx"
    if tls:
        name = "nginx-tls"
        listen = (f"        listen 127.0.0.1:{port} ssl;\n        ssl_certificate {tls[0]};\n"
                  f"        ssl_certificate_key {tls[1]};\n")
    return _nginx_conf(tmp, name, listen + """        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_pass http://backend;
        }
""", f"    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}\n")


def write_deck(tmp: Path, upstream_port: int, routes: str = "", rest: str = "",
               name: str = "kong.yaml") -> Path:
    """A decK file in ``tmp``: one service ``bench`` on the upstream with the route ``/plain``
    (no plugins: the usual baseline), then ``routes`` (more route items, indented by six
    spaces) and ``rest`` (top-level keys, e.g. ``consumers:``)."""
    p = tmp / name
    p.write_text(f"""
_format_version: "3.0"
services:
  - name: bench
    host: 127.0.0.1
    port: {upstream_port}
    routes:
      - name: plain
        paths: [/plain]
{routes}{rest}""")
    return p


_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children (nginx workers)."""
    if pid is None:
        return 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, cpu: str, duration: int, conns: int, headers: Sequence[str],
        pid: int | None = None, script: str | None = None) -> Run | None:
    """One wrk run on core ``cpu``: (wall req/s, p50 ms, p99 ms, req per CPU-second of ``pid``,
    CPU seconds ``pid`` used); ``script``: a wrk Lua script (e.g. one that varies the request)."""
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    for h in headers:
        cmd += ["-H", h]
    c0 = tree_cpu(pid)
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    cpu_used = tree_cpu(pid) - c0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        print(out)
        return None
    lat = {}
    for pct, val, unit in _LAT.findall(out):
        lat[pct] = float(val) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        print(f"    ({non2xx.group(1)} non-2xx responses)")
    n = re.search(r"(\d+) requests in", out)
    per_core = int(n.group(1)) / cpu_used if n and cpu_used > 0 else 0.0
    return float(m.group(1)), lat.get("50", 0.0), lat.get("99", 0.0), per_core, cpu_used


def summarize(name: str, runs: list[Run], per_core: bool,
              duration: int = 0) -> tuple[float, float, float, float] | None:
    """Print one contender's medians (and its runs); returns (req/s, p50, p99, req/CPU-s)."""
    if not runs:
        print(f"{name:<30} failed")
        return None
    rps = statistics.median(r[0] for r in runs)
    p50 = statistics.median(r[1] for r in runs)
    p99 = statistics.median(r[2] for r in runs)
    pc = statistics.median(r[3] for r in runs)
    pcs = f"{pc:>8.0f} req/CPU-s" if per_core else " " * 17
    print(f"{name:<30} {rps:>8.0f} req/s  {pcs}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
          f"  (runs: {', '.join(f'{r[0]:.0f}' for r in runs)})")
    if per_core:
        # the basis of req/CPU-s: CPU seconds the proxy process (and its children) used per run
        print(f"{'':<30} per-core runs: {', '.join(f'{r[3]:.0f}' for r in runs)};"
              f" proxy CPU s per {duration}s run: {', '.join(f'{r[4]:.2f}' for r in runs)}")
    return rps, p50, p99, pc


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wrk_args(doc: str | None, repeat: int) -> argparse.ArgumentParser:
    """The options every wrk-driven bench takes (--duration, --connections, --repeat)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=repeat)
    return ap


def find_nginx(skipping: str = "the benchmark") -> str | None:
    """nginx's path when nginx, wrk and taskset are all installed (else None, and says which is
    not and that ``skipping`` is skipped)."""
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} not found: skipping {skipping}")
            return None
    return shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True)
class Contender:
    """One thing wrk loads: ``pid`` is the process whose CPU time counts (None: wall figures only)."""

    name: str
    url: str
    headers: Sequence[str] = ()
    pid: int | None = None
    script: str | None = None  # a wrk Lua script (e.g. one that varies the request)


@dataclass
class Rig:
    """The processes of one bench run, as ``upstream_and_gateway`` started them."""

    tmp: Path
    nginx: str
    proxy_cpu: str
    load_cpu: str
    upstream_port: int
    port: int  # the gateway's proxy listener
    db: Path  # the gateway's store (its generated certificate is kept beside it)
    gateway: subprocess.Popen[bytes]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, path: str) -> str:
        """``path`` on the gateway's proxy listener."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start_nginx(self, conf: Path, port: int) -> subprocess.Popen[bytes]:
        """Another nginx (a baseline proxy) on the proxy's core; stopped with the rest."""
        p = subprocess.Popen(["taskset", "-c", self.proxy_cpu, self.nginx, "-c", str(conf), "-p", str(self.tmp)],
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(port)
        return p

    def banner(self, args: argparse.Namespace, proxy: str = "gateway", load: str = "upstream nginx") -> None:
        print(f"{proxy} on cpu {self.proxy_cpu}, {load} + wrk on cpu {self.load_cpu}; wrk -t1 "
              f"-c{args.connections} -d{args.duration}s, {args.repeat} interleaved rounds (medians)")
        from konnect_desktop import native  # the gateway process decides the same way

        print(f"gateway's proxy modules: {native.check()[0]}")


@contextmanager
def upstream_and_gateway(prefix: str, deck: Callable[[Path, int], Path], *gateway_args: str,
                         upstream_directives: str = "") -> Iterator[Rig | None]:
    """Start the upstream nginx on the load core and ``konnect-desktop gateway run`` on the
    proxy core, configured by ``deck(tmp, upstream_port)`` (the decK file it writes) plus
    ``gateway_args``; yield the ``Rig``, or None when a tool is missing or the gateway did not
    start (said on stdout: the bench then exits 0). On leaving, every process is stopped and the
    temporary folder removed, also on error; the tail of the gateway's stderr is printed."""
    nginx = find_nginx()
    if nginx is None:
        yield None
        return
    proxy_cpu, load_cpu = cpus()
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    up_port, gw_port, adm_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    err_path = tmp / "gateway.err"
    try:
        procs.append(subprocess.Popen(
            ["taskset", "-c", load_cpu, nginx, "-c", str(upstream_conf(tmp, up_port, upstream_directives)),
             "-p", str(tmp)], stderr=subprocess.DEVNULL))
        db = tmp / "gw.db"
        env = dict(os.environ, KONNECT_DESKTOP_HOME=str(tmp / "home"))
        with err_path.open("wb") as err:
            gw = subprocess.Popen(
                ["taskset", "-c", proxy_cpu, PY, "-m", "konnect_desktop", "gateway", "run",
                 "--proxy-listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{adm_port}",
                 "--db", str(db), "--config", str(deck(tmp, up_port)),
                 # nobody reads stdout after the ready line: a log written there would fill the
                 # pipe and stall the gateway (nginx runs with access_log off too)
                 "--access-log", "off", *gateway_args],
                # stderr to a file, for the same reason
                stdout=subprocess.PIPE, stderr=err, env=env, cwd=str(ROOT))
        procs.append(gw)
        wait_port(up_port)
        line = gw.stdout.readline().decode() if gw.stdout else ""
        if "ready" not in line:
            print("gateway did not start:", line.strip() or f"(exit status {gw.poll()})")
            yield None
            return
        rig = Rig(tmp, nginx, proxy_cpu, load_cpu, up_port, gw_port, db, gw, procs)
        yield rig
    finally:
        for p in reversed(procs):  # the gateway first: its log queues may still send upstream
            stop(p)
        err_text = err_path.read_text(errors="replace").strip() if err_path.exists() else ""
        if err_text:
            print("gateway stderr (last lines):", *err_text.splitlines()[-10:], sep="\n  ")
        shutil.rmtree(tmp, ignore_errors=True)


def interleaved(contenders: Sequence[Contender], load_cpu: str, duration: int, connections: int,
                repeat: int, warmup: bool = True) -> dict[str, list[Run]]:
    """Each contender's runs: a warm-up of 1 s each (unless ``warmup`` is False), then ``repeat``
    rounds of one run per contender, round by round, so that a change in the machine's load
    hits every contender alike. A run wrk could not make is left out."""
    if warmup:
        for c in contenders:
            wrk(c.url, load_cpu, 1, connections, c.headers, None, c.script)
    runs: dict[str, list[Run]] = {c.name: [] for c in contenders}
    for _ in range(repeat):
        for c in contenders:
            r = wrk(c.url, load_cpu, duration, connections, c.headers, c.pid, c.script)
            if r:
                runs[c.name].append(r)
    return runs


def round_ratios(mine: Sequence[Run], base: Sequence[Run], index: int) -> list[float]:
    """mine / base of figure ``index`` (0 wall req/s, 3 req per CPU-second) round by round
    (same round = same machine load), sorted; rounds where either is zero are left out."""
    return sorted(m[index] / b[index] for m, b in zip(mine, base, strict=False) if m[index] and b[index])


def print_ratio(name: str, mine: Sequence[Run], base_name: str, base: Sequence[Run]) -> None:
    """One line: the median of the per-round ratios of ``name`` to ``base_name`` in requests per
    CPU-second (the per-core figure), their range, its inverse (CPU per request) and the median
    ratio of wall req/s."""
    per_core = round_ratios(mine, base, 3)
    if not per_core:
        print(f"{name} vs {base_name}: n/a (no round measured both)")
        return
    med = statistics.median(per_core)
    wall = round_ratios(mine, base, 0)
    walls = f", {statistics.median(wall):.2f}x wall req/s" if wall else ""
    print(f"{name} vs {base_name}: {med:.2f}x req per CPU-second (rounds {per_core[0]:.2f}-{per_core[-1]:.2f};"
          f" {1 / med:.2f}x CPU per request){walls}")


def report(runs: dict[str, list[Run]], contenders: Sequence[Contender], duration: int,
           baseline: str, compared: Sequence[str] | None = None) -> None:
    """The medians of every contender, then the ratios of ``compared`` (by default every other
    contender whose CPU time is counted) to ``baseline``, all measured in this run."""
    for c in contenders:
        summarize(c.name, runs[c.name], c.pid is not None, duration)
    if compared is None:
        compared = [c.name for c in contenders if c.pid is not None and c.name != baseline]
    for name in compared:
        print_ratio(name, runs[name], baseline, runs[baseline])
