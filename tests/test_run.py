import re
import json, subprocess, sys
import pytest
from adnb.run import *
from adnb.cli import main

def test_main_job_on_embedded(tmp_path):
    "The README's main job at tiny size: executes the experiment notebook on the embedded dataset and writes results."
    out = run_experiment('patchcore', dict(image_size=64, n_gallery=2, tsne_points=200), reports=tmp_path, progress=False)
    r = json.loads((out/'results.json').read_text())
    row = r['results'][0]
    assert r['profile'] == 'ci' and (r['params']['crop'], r['params']['coreset_ratio'], r['params']['num_neighbors']) == (0, 0.1, 9)
    assert (row['category'], row['method'], row['backbone'], row['image_size'], row['crop'], row['profile']) == \
           ('puck', 'patchcore', 'efficientnet_lite0', 64, 0, 'ci')
    assert 0 <= row['image_auroc'] <= 1 and 0 <= row['aupro_30'] <= 1 and row['bank_size'] == round(0.1 * row['n_train'] * 8 * 8)
    assert (out/'patchcore.ipynb').stat().st_size < 2_000_000 and (out/'metrics.csv').exists()

@pytest.mark.slow
def test_padim_through_same_experiment(tmp_path):
    "PaDiM through the same cells, with a centre crop on both loaders (PaDiM refuses a test grid unlike the fitted one)."
    out = run_experiment('patchcore', dict(method='padim', image_size=64, crop=48, padim_d=50, layers=['blocks.1', 'blocks.2'],
                                           n_gallery=2, category='brick'), reports=tmp_path, progress=False)
    r = json.loads((out/'results.json').read_text())
    assert r['params']['method'] == 'padim' and r['results'][0]['method'] == 'padim' and r['results'][0]['crop'] == 48
    assert 0 <= r['results'][0]['pixel_auroc'] <= 1

def test_unknown_parameter_and_experiment(tmp_path):
    with pytest.raises(ExperimentError, match=r"no parameter\(s\) \['categry'\]"): run_experiment('patchcore', dict(categry='x'), tmp_path)
    with pytest.raises(ExperimentError, match="unknown experiment 'nope'"): run_experiment('nope')


def test_cli_errors():
    p = subprocess.run([sys.executable, '-c', 'from adnb.cli import main; main()', 'run', 'nope'], capture_output=True, text=True)
    assert p.returncode != 0 and "adnb: unknown experiment 'nope'" in p.stderr

# --- parameter specs, profiles, report folder, Ctrl-C (issue 10) -------------------------------------------------
import os, signal, time
from pathlib import Path
import nbformat

PARAMS = "dataset = 'embedded'\nprofile = 'auto'\nimage_size = None\nlayers = ['blocks.2', 'blocks.4']\nseed = 0\nrows = 'ABCDE'\nepochs = None\nk = 4\nseconds = 0"
SPECS = ("SPECS = {'dataset': 'one of embedded|mvtec_ad', 'profile': 'one of auto|ci|paper', 'image_size': 'int>0 %8',\n"
         "         'layers': 'list[str|int] nonempty', 'seed': 'int>=0', 'rows': 'chars ABCDE', 'epochs': 'int>=1', 'k': 'int>=1', 'seconds': 'float>=0'}\n"
         "PROFILES = {'ci': {'image_size': 64, 'epochs': 1}, 'paper': {'image_size': 256, 'epochs': 50}}")
BODY = ("import os, time\nfrom adnb.experiment import use_params, write_results\nP = use_params(globals(), SPECS, PROFILES)\n"
        "open('kernel.pid', 'w').write(str(os.getpid()))\ntime.sleep(seconds)\nwrite_results('tiny', P, [dict(score=image_size / 256)])")

def tiny_nb(path, params=PARAMS, specs=SPECS, body=BODY):
    "A small experiment notebook: parameters cell, parameter-specs cell, a body that checks and writes results."
    p = nbformat.v4.new_code_cell(params); p.metadata['tags'] = ['parameters']
    cells = [p] + ([nbformat.v4.new_code_cell(specs)] if specs else []) + [nbformat.v4.new_code_cell(body)]
    if specs: cells[1].metadata['tags'] = ['parameter-specs']
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path)
    return path

