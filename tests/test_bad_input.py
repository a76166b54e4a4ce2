"""Issue 22's "Bad input" cases and issue 21's first-contact items, one test per case, named after it: each now gets a
clear one-line error (naming the file, key or parameter, before any work) or the right result; no traceback."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from PIL import Image
import nbformat
from conftest import ROOT, squares_folder

CLI = [sys.executable, '-c', 'from adnb.cli import main; main()']

def adnb(*args, env=None, cwd=None, timeout=300):
    "Run the `adnb` command line as a user would (a subprocess); stdout, stderr and exit status."
    e = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd, timeout=timeout)

def refused(*argv)->str:
    "The one-line message of a refused `adnb` command, run in this process (a SystemExit carrying the text: exit status 1)."
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main([str(a) for a in argv])
    assert isinstance(e.value.code, str) and e.value.code.startswith('adnb: ') and '\n' not in e.value.code, e.value.code
    return e.value.code

def one_line(p, rc=1):
    "A refused command: exit status `rc`, no traceback, one `adnb:` line on stderr."
    assert p.returncode == rc, (p.returncode, p.stderr[-2000:])
    assert 'Traceback' not in p.stderr and p.stderr.startswith('adnb: ') and p.stderr.count('\n') == 1, p.stderr
    return p.stderr.strip()

def tiny_nb(path, body, params="dataset = 'embedded'\nseconds = 0"):
    "A small experiment notebook: a parameters cell and a body (with markdown sections)."
    p = nbformat.v4.new_code_cell(params); p.metadata['tags'] = ['parameters']
    cells = [nbformat.v4.new_markdown_cell('# Tiny'), p, nbformat.v4.new_markdown_cell('## Fit'), nbformat.v4.new_code_cell(body[0]),
             nbformat.v4.new_markdown_cell('## Results'), nbformat.v4.new_code_cell(body[1])]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path); return path

RESULTS = ("import json\njson.dump(dict(experiment='tiny', results=[dict(category='puck', method='tiny', image_auroc=0.9, pixel_auroc=0.75)]),"
           " open('results.json', 'w'))")

# --- crashes: a raw traceback before; one line now ------------------------------------------------------------------
def test_settings_file_missing_run(tmp_path):
    msg = one_line(adnb('run', 'patchcore', '--reports', tmp_path/'rep', env={'ADNB_SETTINGS': '/nonexistent.ini'}))   # as typed: a subprocess
    assert msg == "adnb: ADNB_SETTINGS='/nonexistent.ini' names /nonexistent.ini, which is not a file: fix the path or unset ADNB_SETTINGS"
    assert not (tmp_path/'rep').exists()

def test_settings_file_malformed_run(tmp_path, monkeypatch):
    bad = tmp_path/'bad.ini'; bad.write_text('[run\nseed = 0\n'); monkeypatch.setenv('ADNB_SETTINGS', str(bad))
    msg = refused('run', 'patchcore', '--reports', tmp_path/'rep')
    assert msg.startswith(f'adnb: cannot parse {bad} (line 1): File contains no section headers.') and not (tmp_path/'rep').exists()

@pytest.mark.parametrize('kind', ['missing', 'malformed'])
def test_settings_file_bad_through_batch(tmp_path, kind, monkeypatch):
    bad = tmp_path/'bad.ini'; bad.write_text('[run\nseed = 0\n')
    monkeypatch.setenv('ADNB_SETTINGS', '/nonexistent.ini' if kind == 'missing' else str(bad))
    for extra in ([], ['--dry-run']):
        msg = refused('batch', ROOT/'grids'/'ci.yaml', '--root', tmp_path/'b', *extra)
        assert ('names /nonexistent.ini, which is not a file' if kind == 'missing' else f'cannot parse {bad}') in msg
    assert not (tmp_path/'b').exists()

def test_data_root_symlink_loop(tmp_path, monkeypatch):
    os.symlink('loop', tmp_path/'loop'); monkeypatch.chdir(tmp_path)             # ln -s loop loop
    msg = refused('run', 'patchcore', '-p', 'dataset', 'mvtec_ad', '-p', 'category', 'bottle', '-p', 'data_root', 'loop', '--reports', tmp_path/'rep')
    assert msg.startswith("adnb: parameter data_root = 'loop': ") and 'a symbolic link that points to itself' in msg
    assert not (tmp_path/'rep').exists()

@pytest.mark.parametrize('size', ['0', '-64', '100'])
def test_fit_image_size_not_positive_multiple_of_8(tmp_path, puck, size):
    msg = refused('fit', 'patchcore', '--normal', puck/'train'/'good', '--image-size', size, '--out', tmp_path/'m.pt')
    assert msg == f'adnb: image_size (--image-size) must be a positive multiple of 8, got {size}' and not (tmp_path/'m.pt').exists()

@pytest.mark.parametrize('d', ['0', '-5'])   # -5 was silent: randperm[:-5] kept 171 of 176 channels
def test_fit_padim_d_not_positive(tmp_path, puck, d):
    msg = refused('fit', 'padim', '--normal', puck/'train'/'good', '--d', d, '--out', tmp_path/'m.pt')
    assert msg == f"adnb: d (--d, PaDiM's random channels kept) must be a positive integer, got {d}" and not (tmp_path/'m.pt').exists()

def test_report_out_is_a_file(tmp_path):
    (tmp_path/'runs').mkdir(); (tmp_path/'afile').write_text('keep me')
    msg = refused('report', tmp_path/'runs', '--out', tmp_path/'afile')
    assert msg == f"adnb: --out {tmp_path/'afile'} is a file, not a folder: give a new or existing folder for the report"
    assert (tmp_path/'afile').read_text() == 'keep me'

def test_export_json_not_a_notebook(tmp_path):
    (tmp_path/'notnb.ipynb').write_text(json.dumps({'a': 1}))
    msg = refused('export', tmp_path/'notnb.ipynb')
    assert msg.startswith(f"adnb: {tmp_path/'notnb.ipynb'} is not a Jupyter notebook (") and not (tmp_path/'notnb.html').exists()

def test_unexpected_error_is_one_line(monkeypatch, capsys):
    "Whatever goes wrong inside a subcommand, the user sees one line and exit status 1, never a traceback."
    import adnb.cli as cli
    monkeypatch.setitem(cli.COMMANDS, 'list', lambda a: {}['nope'])
    with pytest.raises(SystemExit) as e: cli.main(['list'])
    assert e.value.code == "adnb: unexpected KeyError: 'nope'\n  this is a bug in adnb; ADNB_DEBUG=1 shows the traceback"

# --- silent: a wrong result before; the right one (or a refusal) now ------------------------------------------------
def _sideways(up:np.ndarray, path:Path, **kw):
    "Save `up` rotated 90° counter-clockwise with EXIF Orientation 6 (view turned clockwise), as a phone does."
    im = Image.fromarray(np.rot90(up, 1).copy()); ex = im.getexif(); ex[0x0112] = 6; im.save(path, exif=ex, **kw)

def test_exif_rotated_jpeg_read_upright(tmp_path):
    "Experiments read every image through `read_image` and masks through `read_mask_file`: both apply the orientation."
    from adnb.datasets import read_image, read_mask_file
    up = np.zeros((40, 60, 3), np.uint8); up[:10, :20] = 255
    _sideways(up, tmp_path/'side.png'); _sideways(up[..., 0], tmp_path/'side_mask.png')
    assert np.array_equal(read_image(tmp_path/'side.png'), up)
    assert np.array_equal(read_mask_file(tmp_path/'side_mask.png'), (up[..., 0] > 0).astype(np.uint8))
    _sideways(up, tmp_path/'side.jpg', quality=95)
    assert read_image(tmp_path/'side.jpg').shape == (40, 60, 3) and np.abs(read_image(tmp_path/'side.jpg').astype(int) - up).mean() < 5

def test_exif_rotated_jpeg_predict(tmp_path, puck, fitted_padim):
    "`adnb predict` on a sideways-stored JPEG gives the score and map of the upright image (the map at the upright size)."
    from adnb.predict import predict_images
    from adnb.datasets import read_image
    img = read_image(puck/'test'/'crack'/'000.png')[:, :96]                         # not square: a rotation shows in the shape
    (tmp_path/'a').mkdir(); (tmp_path/'b').mkdir()
    Image.fromarray(img).save(tmp_path/'a'/'x.png'); _sideways(img, tmp_path/'b'/'x.png')
    ra, rb = (list(__import__('csv').DictReader(open(predict_images(fitted_padim, tmp_path/d, tmp_path/f'p{d}')))) for d in 'ab')
    assert float(ra[0]['score']) == pytest.approx(float(rb[0]['score']), rel=1e-5)
    assert Image.open(tmp_path/'pb'/'x_map.png').size == (96, 128)                  # (W, H) of the upright image

def test_predict_into_folder_with_earlier_prediction(tmp_path, puck, fitted_padim, capsys):
    "A second prediction into the same --out is refused (nothing written); --overwrite replaces the earlier one's files."
    from adnb.cli import main
    main(['predict', str(fitted_padim), str(puck/'test'), '--out', str(tmp_path/'P')])
    before = sorted(p.name for p in (tmp_path/'P').rglob('*'))
    msg = refused('predict', fitted_padim, puck/'test'/'good', '--out', tmp_path/'P')
    assert msg.startswith(f"adnb: --out {tmp_path/'P'} holds an earlier prediction (30 map PNGs and scores.csv); nothing was written")
    assert sorted(p.name for p in (tmp_path/'P').rglob('*')) == before
    capsys.readouterr(); main(['predict', str(fitted_padim), str(puck/'test'/'good'), '--out', str(tmp_path/'P'), '--overwrite'])
    assert 'it replaced the earlier prediction there' in capsys.readouterr().out
    n = len(list((puck/'test'/'good').glob('*.png')))
    assert len(list((tmp_path/'P').rglob('*.png'))) == 2 * n and len((tmp_path/'P'/'scores.csv').read_text().splitlines()) == n + 1

def _wait(pattern, root, timeout=300):   # a busy shared machine can take minutes to start a kernel
    t0 = time.time()
    while time.time() - t0 < timeout:
        hits = list(Path(root).glob(pattern))
        if hits and hits[0].read_text(): return hits[0]
        time.sleep(0.2)
    raise AssertionError(f'{pattern} did not appear under {root}')

def _stopped_after_results(tmp_path, sig):
    "A run whose last cell sleeps after results.json is written, stopped by `sig`; the run folder and the exit status."
    body = ("import os\nopen('kernel.pid', 'w').write(str(os.getpid()))",
            RESULTS + "\nimport time\nopen('written', 'w').write('1')\ntime.sleep(120)")
    nb = tiny_nb(tmp_path/'tiny.ipynb', body)
    proc = subprocess.Popen([*CLI, 'run', str(nb), '--reports', str(tmp_path/'rep'), '--no-progress'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait('tiny/*/written', tmp_path/'rep'); kpid = int(_wait('tiny/*/kernel.pid', tmp_path/'rep').read_text()); time.sleep(0.5)
    proc.send_signal(sig); out, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        try: os.kill(kpid, signal.SIGKILL)                                          # the orphaned kernel
        except OSError: pass
    return next((tmp_path/'rep'/'tiny').iterdir()), proc.returncode, err

def test_sigint_in_last_cell_not_counted_by_report(tmp_path):
    from adnb.run import is_complete
    from adnb.report import result_files
    run, rc, err = _stopped_after_results(tmp_path, signal.SIGINT)
    assert rc == 130 and 'Traceback' not in err and (run/'results.json').exists()
    assert run.name.endswith('.partial') and not is_complete(run)                    # never looks finished
    assert nbformat.read(run/'tiny.ipynb', as_version=4).metadata.adnb.status == 'interrupted'
    assert result_files(tmp_path/'rep') == []                                         # `adnb report` skips it

def test_sigkill_after_results_not_counted_by_report(tmp_path):
    from adnb.run import is_complete
    from adnb.report import result_files
    run, rc, err = _stopped_after_results(tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL and (run/'results.json').exists()
    assert run.name.endswith('.partial') and not is_complete(run) and result_files(tmp_path/'rep') == []

# --- unclear: an error naming the thing now ---------------------------------------------------------------------------
def test_kshot_non_integer():
    from adnb.datasets import DatasetError, Record, kshot
    recs = [Record(f'{i}.png', 'c', 'train', 0) for i in range(4)]
    with pytest.raises(DatasetError, match=r'k \(shots\) must be a whole number, got 2.5 \(float\)'): kshot(recs, 2.5)
    with pytest.raises(DatasetError, match='got True'): kshot(recs, True)
    assert len([r for r in kshot(recs, np.int64(2)) if r.split == 'train']) == 2

def test_evaluate_scores_labels_mismatch():
    from adnb.metrics import MetricError, evaluate
    with pytest.raises(MetricError, match='evaluate got 3 image scores but 2 labels'): evaluate([.1, .5, .9], [0, 1])
    maps = [np.zeros((4, 4)), np.ones((4, 4))]; masks = [np.zeros((4, 4), int), np.ones((4, 4), int)]
    with pytest.raises(MetricError, match='evaluate got 2 image scores but 1 maps'): evaluate([.1, .9], [0, 1], maps[:1], masks[:1])
    assert evaluate([.1, .9], [0, 1], maps, masks)['image_auroc'] == 1.0

def test_settings_seed_not_integer(tmp_path, monkeypatch):
    f = tmp_path/'s.ini'; f.write_text('[run]\nseed = abc\n'); monkeypatch.setenv('ADNB_SETTINGS', str(f))
    msg = refused('run', 'patchcore', '--reports', tmp_path/'rep')
    assert msg == f"adnb: setting seed must be an integer, got 'abc' ({f} [run] seed)" and not (tmp_path/'rep').exists()

# --- checks before the kernel starts ---------------------------------------------------------------------------------
def test_crop_larger_than_image_size_paper_profile(tmp_path):
    "The paper profile's crop 224 with -p image_size 128: refused before any folder or kernel (RULES)."
    from adnb.datasets import write_layout_fixture
    root = write_layout_fixture(tmp_path/'mv', 'mvtec_ad')
    for exp in ('patchcore', 'fapm'):
        t0 = time.time()
        msg = refused('run', exp, '-p', 'dataset', 'mvtec_ad', '-p', 'category', 'toy', '-p', 'data_root', root,
                      '-p', 'image_size', '128', '--reports', tmp_path/'rep')
        assert 'crop (the centre-crop side) must not exceed image_size' in msg and 'crop=224' in msg and 'image_size=128' in msg
        assert time.time() - t0 < 5 and not (tmp_path/'rep').exists()

def test_wrong_data_folder_refused_before_kernel(tmp_path):
    "A data root without the category: one line naming it, in seconds, and no report folder."
    t0 = time.time()
    msg = refused('run', 'patchcore', '-p', 'dataset', 'mvtec_ad', '-p', 'category', 'bottle', '-p', 'data_root', tmp_path/'nowhere',
                  '--reports', tmp_path/'rep')
    assert msg.startswith('adnb: data check before the run (dataset mvtec_ad, category bottle): ') and str(tmp_path/'nowhere') in msg
    assert time.time() - t0 < 5 and not (tmp_path/'rep').exists()

def test_check_records_warnings_on_terminal(tmp_path, capsys):
    "Duplicate images (a test image copied into train) are named on the terminal, not only in the executed notebook."
    root = squares_folder(tmp_path/'data')
    (root/'normal'/'dup.png').write_bytes((root/'bad'/'000.png').read_bytes())
    body = ("from adnb.datasets import folder_records, check_records\n"
            f"info = check_records(folder_records('normal', 'bad', test_normal_dir='good', root={str(root)!r}))", RESULTS)
    from adnb.run import run_experiment
    run_experiment(tiny_nb(tmp_path/'tiny.ipynb', body), {}, reports=tmp_path/'rep', progress=False)
    err = capsys.readouterr().err
    assert 'adnb: warning: 1 pair(s) of byte-identical images in different splits/labels' in err and 'dup.png' in err

def test_no_network_weights_fail_fast(tmp_path, monkeypatch):
    "Without a network and without ADNB_OFFLINE, the kernel runs offline (look-ups go straight to local files): probed once."
    import adnb.config as config
    from adnb.run import run_experiment
    for k in ('ADNB_OFFLINE', 'HF_HUB_OFFLINE'): monkeypatch.delenv(k, raising=False)
    monkeypatch.setitem(config._NET, 'huggingface.co', False)                    # what the probe finds here: no route
    body = ("import os", "import json\njson.dump(dict(experiment='tiny', results=[dict(offline=os.environ.get('ADNB_OFFLINE'), "
            "hf=os.environ.get('HF_HUB_OFFLINE'))]), open('results.json', 'w'))")
    out = run_experiment(tiny_nb(tmp_path/'tiny.ipynb', body), {}, reports=tmp_path/'rep', progress=False)
    assert json.loads((out/'results.json').read_text())['results'] == [dict(offline='1', hf='1')]
    assert 'ADNB_OFFLINE' not in os.environ                                           # only the kernel's environment
    monkeypatch.setenv('ADNB_OFFLINE', '0')                                            # the user's choice wins
    out = run_experiment(tiny_nb(tmp_path/'tiny.ipynb', body), {}, reports=tmp_path/'rep', progress=False)
    assert json.loads((out/'results.json').read_text())['results'] == [dict(offline='0', hf=None)]

# --- first contact (issue 21 item 5) -----------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "One `adnb run` of a tiny notebook that reports stages, through the command line."
    d = tmp_path_factory.mktemp('first')
    body = ("from adnb.config import stage\nstage('features', 'puck'); stage('memory')", "stage('metrics')\n" + RESULTS)
    p = adnb('run', tiny_nb(d/'tiny.ipynb', body), '--reports', d/'rep')
    assert p.returncode == 0, p.stderr[-2000:]
    return p, next((d/'rep'/'tiny').iterdir())

def test_no_kernel_tcp_warning(tiny_run):
    p, _ = tiny_run
    assert 'without encryption' not in p.stderr and 'IPKernelApp' not in p.stderr   # nor the kernel's own log lines

def test_progress_per_stage(tiny_run):
    p, run = tiny_run
    lines = [l.split('] ', 1)[1] for l in p.stderr.splitlines() if l.startswith('  [')]
    assert lines == ['starting the kernel', 'kernel ready', 'section: Fit', 'features: puck', 'memory', 'section: Results', 'metrics']

def test_final_message_headline_metrics(tiny_run):
    p, run = tiny_run
    out = p.stdout.splitlines()
    assert out[0].startswith('adnb: tiny finished in ') and out[1] == '  puck  tiny  image AUROC 0.900 · pixel AUROC 0.750'
    assert out[2:] == [f'  report:  {run/"tiny.ipynb"}', f'  results: {run/"results.json"}']

def test_executed_report_trusted(tiny_run):
    from nbformat.sign import NotebookNotary
    from adnb.run import is_complete
    _, run = tiny_run
    assert is_complete(run) and not run.name.endswith('.partial') and json.loads((run/'run.json').read_text())['trusted'] is True
    assert NotebookNotary().check_signature(nbformat.read(run/'tiny.ipynb', as_version=4))

def test_dataset_option_hint(capsys):
    from adnb.cli import main
    with pytest.raises(SystemExit) as e: main(['run', 'patchcore', '--dataset', 'mvtec_ad'])
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == ("adnb: error: unrecognized arguments: --dataset mvtec_ad; experiment parameters are set with "
                                         "-p NAME VALUE: adnb run patchcore -p dataset mvtec_ad")

def test_export_creates_missing_folders_and_hides_code(tmp_path, capsys):
    from adnb.cli import main
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Report'), nbformat.v4.new_code_cell('secret_code_line = 6*7')])
    nb.cells[1].outputs = [nbformat.v4.new_output('execute_result', {'text/plain': '42'}, execution_count=1)]
    nbformat.write(nb, tmp_path/'r.ipynb')
    main(['export', str(tmp_path/'r.ipynb'), '-o', str(tmp_path/'new'/'sub'/'r.html')])
    html = (tmp_path/'new'/'sub'/'r.html').read_text(); assert '42' in html and 'secret_code_line' not in html   # code hidden by default
    main(['export', str(tmp_path/'r.ipynb'), '-o', str(tmp_path/'code.html'), '--with-code'])
    assert 'secret_code_line' in (tmp_path/'code.html').read_text()
    main(['export', str(tmp_path/'r.ipynb'), '-o', str(tmp_path/'dir') + '/']); assert (tmp_path/'dir'/'r.html').is_file()
    main(['export', str(tmp_path/'r.ipynb'), '-o', str(tmp_path/'html')])              # no slash, no .html: a folder too
    assert (tmp_path/'html').is_dir() and (tmp_path/'html'/'r.html').is_file()

def test_nbconvert_declared():
    import tomllib
    deps = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['dependencies']
    assert any(d.startswith('nbconvert') for d in deps) and any(d.startswith('nbformat') for d in deps)

def test_batch_wrong_data_folder_refused_before_any_run(tmp_path):
    "A grid whose data root lacks the category: one line naming the entry and the category; no batch folder."
    (tmp_path/'g.yaml').write_text(f"name: g\nexperiments:\n  - experiment: patchcore\n    fixed: {{dataset: mvtec_ad, category: bottle, data_root: {tmp_path/'nowhere'}}}\n")
    msg = refused('batch', tmp_path/'g.yaml', '--root', tmp_path/'b')
    assert msg.startswith(f"adnb: {tmp_path/'g.yaml'}: experiments[0] (patchcore): data check before the run (dataset mvtec_ad, category bottle)")
    assert not (tmp_path/'b').exists()

def test_dfm_epochs_zero_refused_before_kernel(tmp_path):
    "`adnb run dfm -p epochs 0` would label the untrained baseline 'dfm': refused by its spec, in seconds, no report folder."
    t0 = time.time()
    msg = refused('run', 'dfm', '-p', 'epochs', '0', '--reports', tmp_path/'rep')
    assert 'parameter epochs must be a positive integer (got 0)' in msg and time.time() - t0 < 5 and not (tmp_path/'rep').exists()

@pytest.mark.parametrize('args, words', [
    (('-p', 'shots', '[0, 2]'), ['shots must hold positive integers', 'shots=[0, 2]']),
    (('-p', 'setting', 'continual', '-p', 'category', 'brick'), ['setting continual needs at least two tasks', "category='brick'"]),
    (('-p', 'setting', 'supervised', '-p', 'ablation', 'components'), ['ablation runs in setting fewshot only'])])
def test_dfm_rules_before_kernel(tmp_path, args, words):
    "DFM's checks between parameters run before the kernel (RULES), naming the values they read."
    msg = refused('run', 'dfm', *args, '--reports', tmp_path/'rep')
    assert all(w in msg for w in words), msg
    assert not (tmp_path/'rep').exists()

@pytest.mark.parametrize('args, words', [
    (('-p', 'detectors', "['patchcore', 'knn']"), ['detectors: choose from patchcore, padim, featurenorm']),
    (('-p', 'synthetic', "['cutpaste', 'dream']"), ['synthetic: choose from cutpaste, perlin']),
    (('-p', 'fewshot', '[0, 4]'), ['fewshot: every K must be a positive integer', 'fewshot=[0, 4]']),
    (('-p', 'category', 'brick', '-p', 'pretrain_categories', "['brick', 'grass']"), ['must not include the evaluation category'])])
def test_adpretrain_rules_before_kernel(tmp_path, args, words):
    "ADPretrain's detector, synthetic, few-shot and leak checks run before the kernel, so no pretraining is lost to them."
    t0 = time.time()
    msg = refused('run', 'adpretrain', *args, '--reports', tmp_path/'rep')
    assert all(w in msg for w in words), msg
    assert time.time() - t0 < 5 and not (tmp_path/'rep').exists()
