"A plain (non-editable) install ships the report notebook and the paper tables: `build_report` works outside the checkout."
import os, shutil, subprocess, sys, venv, zipfile
from pathlib import Path
import pytest
from conftest import ROOT, child_venv
from test_report import _runs, _tables

pytestmark = pytest.mark.slow

def test_wheel_ships_report_and_tables(tmp_path):
    src = tmp_path/'src'; src.mkdir()
    for f in ('pyproject.toml', 'setup.py', 'README.md'): shutil.copy2(ROOT/f, src/f)
    ign = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints')
    shutil.copytree(ROOT/'adnb', src/'adnb', ignore=ign)
    for d in ('experiments', 'reports'): shutil.copytree(ROOT/'nbs'/d, src/'nbs'/d, ignore=ign)
    _tables(src/'reports'/'paper_tables')                                  # hand-made rows: the real tables may be mid-edit
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path/'dist'), str(src)],
                   check=True, capture_output=True, text=True)
    whl = next((tmp_path/'dist').glob('adnb-*.whl'))
    names = zipfile.ZipFile(whl).namelist()
    assert 'adnb/reports/index.ipynb' in names and 'adnb/paper_tables/t.csv' in names and 'adnb/experiments/patchcore.ipynb' in names
    py, site = child_venv(tmp_path/'venv')                                   # sees this interpreter's packages (venv or conda), not the base's
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '--no-deps', '--ignore-installed', '-q', str(whl)],
                   check=True, capture_output=True, text=True)
    cwd = tmp_path/'elsewhere'; cwd.mkdir(); runs = _runs(tmp_path/'runs')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'ADNB_REPORT_NB')}
    env['JUPYTER_PATH'] = os.pathsep.join([str(Path(sys.prefix)/'share'/'jupyter')] + ([os.environ['JUPYTER_PATH']] if os.environ.get('JUPYTER_PATH') else []))   # the borrowed packages' data files (nbconvert's templates)
    code = ("from adnb.report import report_notebook, default_tables_dir, build_report; print(report_notebook()); print(default_tables_dir()); "
            f"print(build_report({str(runs)!r}, 'out'))")
    r = subprocess.run([str(py), '-c', code], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [str(site/'adnb'/'reports'/'index.ipynb'), str(site/'adnb'/'paper_tables'), str(cwd/'out'/'index.html')]
    assert 'patchcore · Table 1' in (cwd/'out'/'index.html').read_text()
