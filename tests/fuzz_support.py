"""Seeded mutation fuzzing of every file the app opens, each file loaded in a forked child.

A worker process imports the loaders once, then forks one child per file: the child caps its
address space (RLIMIT_AS: what it has now plus LIMIT_GROWTH), loads the file and reports one
outcome through a pipe; the worker waits up to TIMEOUT seconds (then kills it: a hang) and reads
the child's peak memory from wait4. Outcomes:

    loaded   the file loaded (a mutation can leave it valid)
    clean    the file kind's own error (a FileProblem, or a deliberate refusal), one sentence
    other    any other exception type (a bug: the user would see a traceback)
    memory   MemoryError: it tried to allocate past the cap (validate before allocating)
    crash    the child died by a signal (e.g. SIGSEGV)
    hang     still running after TIMEOUT seconds

Families: NVIDIA pickles and rosinality .pt (from the shared fixtures when present), our
safetensors, recipe PNGs, timelines, direction JSON and InterFaceGAN .npy. Mutations:
truncation, bit flips, byte-run overwrites, chunk duplication, opcode swaps (pickles), inflated
numbers and shapes, deep nesting (JSON and pickles), header-length lies (safetensors, npy).
"""
from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0
LIMIT_GROWTH = 2 * 2 ** 30          # the cap: 2 GiB more address space than the worker had
GOOD = {"loaded", "clean"}

PICKLE_OPS = b"}](KJM\x8a\x85\x86\x87tels\x90\x91\x94cR\x8c\x88\x89N.bq"


# ----------------------------------------------------------------------------------- seeds

def seed_files(folder: Path, fixtures: Path | None) -> dict[str, list[Path]]:
    """Valid files of every family to mutate (written into `folder`)."""
    import numpy as np
    import torch

    from explorer import Generator, stylegan2_config
    from explorer.checkpoints import save_native
    from explorer.directions import Direction, save_directions, save_interfacegan
    from explorer.export import save_png
    from explorer.face_files import png_payload
    from explorer.latents import latent_from_seed
    from explorer.timeline import Timeline

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gen = Generator(stylegan2_config(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=1))
    out: dict[str, list[Path]] = {}
    native = folder / "seed_native.safetensors"
    save_native(gen, native)
    out["safetensors"] = [native]
    lat = latent_from_seed(gen, 3, 0.7)
    png = folder / "seed_face.png"
    save_png(png, np.zeros((16, 16, 3), np.uint8), png_payload(lat, "tiny"))
    out["recipe png"] = [png]
    tl = folder / "seed.timeline.json"
    Timeline.from_seeds(gen, [1, 2, 3], fps=10, duration=1.0).save(tl)
    out["timeline"] = [tl]
    v = np.zeros(8, np.float32)
    v[0] = 1.0
    d = Direction(v, name="smile", model=gen.fingerprint, quality={"val_accuracy": 0.9})
    out["direction json"] = [save_directions([d], folder / "seed_dirs.json")]
    out["direction npy"] = [save_interfacegan(d, folder / "seed_boundary.npy")]
    if fixtures is not None and fixtures.is_dir():
        out["nvidia pkl"] = sorted(fixtures.glob("P*.pkl"))
        out["rosinality pt"] = sorted(fixtures.glob("R*.pt"))
    from PIL import Image

    from explorer.style_transfer import builtin_style

    style = Image.fromarray(builtin_style("mosaic", 48))
    style.save(folder / "seed_style.png")
    style.save(folder / "seed_style.jpg", quality=90)
    style.save(folder / "seed_style.gif", save_all=True, append_images=[style.rotate(90)])
    out["style picture"] = [folder / "seed_style.png", folder / "seed_style.jpg", folder / "seed_style.gif"]
    gen_path = folder / "judge.safetensors"        # the model recipe PNGs are opened against
    save_native(gen, gen_path)
    return out


# ------------------------------------------------------------------------------- mutations

