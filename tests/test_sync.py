"Notebooks and the generated library must agree: nbdev-export on a clean checkout changes nothing."
import shutil, subprocess
from conftest import ROOT
import pytest

@pytest.mark.skipif(shutil.which('git') is None or not (ROOT/'.git').exists(), reason='not a git checkout')
def test_export_leaves_tree_clean():
    before = subprocess.run(['git', 'status', '--porcelain', '--', 'adnb'], cwd=ROOT, capture_output=True, text=True).stdout
    subprocess.run(['nbdev-export'], cwd=ROOT, check=True)
    after = subprocess.run(['git', 'status', '--porcelain', '--', 'adnb'], cwd=ROOT, capture_output=True, text=True).stdout
    assert before == after, f'nbdev-export changed adnb/: notebooks and library are out of sync\n{after}'
    untracked = subprocess.run(['git', 'ls-files', '--others', '--exclude-standard', 'adnb'], cwd=ROOT, capture_output=True, text=True).stdout
    assert not untracked, f'adnb/ holds files git does not track: {untracked}'
