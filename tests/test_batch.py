"`adnb batch GRID.yaml` (issue 15): grid expansion, stable ids, atomic runs, resume, failures, kill-and-resume, Ray = local."
import hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import nbformat
import pytest
from adnb.batch import GridError, is_complete, load_grid, plan, run_batch, run_id
from adnb.cli import main

ROOT = Path(__file__).resolve().parents[1]

BODY = ("import json, os, time\n"
        "log = os.environ.get('TINY_LOG')\n"
        "if log: open(log, 'a').write(f'{seed}\\n')\n"
        "open(os.environ.get('TINY_PID', os.devnull), 'w').write(str(os.getpid()))\n"
        "while hold and os.path.exists(hold): time.sleep(0.05)\n"
        "if seed == 13: raise ValueError('unlucky seed')\n"
        "json.dump(dict(size=size, seed=seed, score=seed / 100), open('results.json', 'w'))")

def tiny_nb(path, body=BODY):
    "A small experiment notebook (specs, profiles); appends its seed to $TINY_LOG, waits while the file `hold` exists."
    p = nbformat.v4.new_code_cell("size = None\nseed = 0\nhold = ''\ndataset = 'embedded'\nprofile = 'auto'"); p.metadata['tags'] = ['parameters']
    s = nbformat.v4.new_code_cell("SPECS = {'size': 'int>0', 'seed': 'int>=0', 'hold': 'str', 'dataset': 'one of embedded|mvtec_ad', 'profile': 'one of auto|ci|paper'}\n"
                                  "PROFILES = {'ci': {'size': 8}, 'paper': {'size': 256}}"); s.metadata['tags'] = ['parameter-specs']
    nb = nbformat.v4.new_notebook(cells=[p, s, nbformat.v4.new_code_cell(body)], metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path = Path(path); nbformat.write(nb, path); return path

def grid(tmp_path, text, name='g.yaml'):
    "A grid file in tmp_path; {nb} in `text` is the tiny notebook."
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    g = tmp_path/name; g.write_text(text.replace('{nb}', str(nb))); return g

def cli(*args, **kw):
    return subprocess.Popen([sys.executable, '-X', 'faulthandler', '-c', 'from adnb.cli import main; main()', *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

def seeds_run(log:Path)->list[int]: return sorted(int(l) for l in log.read_text().split()) if log.exists() else []

# --- expansion and ids (no kernel) ---------------------------------------------------------------------------------

def test_expansion_product_zip_fixed(tmp_path):
    "axes: product; zip: paired, one factor; fixed: entry over grid, axes over both; lists under fixed stay whole; resources merge."
    g = grid(tmp_path, """
name: demo
fixed: {dataset: embedded, size: 16}
resources: {num_cpus: 1}
experiments:
  - experiment: [{nb}, other]
    fixed: {size: 32, layers: [a, b]}
    axes: {seed: [0, 1], size: [8, 64]}
    zip: {hold: ['', x], profile: [ci, paper]}
    resources: {num_gpus: 1}
  - experiment: {nb}
""")
    g = load_grid(g)
    assert g['name'] == 'demo' and len(g['runs']) == 2 * 2 * 2 * 2 + 1
    first = g['runs'][0]
    assert first == dict(experiment=str(tmp_path/'tiny.ipynb'), entry=0, resources=dict(num_cpus=1, num_gpus=1),
                         params=dict(dataset='embedded', size=8, layers=['a', 'b'], seed=0, hold='', profile='ci'))
    combos = [(r['params']['seed'], r['params']['size'], r['params']['hold'], r['params']['profile']) for r in g['runs'][:8]]
    assert combos == [(0, 8, '', 'ci'), (0, 8, 'x', 'paper'), (0, 64, '', 'ci'), (0, 64, 'x', 'paper'),
                      (1, 8, '', 'ci'), (1, 8, 'x', 'paper'), (1, 64, '', 'ci'), (1, 64, 'x', 'paper')]
    assert [r['experiment'] for r in g['runs'][7:9]] == [str(tmp_path/'tiny.ipynb'), 'other']
    assert g['runs'][-1] == dict(experiment=str(tmp_path/'tiny.ipynb'), entry=1, resources=dict(num_cpus=1), params=dict(dataset='embedded', size=16))

@pytest.mark.parametrize('text,msg', [
    ("experiments:\n  - experiment: {nb}\n    axes: {seed: 3}\n", "g.yaml: experiments[0]: axis seed must be a non-empty list (got 3)"),
    ("experiments:\n  - experiment: {nb}\n    zip: {seed: [0, 1], size: [8]}\n", "g.yaml: experiments[0]: zip block lists differ in length: seed 2, size 1"),
    ("experiments:\n  - experiment: {nb}\n    axis: {seed: [0]}\n", "g.yaml: experiments[0]: unknown key(s) ['axis']; allowed: experiment, axes, zip, fixed, resources"),
    ("experiments:\n  - experiment: {nb}\n    resources: {gpus: 1}\n", "experiments[0]: resources: unknown key(s) ['gpus']"),
    ("experiments: []\n", "g.yaml: 'experiments' must be a non-empty list of entries"),
    ("experiments:\n  - experiment: nope\n", "g.yaml: experiments[0] (nope): unknown experiment 'nope'"),
    ("experiments:\n  - experiment: {nb}\n    axes: {sede: [1]}\n", "no parameter(s) ['sede']"),
    ("experiments:\n  - experiment: {nb}\n    axes: {seed: [0, -1]}\n", "parameter seed must be a non-negative integer (got -1)"),
])
def test_bad_grid_refused_before_any_work(tmp_path, text, msg):
    "One `adnb:` line naming the grid file and entry; no batch folder is created."
    g = grid(tmp_path, text)
    with pytest.raises(SystemExit) as e: main(['batch', str(g), '--root', str(tmp_path/'b')])
    assert msg in str(e.value.code) and str(e.value.code).startswith('adnb: ')
    assert not (tmp_path/'b').exists()

def test_ids_stable(tmp_path):
    "id = sha256 of the canonical JSON of (experiment, resolved parameters, version); spelling and process do not matter."
    assert run_id('x', dict(b=2, a=1), '1.0') == hashlib.sha256(b'{"adnb": "1.0", "experiment": "x", "params": {"a": 1, "b": 2}}').hexdigest()[:12]
    g = grid(tmp_path, "experiments:\n  - experiment: {nb}\n    axes: {seed: [0, 1]}\n  - experiment: {nb}\n    fixed: {seed: 1, size: 8, profile: ci}\n")
    runs = plan(load_grid(g))
    assert len(runs) == 2                                     # seed 1 spelled out in full is the same run
    import adnb
    assert runs[0]['id'] == run_id('tiny', dict(size=8, seed=0, hold='', dataset='embedded', profile='ci'), adnb.__version__)
    assert runs[0]['id'] != run_id('tiny', runs[0]['resolved'], adnb.__version__ + '.post1')
    assert runs[0]['folder'] == f"tiny/{runs[0]['id']}"
    other = subprocess.run([sys.executable, '-c', f'from adnb.batch import *; print([r["id"] for r in plan(load_grid({str(g)!r}))])'],
                           capture_output=True, text=True, env={**os.environ, 'PYTHONHASHSEED': '123'})
    assert other.stdout.strip() == str([r['id'] for r in runs])

def test_ci_grid_dry_run(capsys):
    "grids/ci.yaml: ten tiny runs on the embedded dataset (every experiment, so the report has a claim line per paper), listed with ids; nothing runs."
    main(['batch', str(ROOT/'grids'/'ci.yaml'), '--dry-run', '--root', '/nonexistent/adnb-batch'])
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith('10 runs (0 complete, 10 to run) in /nonexistent/adnb-batch')
    assert [l.split()[1:3] for l in out[1:]] == ([['missing', 'patchcore']] * 4 + [['missing', 'fapm']] + [['missing', 'fbft']] * 2 +
                                                 [['missing', 'dfm'], ['missing', 'costfilter'], ['missing', 'adpretrain']])
    assert len({l.split()[0] for l in out[1:]}) == 10 and not Path('/nonexistent/adnb-batch').exists()

@pytest.mark.parametrize('path', sorted((ROOT/'grids').glob('*.yaml')), ids=lambda p: p.name)
def test_every_grid_checks(path):
    "Every grid in grids/ expands and passes its notebooks' parameter checks (skipped while an experiment is not there yet)."
    from adnb.run import list_experiments
    g = load_grid(path)
    if missing := sorted({r['experiment'] for r in g['runs']} - set(list_experiments())): pytest.skip(f'experiment(s) {missing} not in nbs/experiments yet')
    runs = plan(g, data=False)                                  # paper-scale grids: their data need not be here
    assert runs and len({r['id'] for r in runs}) == len(runs)

# --- running: failures, retries, resume ----------------------------------------------------------------------------

def test_failing_run_recorded_others_go_on_retried_and_rerun(tmp_path, monkeypatch, capsys):
    log = tmp_path/'log'; monkeypatch.setenv('TINY_LOG', str(log))
    g = grid(tmp_path, "name: demo\nexperiments:\n  - experiment: {nb}\n    axes: {seed: [0, 13, 1]}\n")
    with pytest.raises(SystemExit) as e: main(['batch', str(g), '--root', str(tmp_path/'b'), '-j', '2', '--retries', '1', '--no-progress'])
    assert e.value.code == 1
    assert seeds_run(log) == [0, 1, 13, 13]                  # the failing run was tried twice, the others once
    s = json.loads((tmp_path/'b'/'batch.json').read_text())
    assert [(r['params']['seed'], r['status'], r['attempts']) for r in s['runs']] == [(0, 'done', 1), (13, 'failed', 2), (1, 'done', 1)]
    bad = s['runs'][1]
    assert (bad['cell'], bad['error'], bad['partial']) == (4, 'ValueError: unlucky seed', f".failed/{bad['id']}")
    assert s['status'] == 'finished' and s['counts'] == dict(done=2, skipped=0, failed=1, interrupted=0, pending=0, running=0)
    assert 'ValueError' in (tmp_path/'b'/bad['partial']/'tiny'/os.listdir(tmp_path/'b'/bad['partial']/'tiny')[0]/'tiny.ipynb').read_text()
    out = capsys.readouterr().out
    assert f"failed (will retry) tiny/{bad['id']}" in out and "cell 4: ValueError: unlucky seed" in out
    assert 'adnb: batch demo: 2 done, 0 skipped (complete before), 1 failed' in out
    done = [tmp_path/'b'/r['folder'] for r in s['runs'] if r['status'] == 'done']
    assert all(is_complete(d) for d in done) and json.loads((done[1]/'results.json').read_text()) == dict(size=8, seed=1, score=0.01)
    assert sorted(p.name for p in (tmp_path/'b'/'tiny').iterdir()) == sorted(d.name for d in done)   # nothing of the failed run there
    # again: the complete runs are skipped, only the failed one runs (a deleted or killed run: see the kill tests)
    log.unlink()
    s = run_batch(g, tmp_path/'b', progress=False)
    assert seeds_run(log) == [13] and [r['status'] for r in s['runs']] == ['skipped', 'failed', 'skipped']

# --- kills ---------------------------------------------------------------------------------------------------------

def _wait_for(path:Path, proc, timeout=300):   # a busy shared machine can take minutes to start a kernel
    t = time.time()
    while not (path.exists() and path.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t < timeout, f'{path} never appeared'
        time.sleep(0.1)

def test_sigkill_mid_run_leaves_no_complete_looking_folder(tmp_path, monkeypatch):
    "SIGKILL of the whole batch while run 2 of 2 is in its kernel: run 1 is kept, run 2 leaves nothing that looks complete."
    monkeypatch.setenv('TINY_LOG', str(tmp_path/'log')); monkeypatch.setenv('TINY_PID', str(tmp_path/'kernel.pid'))
    hold = tmp_path/'hold'
    g = grid(tmp_path, f"experiments:\n  - experiment: {{nb}}\n    fixed: {{hold: '{hold}'}}\n    axes: {{seed: [0, 1]}}\n")
    runs = plan(load_grid(g)); b = tmp_path/'b'
    hold.write_text('')
    (tmp_path/'tiny.ipynb').write_text((tmp_path/'tiny.ipynb').read_text().replace('while hold and', 'while seed and hold and'))  # only seed 1 waits
    p = cli('batch', g, '--root', b, '--no-progress', start_new_session=True)
    _wait_for(tmp_path/'log', p)
    while seeds_run(tmp_path/'log') != [0, 1]: assert p.poll() is None; time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    os.kill(int((tmp_path/'kernel.pid').read_text()), signal.SIGKILL)   # the kernel lives in its own session
    assert is_complete(b/runs[0]['folder']) and not (b/runs[1]['folder']).exists()
    assert [d.name for d in (b/'tiny').iterdir()] == [runs[0]['id']]   # no half-written run beside the finished one
    s = json.loads((b/'batch.json').read_text())
    assert [r['status'] for r in s['runs']] == ['done', 'running'] and s['status'] == 'running'
    assert len(list((b/'.partial').iterdir())) == 1           # the killed attempt's temporary folder
    hold.unlink(); (tmp_path/'log').unlink()
    s = run_batch(g, b, progress=False)
    assert seeds_run(tmp_path/'log') == [1] and [r['status'] for r in s['runs']] == ['skipped', 'done']
    assert list((b/'.partial').iterdir()) == [] and is_complete(b/runs[1]['folder'])

def test_sigint_interrupts_marks_and_resumes(tmp_path, monkeypatch):
    "SIGINT to the batch process: the running kernel is interrupted, its partial report kept in .failed/ and marked; exit 130."
    monkeypatch.setenv('TINY_LOG', str(tmp_path/'log'))
    hold = tmp_path/'hold'; hold.write_text('')
    g = grid(tmp_path, f"experiments:\n  - experiment: {{nb}}\n    fixed: {{hold: '{hold}'}}\n")
    b = tmp_path/'b'; rid = plan(load_grid(g))[0]['id']
    p = cli('batch', g, '--root', b, '--no-progress')
    _wait_for(tmp_path/'log', p); time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try: out, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:                   # say where it hangs: the batch process's Python stacks (faulthandler)
        p.send_signal(signal.SIGABRT); out, err = p.communicate(timeout=30)
        pytest.fail(f'adnb batch did not exit 90 s after SIGINT (rc {p.returncode}); stderr:\n{err[-6000:]}')
    assert p.returncode == 130 and 'adnb: batch interrupted; finished runs are kept in' in err
    s = json.loads((b/'batch.json').read_text())
    assert s['status'] == 'interrupted' and s['runs'][0]['status'] == 'interrupted'
    assert not (b/'tiny'/rid).exists()
    report = next((b/'.failed'/rid).rglob('tiny.ipynb'))
    assert nbformat.read(report, as_version=4).metadata['adnb']['status'] == 'interrupted'
    hold.unlink()
    s = run_batch(g, b, progress=False)
    assert s['runs'][0]['status'] == 'done' and is_complete(b/'tiny'/rid) and not (b/'.failed'/rid).exists()   # stale partial gone

# --- Ray -----------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ray_cluster_gives_the_local_results(tmp_path, monkeypatch):
    "The same grid (tiny runs + a 64 px PatchCore) on a local Ray cluster with 2 CPUs and on the local engine: same ids, statuses, metrics."
    ray = pytest.importorskip('ray')
    g = grid(tmp_path, """
name: eq
resources: {num_cpus: 2}      # Ray sets OMP_NUM_THREADS to this: torch then sums in the same order as a local run on 2 cores
experiments:
  - experiment: {nb}
    axes: {seed: [0, 13]}
  - experiment: patchcore
    fixed: {category: puck, image_size: 64, n_gallery: 2, tsne_points: 200}
""")
    local = run_batch(g, tmp_path/'local', progress=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        p = cli('batch', g, '--root', tmp_path/'ray', '--engine', 'ray', '--address', ray.get_runtime_context().gcs_address, '--no-progress')
        out, err = p.communicate(timeout=600)
    finally: ray.shutdown()
    assert p.returncode == 1, err                              # seed 13 fails on both engines
    remote = json.loads((tmp_path/'ray'/'batch.json').read_text())
    assert remote['engine'] == 'ray'
    assert [(r['id'], r['status'], r['cell'], r['error']) for r in remote['runs']] == [(r['id'], r['status'], r['cell'], r['error']) for r in local['runs']]
    for r in local['runs'][::2]:
        a, b = (json.loads((tmp_path/w/r['folder']/'results.json').read_text()) for w in ('local', 'ray'))
        if 'results' not in a: assert a == b; continue
        exact = ['image_auroc', 'image_ap', 'bank_size', 'n_train', 'n_test']
        assert [a['results'][0][k] for k in exact] == [b['results'][0][k] for k in exact] and a['params'] == b['params']
        pixel = ['pixel_auroc', 'pixel_ap', 'aupro_30', 'aupro_5']   # bit-equal with equal torch threads; else float summation order (~1e-8)
        tol = 0 if a['env']['threads'] == b['env']['threads'] else 1e-6
        assert all(abs(a['results'][0][k] - b['results'][0][k]) <= tol for k in pixel), ([a['results'][0][k] for k in pixel], [b['results'][0][k] for k in pixel])

def test_report_subcommand_wired(tmp_path):
    "`adnb report RUNS_DIR --out DIR` reaches adnb.report.build_report; its errors are one `adnb:` line."
    with pytest.raises(SystemExit) as e: main(['report', str(tmp_path/'none'), '--out', str(tmp_path/'out')])
    assert str(e.value.code).startswith(f"adnb: no runs folder {tmp_path/'none'}")

def test_partial_of_a_reused_pid_is_cleaned(tmp_path):
    "A temporary folder whose pid now belongs to a newer process (pid reuse on a busy machine) is stale and removed; a live owner's is kept."
    import time
    from adnb.batch import clean_partial
    (tmp_path/'.partial').mkdir()
    stale = tmp_path/'.partial'/f'abc.{os.getpid()}.0'                          # created 'in 1970': before this process started
    live = tmp_path/'.partial'/f'def.{os.getpid()}.{time.time_ns()}'
    stale.mkdir(); live.mkdir()
    assert clean_partial(tmp_path) == [stale.name] and live.is_dir() and not stale.exists()