def _json_mutation(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    kind = rng.randrange(6)
    if kind == 0:                                   # deep nesting somewhere
        i = rng.randrange(len(text))
        n = rng.choice([100, 1000, 5000, 100_000])
        return (text[:i] + "[" * n + "]" * n + text[i:]).encode()
    if kind == 1:                                   # inflate a number
        import re

        nums = list(re.finditer(r"-?\d+(\.\d+)?", text))
        if nums:
            m = rng.choice(nums)
            big = rng.choice(["1e308", "1e999", "-1", "0", "99999999999", "NaN", "Infinity", "true", '"x"'])
            return (text[:m.start()] + big + text[m.end():]).encode()
    if kind == 2:                                   # replace a value with a wrong type
        for key in ("fps", "duration", "loop", "vector", "w_dim", "scale", "keyframes", "ws", "noise",
                    "version", "directions", "position", "recipe"):
            if f'"{key}"' in text and rng.random() < 0.4:
                i = text.index(f'"{key}"') + len(key) + 3
                return (text[:i] + rng.choice(['"no"', "[]", "{}", "null", "-5", "[[[1]]]"]) + "," + text[i:]).encode()
    return _bytes_mutation(data, rng)


def _pickle_mutation(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    b = bytearray(data)
    if kind == 0:                                   # swap opcodes
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(2, len(b))] = rng.choice(PICKLE_OPS)
        return bytes(b)
    if kind == 1:                                   # deep tuple / list nesting injected before the STOP
        n = rng.choice([1000, 100_000, 300_000])
        inner = b")" + b"\x85" * n if rng.random() < 0.5 else b"]" * n
        return bytes(b[:-1]) + inner + b"0."
    if kind == 2:                                   # inflate a BININT / BININT4 argument
        idx = [i for i in range(2, len(b) - 5) if b[i] == ord("J")]
        if idx:
            i = rng.choice(idx)
            b[i + 1:i + 5] = struct.pack("<i", rng.choice([2 ** 31 - 1, -1, 10 ** 9, 65536]))
            return bytes(b)
    return _bytes_mutation(data, rng)


def _safetensors_mutation(data: bytes, rng: random.Random) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + n].decode("utf-8", "replace")
    kind = rng.randrange(4)
    if kind == 0:                                   # a header length that lies
        return struct.pack("<Q", rng.choice([2 ** 40, n + 10_000, 0, n - 3])) + data[8:]
    if kind == 1:                                   # inflate a shape or an offset
        import re

        nums = list(re.finditer(r"\d+", header))
        if nums:
            m = rng.choice(nums)
            new = header[:m.start()] + str(rng.choice([10 ** 9, 2 ** 31, 0, 65536])) + header[m.end():]
            nb = new.encode()
            return struct.pack("<Q", len(nb)) + nb + data[8 + n:]
    if kind == 2:                                   # damage the JSON config in the metadata
        mutated = _json_mutation(header.encode(), rng)
        return struct.pack("<Q", len(mutated)) + mutated + data[8 + n:]
    return _bytes_mutation(data, rng)