def cli(*args, **kw):
    return subprocess.run([sys.executable, '-c', 'from adnb.cli import main; main()', *args], capture_output=True, text=True, **kw)

@pytest.mark.parametrize('name,value,msg', [
    ('image_size', 'abc', "parameter image_size must be a positive multiple of 8 (got 'abc')"),
    ('image_size', '-5', 'parameter image_size must be a positive multiple of 8 (got -5)'),
    ('image_size', '0', 'parameter image_size must be a positive multiple of 8 (got 0)'),
    ('image_size', '128.0', 'parameter image_size must be a positive multiple of 8 (got 128.0, a float)'),
    ('layers', 'blocks.2', "parameter layers must be a non-empty list of strings or integers (got 'blocks.2', a str; write ['blocks.2'])"),
    ('seed', 'abc', "parameter seed must be a non-negative integer (got 'abc')"),
    ('rows', 'XZ', "parameter rows must be letters from ABCDE, each at most once (got 'XZ')"),
    ('epochs', '0', 'parameter epochs must be a positive integer (got 0)'),
    ('k', '2.5', 'parameter k must be a positive integer (got 2.5, a float)'),
    ('profile', 'big', "parameter profile must be one of auto | ci | paper (got 'big')"),
])
def test_parameter_errors_before_any_work(tmp_path, name, value, msg):
    "Each bad value: one `adnb:` line, nothing created under --reports."
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    with pytest.raises(SystemExit) as e: main(['run', str(nb), '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert e.value.code == f'adnb: {msg}'
    assert not (tmp_path/'rep').exists()

def test_parameter_error_cli_text(tmp_path):
    p = cli('run', str(tiny_nb(tmp_path/'tiny.ipynb')), '-p', 'image_size', '-5', '--reports', str(tmp_path/'rep'))
    assert p.returncode == 1 and p.stderr == 'adnb: parameter image_size must be a positive multiple of 8 (got -5)\n'

def test_profile_resolved_and_recorded(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    out = run_experiment(nb, dict(dataset='mvtec_ad', epochs=2), reports=tmp_path/'rep', progress=False)
    params = json.loads((out/'parameters.json').read_text())
    res = json.loads((out/'results.json').read_text())
    assert params == dict(dataset='mvtec_ad', profile='paper', image_size=256, layers=['blocks.2', 'blocks.4'], seed=0,
                          rows='ABCDE', epochs=2, k=4, seconds=0.0)
    assert res['profile'] == 'paper' and res['params'] == params and res['results'] == [dict(score=1.0)]
    out = run_experiment(nb, dict(image_size=128), reports=tmp_path/'rep', progress=False)   # embedded: ci, explicit wins
    assert json.loads((out/'results.json').read_text())['params'] == {**params, 'dataset': 'embedded', 'profile': 'ci', 'image_size': 128, 'epochs': 1}

def test_notebook_resolves_itself_without_the_runner(tmp_path):
    "Plain papermill (or JupyterLab): the notebook's first cell fills the profile and checks, with the same message."
    import papermill as pm
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    pm.execute_notebook(str(nb), str(tmp_path/'out.ipynb'), parameters=dict(dataset='mvtec_ad'), cwd=str(tmp_path), progress_bar=False)
    r = json.loads((tmp_path/'results.json').read_text())
    assert r['profile'] == 'paper' and r['params']['image_size'] == 256 and r['params']['epochs'] == 50
    with pytest.raises(pm.PapermillExecutionError, match=r'parameter k must be a positive integer \(got 0\)'):
        pm.execute_notebook(str(nb), str(tmp_path/'out2.ipynb'), parameters=dict(k=0), cwd=str(tmp_path), progress_bar=False)

def test_failed_run_names_cell(tmp_path):
    nb = tiny_nb(tmp_path/'fails.ipynb', body="raise ValueError(f'unknown method {method!r}')", params="method = 'patchcore'", specs='')
    with pytest.raises(ExperimentError, match=r"experiment fails failed in cell 3: ValueError: unknown method 'x'\n  the partial report is .*fails.ipynb"):
        run_experiment(nb, dict(method='x'), reports=tmp_path/'rep', progress=False)

def test_legacy_notebook_without_specs_runs_unchecked(tmp_path):
    nb = tiny_nb(tmp_path/'legacy.ipynb', params='size = -5', specs='',
                 body="import json; json.dump(dict(size=size), open('results.json', 'w'))")
    out = run_experiment(nb, {}, reports=tmp_path/'rep', progress=False)
    assert json.loads((out/'parameters.json').read_text()) == dict(size=-5)

def test_bad_declarations_named(tmp_path):
    nb = tiny_nb(tmp_path/'bad.ipynb', specs=SPECS.replace("'k': 'int>=1', ", ''))
    with pytest.raises(ExperimentError, match=r"bad.ipynb: parameters without a spec in SPECS: \['k'\]"): run_experiment(nb, {}, tmp_path)

def test_list_shows_specs_and_profiles(tmp_path, monkeypatch, capsys):
    tiny_nb(tmp_path/'exps'/'tiny.ipynb')
    monkeypatch.setenv('ADNB_EXPERIMENTS', str(tmp_path/'exps'))
    assert experiments_dir() == tmp_path/'exps' and list_experiments() == ['tiny']
    main(['list'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"tiny  ({tmp_path/'exps'/'tiny.ipynb'})"
    assert lines[3].split() == ['image_size', 'None', 'int>0', '%8', 'ci:', '64', 'paper:', '256']
    assert lines[5].split() == ['seed', '0', 'int>=0']

def test_reports_path_is_a_file(tmp_path):
    f = tmp_path/'afile'; f.write_text('')
    p = cli('run', str(tiny_nb(tmp_path/'tiny.ipynb')), '--reports', str(f))
    assert p.returncode == 1 and p.stderr == f'adnb: reports folder {f} is a file, not a folder (--reports or settings.ini [paths] reports)\n'

def test_reports_path_uncreatable(tmp_path):
    f = tmp_path/'afile'; f.write_text('')
    p = cli('run', str(tiny_nb(tmp_path/'tiny.ipynb')), '--reports', str(f/'sub'))
    assert p.returncode == 1
    assert p.stderr == f'adnb: cannot create a report folder under {f/"sub"}: Not a directory (--reports or settings.ini [paths] reports)\n'

def _unwritable(tmp_path):
    "A folder this user cannot write into: a read-only dir, or (for root, who ignores modes) /sys."
    if os.geteuid() != 0:
        d = tmp_path/'ro'; d.mkdir(); d.chmod(0o555); return d
    try: os.mkdir('/sys/adnb-probe')
    except OSError: return Path('/sys')
    os.rmdir('/sys/adnb-probe'); pytest.skip('no unwritable folder available to root here')

def test_reports_path_unwritable(tmp_path):
    d = _unwritable(tmp_path)
    p = cli('run', str(tiny_nb(tmp_path/'tiny.ipynb')), '--reports', str(d))
    assert p.returncode == 1 and 'Traceback' not in p.stderr
    assert p.stderr.startswith(f'adnb: cannot create a report folder under {d}: ') and p.stderr.count('\n') == 1
    assert p.stderr.endswith('(--reports or settings.ini [paths] reports)\n')

def _wait_for(pattern, root, timeout=300):   # a busy shared machine can take minutes to start a kernel
    t0 = time.time()
    while time.time() - t0 < timeout:
        hits = list(Path(root).glob(pattern))
        if hits and hits[0].read_text(): return hits[0]
        time.sleep(0.2)
    raise AssertionError(f'{pattern} did not appear under {root}')

@pytest.mark.parametrize('stubborn', [False, True])
def test_ctrl_c_marks_the_report_interrupted(tmp_path, stubborn):
    "SIGINT during a cell: exit 130, one line, the partial report says INTERRUPTED, the kernel is gone."
    body = BODY.replace('time.sleep(seconds)', 'import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(seconds)') if stubborn else BODY
    nb = tiny_nb(tmp_path/'tiny.ipynb', body=body)
    proc = subprocess.Popen([sys.executable, '-c', 'from adnb.cli import main; main()', 'run', str(nb), '-p', 'seconds', '120',
                             '--reports', str(tmp_path/'rep'), '--no-progress'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kpid = int(_wait_for('tiny/*/kernel.pid', tmp_path/'rep').read_text()); time.sleep(1)
    proc.send_signal(signal.SIGINT)
    if stubborn: time.sleep(1); proc.send_signal(signal.SIGINT)   # the cell ignores the first: a second stops at once
    out, err = proc.communicate(timeout=60)
    report = next((tmp_path/'rep'/'tiny').glob('*/tiny.ipynb'))
    assert proc.returncode == 130 and 'Traceback' not in err
    assert err.splitlines()[-1] == f'adnb: interrupted; partial report at {report}'
    nb = nbformat.read(report, as_version=4)
    assert nb.metadata.papermill.exception is True and nb.metadata.adnb.status == 'interrupted'
    assert nb.cells[0].source.startswith('**Interrupted** (Ctrl-C / SIGINT)') and 'code cell 4 of 4' in nb.cells[0].source  # with papermill's injected-parameters cell
    assert not (report.parent/'results.json').exists()
    time.sleep(1)
    psutil = pytest.importorskip('psutil')
    assert not psutil.pid_exists(kpid) or psutil.Process(kpid).status() == psutil.STATUS_ZOMBIE

def test_help_lists_fit_and_predict():
    p = cli('--help')
    assert p.returncode == 0 and all(c in p.stdout for c in ('run', 'list', 'fit', 'predict'))

def test_export_and_docs_commands(tmp_path, capsys):
    "`adnb export` writes one offline HTML file of a report; `adnb docs` builds the static site; errors are one line."
    import nbformat
    from adnb.cli import main
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Tiny report'), nbformat.v4.new_code_cell('6*7')])
    nb.cells[1].outputs = [nbformat.v4.new_output('execute_result', {'text/plain': '42'}, execution_count=1)]
    (tmp_path/'nbs').mkdir(); nbformat.write(nb, tmp_path/'nbs'/'00_tiny.ipynb')
    rep = tmp_path/'reports'/'patchcore'/'20260101-000000'; rep.mkdir(parents=True); nbformat.write(nb, rep/'patchcore.ipynb')
    (rep/'results.json').write_text('{}')                                  # a finished run (adnb.runs.run_status): the docs list it as a report
    (rep/'run.json').write_text(json.dumps(dict(status='done', experiment='patchcore')))
    main(['export', str(rep/'patchcore.ipynb'), '-o', str(tmp_path/'r.html')])
    assert '42' in (tmp_path/'r.html').read_text() and 'cdn.plot.ly' not in (tmp_path/'r.html').read_text()
    main(['docs', '--nbs', str(tmp_path/'nbs'), '--out', str(tmp_path/'site'), '--reports', str(tmp_path/'reports')])
    idx = (tmp_path/'site'/'index.html').read_text()
    assert re.search(r'href="00_tiny.html"[^>]*>\s*Tiny report\s*<', idx) and 'reports/patchcore-20260101-000000.html' in idx
    assert (tmp_path/'site'/'reports'/'patchcore-20260101-000000.html').is_file()
    with pytest.raises(SystemExit, match=r"adnb: no notebook at .*nope.ipynb"): main(['export', str(tmp_path/'nope.ipynb')])
    with pytest.raises(SystemExit, match="adnb: no library notebooks"): main(['docs', '--nbs', str(rep), '--out', str(tmp_path/'x')])

def test_list_into_closed_pipe():
    "`adnb list | head -1` ends quietly: no BrokenPipeError traceback."
    p = subprocess.run(f"{sys.executable} -c 'from adnb.cli import main; main()' list | head -c 10", shell=True, capture_output=True, text=True)
    assert 'Traceback' not in p.stderr and 'BrokenPipe' not in p.stderr
