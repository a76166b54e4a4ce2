"""`adnb docs` refuses bad arguments in one line before building anything, and never publishes an incomplete run."""
import json
from pathlib import Path
import nbformat, pytest
from adnb.cli import main
from adnb.docs import report_notebooks
from adnb.runs import run_status

def _adnb(*argv)->str:
    "The one-line error `adnb ...` exits with."
    with pytest.raises(SystemExit) as e: main(list(argv))
    return str(e.value)

def test_docs_out_file_is_one_line_naming_out(tmp_path):
    f = tmp_path/'site.html'; f.write_text('mine')
    msg = _adnb('docs', '--nbs', 'nbs', '--out', str(f))
    assert msg.startswith('adnb: --out ') and 'is a file, not a folder' in msg and '\n' not in msg
    assert f.read_text() == 'mine' and not (tmp_path/'_proc').exists()                     # nothing built, nothing replaced

def test_docs_missing_reports_is_one_line_naming_reports(tmp_path):
    msg = _adnb('docs', '--nbs', 'nbs', '--out', str(tmp_path/'site'), '--reports', str(tmp_path/'nope'))
    assert msg.startswith('adnb: --reports ') and 'no such folder' in msg and '\n' not in msg
    assert not (tmp_path/'site').exists() and not (tmp_path/'_proc').exists()

def _run(root:Path, name:str, status='done', results=True):
    f = root/'patchcore'/name; f.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Run')]), f/'patchcore.ipynb')
    if results: (f/'results.json').write_text('{}')
    if status: (f/'run.json').write_text(json.dumps(dict(status=status)))
    return f

def test_docs_reports_skip_killed_runs(tmp_path):
    "A SIGKILLed run keeps its .partial name even when results.json and run.json were written; it is never a page."
    ok = _run(tmp_path, '20260101-000000')
    killed = _run(tmp_path, '20260102-000000.partial')
    unfinished = _run(tmp_path, '20260103-000000', status='running')
    legacy = _run(tmp_path, '20260104-000000', status=None)
    assert report_notebooks(tmp_path) == [ok/'patchcore.ipynb']
    assert [run_status(p)[0] for p in (ok, killed, unfinished, legacy)] == [True, False, False, False]