def _npy_mutation(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        text = data.decode("latin-1")
        shape = rng.choice(["(1, 10000000000)", "(0,)", "(-1, 8)", "(8, 8, 8, 8)", "()"])
        import re

        return re.sub(r"\(1, \d+\)", shape, text, count=1).encode("latin-1")
    return _bytes_mutation(data, rng)


def _png_mutation(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.6:                          # rewrite the recipe text chunk
        from PIL import Image, PngImagePlugin
        import io

        from explorer.export import RECIPE_KEY

        img = Image.open(io.BytesIO(data))
        text = img.text.get(RECIPE_KEY, "{}")
        mutated = _json_mutation(text.encode(), rng).decode("utf-8", "replace")
        info = PngImagePlugin.PngInfo()
        info.add_text(RECIPE_KEY, mutated)
        buf = io.BytesIO()
        img.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()
    return _bytes_mutation(data, rng)


def _bytes_mutation(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(b[:rng.randrange(0, len(b))])                      # truncated
    if kind == 1:
        for _ in range(rng.randint(1, 20)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)                                # bit flips
        return bytes(b)
    if kind == 2:
        i = rng.randrange(len(b))
        run = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        b[i:i + len(run)] = run                                          # overwritten run
        return bytes(b)
    i, j = sorted(rng.randrange(len(b)) for _ in range(2))
    return bytes(b[:j] + b[i:j] + b[j:])                                # duplicated chunk


MUTATORS = {"nvidia pkl": _pickle_mutation, "rosinality pt": _bytes_mutation, "safetensors": _safetensors_mutation,
            "recipe png": _png_mutation, "timeline": _json_mutation, "direction json": _json_mutation,
            "direction npy": _npy_mutation, "style picture": _bytes_mutation}


def make_cases(seeds: dict[str, list[Path]], per_family: int, folder: Path, seed: int = 0) -> list[tuple[str, Path]]:
    rng = random.Random(seed)
    cases = []
    for family, files in sorted(seeds.items()):
        if not files:
            continue
        for k in range(per_family):
            src = files[k % len(files)]
            data = src.read_bytes()
            out = folder / f"{family.replace(' ', '_')}_{k:05d}{''.join(src.suffixes[-1:])}"
            out.write_bytes(MUTATORS[family](data, rng))
            cases.append((family, out))
    return cases


# --------------------------------------------------------------------------------- running

WORKER = r'''
import json, os, resource, signal, sys, time
from pathlib import Path
import numpy as np
from explorer import load_generator
from explorer.errors import FileProblem
from explorer.directions import DirectionModelError, load_directions, load_interfacegan
from explorer.face_files import latent_from_png
from explorer.timeline import Timeline
from explorer.style_transfer import load_style_image

judge = load_generator(sys.argv[1])
cases = json.loads(sys.stdin.read())
loaders = {
    "nvidia pkl": lambda p: load_generator(p), "rosinality pt": lambda p: load_generator(p),
    "safetensors": lambda p: load_generator(p), "recipe png": lambda p: latent_from_png(p, judge),
    "timeline": lambda p: Timeline.open(p), "direction json": lambda p: load_directions(p),
    "direction npy": lambda p: load_interfacegan(p, model="feedface", w_dim=8),
    "style picture": lambda p: load_style_image(p),
}
def vm_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
for family, path in cases:
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        cap = vm_bytes() + int(sys.argv[2])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        try:
            loaders[family](path)
            out = "loaded"
        except (FileProblem, DirectionModelError):
            out = "clean"
        except MemoryError:
            out = "memory"
        except BaseException as e:
            out = "other:" + type(e).__name__ + ":" + str(e)[:160].replace("\n", " ")
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + float(sys.argv[3])
    status = None
    while time.monotonic() < deadline:
        done, st, usage = os.wait4(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.002)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        outcome = "hang"
    else:
        outcome = os.read(r, 4096).decode() or "crash"
        if os.WIFSIGNALED(status):
            outcome = "crash:signal " + str(os.WTERMSIG(status))
    os.close(r)
    print(json.dumps({"family": family, "path": path, "outcome": outcome, "seconds": time.perf_counter() - t0,
                      "peak_mb": usage.ru_maxrss / 1024}), flush=True)
'''


def run_cases(cases: list[tuple[str, Path]], judge_model: Path, timeout: float = TIMEOUT) -> list[dict]:
    """Load every case in forked children of one worker process; one result dict per case."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", WORKER, str(judge_model), str(LIMIT_GROWTH), str(timeout)],
                          input=json.dumps([(f, str(p)) for f, p in cases]), capture_output=True, text=True,
                          env=env, cwd=str(ROOT), timeout=60 + len(cases) * (timeout + 5))
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(results) != len(cases):
        raise RuntimeError(f"fuzz worker stopped after {len(results)} of {len(cases)} files:\n{proc.stderr[-2000:]}")
    return results


def summary_table(results: list[dict]) -> str:
    """The README's table: files per family, outcomes, peak memory and worst time."""
    fams: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        fams[r["family"]].append(r)
    lines = ["| family | files | loaded | clean error | other | peak memory (MB) | worst time (s) |",
             "|---|---|---|---|---|---|---|"]
    for fam, rs in sorted(fams.items()):
        c = Counter(r["outcome"].split(":")[0] for r in rs)
        other = len(rs) - c["loaded"] - c["clean"]
        lines.append(f"| {fam} | {len(rs)} | {c['loaded']} | {c['clean']} | {other} | "
                     f"{max(r['peak_mb'] for r in rs):.0f} | {max(r['seconds'] for r in rs):.2f} |")
    return "\n".join(lines)


def main() -> int:
    """python tests/fuzz_support.py [N per family] [seed]: the long run, prints the table."""
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    fixtures = ROOT.parent / "shared" / "fixtures" / "checkpoints"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        seeds = seed_files(d / "seeds", fixtures)
        cases = make_cases(seeds, n, d / "cases", seed) if (d / "cases").mkdir() is None else []
        t0 = time.perf_counter()
        results = run_cases(cases, d / "seeds" / "judge.safetensors")
        print(summary_table(results))
        bad = [r for r in results if r["outcome"].split(":")[0] not in GOOD]
        for r in bad[:20]:
            print("BAD", r["family"], Path(r["path"]).name, r["outcome"])
        print(f"{len(results)} files in {time.perf_counter() - t0:.0f} s, {len(bad)} bad")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
