"""What a class costs `gdtui serve` in memory: the server alone, each tab (an app and its training process), and
what a run's history adds at the largest model a tab may build.

Why: a teacher sizes the machine (or --max-tabs) for a class of 10, 20 or 30. Each tab is a whole gdtui, so its
cost is measured as such: tabs are opened over textual-serve's websocket as a browser opens them, each waited
on until its app says "ready", and the server's whole process tree is read from /proc (PSS: a page shared by
several processes counted once among them, so the sum is what the machine holds; RSS for comparison). Then one
tab runs the given model for the given epochs ("done") and the tree is read again: the history's cost.

    python benchmarks/serve_memory.py                       # 1, 2 and 4 tabs; adam on an mlp of 64,64, 2,000 epochs
    python benchmarks/serve_memory.py --tabs 1,5,10 --epochs 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "serve-memory"
DEADLINE = 120.0
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[P^_][^\x1b]*\x1b\\|[@-Z\\-_])")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tree(root: int) -> list[int]:
    """`root` and every process under it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    found, todo = [root], [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                found.append(pid)
                todo.append(pid)
    return found


def _memory(root: int) -> dict[str, float]:
    """PSS, RSS and peak RSS (VmHWM) in MB, summed over `root`'s tree, and how many processes it holds."""
    pss = rss = hwm = 0
    pids = _tree(root)
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            pass
    mb = {"pss_mb": pss, "rss_mb": rss, "peak_rss_mb": hwm}
    return {**{k: round(v / 1024, 1) for k, v in mb.items()}, "processes": len(pids)}


class Tab:
    """A tab over textual-serve's websocket, read all the time (as a browser does: the server's heartbeat wants
    its pongs): the text its app writes, ANSI sequences left out."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.text = bytearray()
        self.closed = False
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.text += ANSI.sub(b"", message.data)
        self.closed = True

    async def shown(self, text: str, after: int = 0) -> int:
        wanted = text.encode()
        deadline = time.monotonic() + DEADLINE
        while (at := self.text.find(wanted, after)) < 0:
            if self.closed or time.monotonic() > deadline:
                raise RuntimeError(f"the tab never showed {text!r}")
            await asyncio.sleep(0.05)
        return at + len(wanted)


async def measure(counts: list[int], run_options: list[str]) -> dict[str, object]:
    port = _free_port()
    work = tempfile.mkdtemp(prefix="gdtui-serve-memory-")
    argv = [sys.executable, "-m", "gdtui", "serve", "--port", str(port), "--token", TOKEN, *run_options]
    server = subprocess.Popen(
        argv,
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    result: dict[str, object] = {"options": run_options}
    tabs: list[Tab] = []
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + DEADLINE
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/?token={TOKEN}") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.1)
            result["server"] = _memory(server.pid)
            rows = []
            for count in counts:
                while len(tabs) < count:
                    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}&width=120&height=36")
                    tab = Tab(ws)
                    await tab.shown("ready  │  epoch 0/")
                    tabs.append(tab)
                rows.append({"tabs": count, **_memory(server.pid)})
            result["tabs"] = rows
            first, last = rows[0], rows[-1]
            if last["tabs"] > first["tabs"]:
                slope = (last["pss_mb"] - first["pss_mb"]) / (last["tabs"] - first["tabs"])
                result["pss_mb_per_tab"] = round(slope, 1)
            before = _memory(server.pid)
            mark = len(tabs[0].text)
            await tabs[0].ws.send_json(["stdin", " "])
            await tabs[0].shown("done", after=mark)
            after = _memory(server.pid)
            result["run"] = {"pss_mb_added": round(after["pss_mb"] - before["pss_mb"], 1), **after}
            for tab in tabs:
                await tab.ws.close()
            deadline = time.monotonic() + DEADLINE
            while len(_tree(server.pid)) > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            result["left_after_close"] = len(_tree(server.pid)) - 1
    finally:
        for how in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, how)
                server.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", default="1,2,4", help="tab counts to measure at, ascending (1,2,4)")
    parser.add_argument("--epochs", type=int, default=2000, help="epochs the first tab runs at the end")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--hidden", default="64,64")
    parser.add_argument("--max-params", default="100000000", help="serve's --max-params (default: no bound)")
    args = parser.parse_args()
    options = [
        "--model",
        args.model,
        "--optimizer",
        args.optimizer,
        "--epochs",
        str(args.epochs),
        "--max-params",
        args.max_params,
    ]
    if args.model == "mlp":
        options += ["--hidden", args.hidden]
    result = asyncio.run(measure([int(n) for n in args.tabs.split(",")], options))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
