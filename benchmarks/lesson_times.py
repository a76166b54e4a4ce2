"""Execute every course notebook (start here + the eight lessons) as a student would, and record its time beside the
time it states: `reports/records/lesson_times.json`.

    flock /tmp/adnb_timing.lock python benchmarks/lesson_times.py                     # all, in course order
    flock /tmp/adnb_timing.lock python benchmarks/lesson_times.py 12_fapm 13_fbft     # some; the others keep their entry

A lesson states its running time under its learning goals, in one sentence the script reads:
"running all its cells takes about N s on 2 CPU cores" (or "N min"). Each notebook runs in a fresh kernel from its own
folder, exercises unanswered (as shipped), `#| slow` / `#| cuda` cells skipped (as nbdev-test and the docs do), no
thread setting from outside: the lessons cap torch's threads themselves. A stated time holds when the measured one
is at most 1.5 times it. `kernel_cpu_s` is the CPU time the kernel used (user + system): on a machine whose cores are
free, a lesson that runs one torch thread takes about that long, whatever the load was during the measurement.
Re-running keeps the old numbers in the record's `history`.
"""
from __future__ import annotations
import argparse, json, os, platform, re, resource, sys, time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT/'reports'/'records'/'lesson_times.json'
STATED = re.compile(r'running all (?:its |of its )?cells takes about ([\d.]+)\s*(s|seconds|min|minutes)\b', re.I)
TOLERANCE = 1.5

def stated_seconds(nb)->float|None:
    "The running time a notebook states (the first match of STATED in its markdown), in seconds; None when it states none."
    for c in nb.cells:
        if c.cell_type == 'markdown' and (m := STATED.search(c.source.replace('\n', ' '))):
            return float(m.group(1)) * (60 if m.group(2).lower().startswith('min') else 1)
    return None

def run(path:Path, timeout:int=1800)->dict:
    "Execute `path` in a fresh kernel from its folder; wall time, the See it work section's time and the slowest cells."
    import nbformat
    from nbclient import NotebookClient
    from adnb.docs import directives, sections, SKIP_FLAGS
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == 'code' and directives(c.source).keys() & set(SKIP_FLAGS): c.metadata['tags'] = [*c.metadata.get('tags', []), 'skip-execution']
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', record_timing=True, skip_cells_with_tag='skip-execution',
                            resources={'metadata': {'path': str(path.parent)}})
    cpu = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))
    c0, t0 = cpu(), time.perf_counter(); client.execute(); wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    def secs(c):
        t = c.metadata.get('execution', {})
        a, b = t.get('iopub.execute_input'), t.get('shell.execute_reply')
        return (datetime.fromisoformat(b.replace('Z', '+00:00')) - datetime.fromisoformat(a.replace('Z', '+00:00'))).total_seconds() if a and b else 0.
    cells = [(i, sec, secs(c)) for i, (c, sec) in enumerate(zip(nb.cells, sections(nb))) if c.cell_type == 'code']
    errors = [i for i, c in enumerate(nb.cells) if c.cell_type == 'code' and any(o.get('output_type') == 'error' for o in c.get('outputs', []))]
    return dict(measured_s=round(wall, 1), kernel_cpu_s=round(cpu_s, 1), cells_s=round(sum(s for *_, s in cells), 1),
                see_it_work_s=round(sum(s for _, sec, s in cells if sec.startswith('See it work')), 1),
                slowest_cells=[dict(cell=i, section=sec, s=round(s, 1)) for i, sec, s in sorted(cells, key=lambda x: -x[2])[:3]],
                errors=errors, stated_s=stated_seconds(nb))

def main(argv=None):
    from adnb.docs import COURSE
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('lessons', nargs='*', help='course names (e.g. 12_fapm, course/00_start_here); default: all, in course order')
    a = ap.parse_args(argv)
    names = [next((c for c in COURSE if c == n or c.endswith('/' + n)), n) for n in a.lessons] or list(COURSE)
    rec = json.loads(RECORD.read_text()) if RECORD.exists() else dict(lessons={}, history=[])
    load = os.getloadavg()
    machine = dict(cpus=os.cpu_count(), load_avg_at_start=[round(x, 2) for x in load], python=platform.python_version(),
                   omp_num_threads=os.environ.get('OMP_NUM_THREADS'), shared=load[0] > 1.5,
                   note='2-core machine shared with other jobs' if load[0] > 1.5 else 'quiet machine')
    for n in names:
        p = ROOT/'nbs'/f'{n}.ipynb'
        if not p.exists(): raise SystemExit(f"lesson_times: no notebook {p}")
        print(f"{n} ...", flush=True)
        r = run(p)
        r['holds'] = None if r['stated_s'] is None else r['measured_s'] <= TOLERANCE * r['stated_s']
        if (old := rec['lessons'].get(n)): rec['history'].append(dict(date=old.get('date'), lesson=n, change='re-run', old=old))
        rec['lessons'][n] = dict(r, date=datetime.now().isoformat(timespec='seconds'), machine=machine)
        print(f"  measured {r['measured_s']} s, kernel CPU {r['kernel_cpu_s']} s (See it work {r['see_it_work_s']} s), stated {r['stated_s']} s, holds: {r['holds']}"
              + (f"; ERRORS in cells {r['errors']}" if r['errors'] else ''), flush=True)
        RECORD.write_text(json.dumps(dict(rec, command='python benchmarks/lesson_times.py' + (' ' + ' '.join(a.lessons) if a.lessons else ''),
                                          tolerance=f'holds when measured <= {TOLERANCE} x stated'), indent=1) + '\n')
    print(f"record: {RECORD.relative_to(ROOT)}")

if __name__ == '__main__': main()
