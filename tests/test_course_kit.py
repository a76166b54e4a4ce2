"""The course kit (adnb.course, `adnb course build | grade`): the student set holds no solution, no hidden test and no
answer the answers file lists (outside the lesson edits it declares pending); the reference solutions score full marks
and a blank submission zero. Building takes seconds and is tested by default; grading executes notebooks (a fresh kernel
each), so it is in the slow run: one assignment with a broken submission, every assignment and questionnaire, every
lesson's reference."""
import csv, json, re, shutil, subprocess, sys
from pathlib import Path
import nbformat, pytest, yaml

pytest.importorskip('otter', reason='the course kit needs otter-grader (pip install -e ".[dev]")')
from adnb.course import build_course, grade_course, lesson_exercises, answer_hits
from adnb.docs import COURSE

ROOT = Path(__file__).parents[1]
NBS = ROOT/'nbs'
MASTERS = NBS/'course'/'assignments'
ANSWERS = yaml.safe_load((MASTERS/'answers.yaml').read_text())
LESSONS = [Path(n).name for n in COURSE]

@pytest.fixture(scope='module')
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp('course')/'kit'
    man = build_course(NBS, out, quiet=True)
    return out, man

def _student(kit):
    out, _ = kit
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted((out/'student').glob('*/*.ipynb'))}

def _strings(x):
    if isinstance(x, str): yield x
    elif isinstance(x, dict): yield from (s for v in x.values() for s in _strings(v))
    elif isinstance(x, list): yield from (s for v in x for s in _strings(v))

def _text(nb): return '\n'.join(_strings(json.loads(json.dumps(nb))))

def test_kit_has_every_part(kit):
    out, man = kit
    kinds = [i['kind'] for i in man['items']]
    assert kinds.count('lesson') == 9 and kinds.count('assignment') == 8 and kinds.count('questionnaire') == 9
    assert {i['name'] for i in man['items'] if i['kind'] == 'assignment'} == {f'a{n[:2]}_{n[3:]}' for n in LESSONS[1:]}
    assert {i['name'] for i in man['items'] if i['kind'] == 'questionnaire'} == {f'q{n[:2]}_{n[3:]}' for n in LESSONS}
    for i in man['items']:
        assert (out/i['student']).exists() and (out/i['autograder']).exists() and (out/'solutions'/f"{i['name']}.ipynb").exists()
        assert i['points'] > 0 and all(v > 0 for v in i['questions'].values()), i
    assert (out/'student'/'reports'/'records').is_dir() and (out/'student'/'README.md').exists()
    assert json.loads((out/'course.json').read_text()) == man

def test_student_lessons_hold_no_solution(kit):
    "No folded solution, no solution code or explanation, no check; exercises are cells to fill, with no output."
    st = _student(kit)
    for name in LESSONS:
        lesson = nbformat.read(NBS/f"{'course/' if name.startswith('00') else ''}{name}.ipynb", as_version=4)
        nb, text = st[name], _text(st[name])
        assert '<summary>Solution' not in text and 'Solutions are folded' not in text
        for e in lesson_exercises(lesson):
            rest = '\n'.join(c.source for c in lesson.cells if c.get('id') not in (e['cell'], e['solution_cell']))
            for l in e['solution'].splitlines() + re.split(r'(?<=[.:;])\s+|\n', e['explanation']):
                if len(l.strip()) >= 16 and l.strip() not in rest: assert l.strip() not in text, (name, e['n'], l)
            assert f"if {e['var']} is not None:" not in text                        # the check is a hidden test now
            cell = next(c for c in nb.cells if c.cell_type == 'code' and c.source.startswith(f"# Exercise {e['n']}:"))
            assert re.search(rf"^{e['var']} = None\b", cell.source, re.M) and not cell.outputs
            assert f'grader.check("ex{e["n"]}")' in text

def test_student_masters_hold_no_solution_or_hidden_test(kit):
    "Assignments and questionnaires: the solution lines and hidden tests of the master are not in the student notebook."
    st = _student(kit)
    for p in sorted(MASTERS.glob('*.ipynb')):
        m, text = nbformat.read(p, as_version=4), _text(st[p.stem])
        block, secret = None, []
        for c in m.cells:
            if c.cell_type == 'raw':
                block = {'# BEGIN SOLUTION': 'sol', '# END SOLUTION': None, '# BEGIN TESTS': 'tests', '# END TESTS': None}.get(c.source.strip(), block)
            elif block == 'sol':
                inside = False
                for l in c.source.splitlines():
                    if '# BEGIN SOLUTION' in l: inside = True
                    elif '# END SOLUTION' in l: inside = False
                    elif inside or l.rstrip().endswith('# SOLUTION'): secret.append(l.replace('# SOLUTION', '').strip())
            elif block == 'tests' and 'hidden: true' in c.source:
                secret += [l.strip() for l in c.source.splitlines()[3:]]
        secret = [s for s in secret if len(s) >= 12]
        assert secret, p                                                            # the master has something to hide
        for s in secret: assert s not in text, (p.stem, s)
        assert 'hidden: true' not in text and "'hidden': True" not in text

def test_no_listed_answer_left_unless_pending(kit):
    "Every answer pattern of answers.yaml: absent from the student set, except in the cells whose lesson edit is pending."
    out, man = kit
    st = _student(kit)
    pending = {(Path(k).name, cid) for k, v in ANSWERS.items() for cid in (v or {}).get('pending', {})}
    every = {f"{Path(k).name} ex{n}": ps for k, v in ANSWERS.items() for n, ps in (v or {}).get('answers', {}).items()}
    found = set()
    for name, nb in st.items():
        own = {k: v for k, v in every.items() if k.startswith(f'{name} ')} if name in LESSONS else every
        found |= {(name, cid) for _, cid, _, _ in answer_hits(nb, own)}
    assert found <= pending, sorted(found - pending)
    assert {(l['notebook'], l['cell']) for l in man['leaks']} == found               # the build reports the same
    for k, v in ANSWERS.items():                                                     # figures listed to drop are gone
        for cid in (v or {}).get('drop_outputs', []):
            assert not next(c for c in st[Path(k).name].cells if c.get('id') == cid).outputs, (k, cid)
    # the leaks the issue named are gone: PatchCore's printed bank size, FAPM's caption, 00's check message
    assert '-> 410 in the memory bank' not in _text(st['10_patchcore']) and 'Total memory: 1,024' not in _text(st['12_fapm'])
    assert 'the two overlaps are' not in _text(st['00_start_here'])

def test_lessons_keep_their_figures(kit):
    "Only answer-revealing outputs go: See it work keeps its stored figures."
    st = _student(kit)
    for name in LESSONS[1:]:
        pngs = [o for c in st[name].cells if c.cell_type == 'code' for o in c.outputs if 'image/png' in o.get('data', {})]
        assert len(pngs) >= 2, name

def _grade(kit, subs:dict, tmp_path):
    "Grade SUBMISSIONS/<student>/<name>.ipynb made from `subs` {student: {name: notebook path}}; the grade rows."
    out, _ = kit
    root = tmp_path/'submissions'
    for s, files in subs.items():
        (root/s).mkdir(parents=True)
        for n, p in files.items():
            if isinstance(p, Path): shutil.copy(p, root/s/f'{n}.ipynb')
            else: (root/s/f'{n}.ipynb').write_text(p)
    rows = grade_course(root, out, tmp_path/'grades.csv', quiet=True)
    return {r['student']: r for r in rows}

@pytest.mark.slow          # ~25 s on an idle 2-core CPU (three kernels), minutes on a loaded one
def test_grade_reference_full_blank_zero_one_assignment(kit, tmp_path, monkeypatch):
    out, man = kit
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    it = next(i for i in man['items'] if i['name'] == 'a12_fapm')
    g = _grade(kit, {'ref': {'a12_fapm': out/'solutions'/'a12_fapm.ipynb'}, 'blank': {'a12_fapm': out/it['student']},
                     'broken': {'a12_fapm': 'not a notebook'}}, tmp_path)
    assert g['ref']['a12_fapm'] == it['points'] == g['ref']['total'] == 6
    assert g['blank']['a12_fapm'] == 0 and g['broken']['a12_fapm'] == 0
    rows = list(csv.DictReader(open(tmp_path/'grades.csv')))
    assert [r['student'] for r in rows] == ['blank', 'broken', 'ref'] and list(rows[0]) == ['student', 'a12_fapm', 'total']
    q = list(csv.DictReader(open(tmp_path/'grades_questions.csv')))
    assert {r['question'] for r in q} == {'q1', 'q2'} and any(r['error'] for r in q if r['student'] == 'broken')

def test_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'adnb.cli', 'course', 'grade', str(tmp_path), '--kit', str(tmp_path/'nokit')],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == f"adnb: no course kit in {tmp_path/'nokit'} (course.json missing): run `adnb course build --out {tmp_path/'nokit'}` first"

def test_bad_master_name_refused(tmp_path):
    nbs = tmp_path/'nbs'; shutil.copytree(NBS/'course', nbs/'course')
    for n in COURSE[1:]: shutil.copy(NBS/f'{n}.ipynb', nbs/f'{n}.ipynb')
    shutil.copy(MASTERS/'q10_patchcore.ipynb', nbs/'course'/'assignments'/'homework.ipynb')
    with pytest.raises(ValueError, match=r'homework.ipynb: a course master is named aNN_<lesson>.ipynb'):
        build_course(nbs, tmp_path/'kit', quiet=True)

@pytest.mark.slow
def test_grade_every_assignment_and_questionnaire(kit, tmp_path, monkeypatch):
    "References: full marks; blank student notebooks: zero, for all 17 assignments and questionnaires and the start lesson."
    out, man = kit
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    items = [i for i in man['items'] if i['kind'] != 'lesson' or i['name'] == '00_start_here']
    g = _grade(kit, {'reference': {i['name']: out/'solutions'/f"{i['name']}.ipynb" for i in items},
                     'blank': {i['name']: out/i['student'] for i in items}}, tmp_path)
    for i in items: assert g['reference'][i['name']] == i['points'] and g['blank'][i['name']] == 0, i['name']

@pytest.mark.slow
@pytest.mark.parametrize('name', LESSONS[1:])
def test_grade_lesson_reference(kit, tmp_path, monkeypatch, name):
    "A lesson's reference (its folded solutions in place) gets every exercise's point from the hidden tests."
    out, man = kit
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    it = next(i for i in man['items'] if i['name'] == name)
    g = _grade(kit, {'reference': {name: out/'solutions'/f'{name}.ipynb'}}, tmp_path)
    assert g['reference'][name] == it['points'] == 3

def test_student_links_resolve(kit):
    "Every relative notebook link in the student set points at a notebook of the set (lessons link each other in lessons/)."
    out, _ = kit
    for p in sorted((out/'student').glob('*/*.ipynb')):
        for c in nbformat.read(p, as_version=4).cells:
            if c.cell_type != 'markdown': continue
            for link in re.findall(r'\]\((?!https?:)([^)#]+\.ipynb)', c.source): assert (p.parent/link).exists(), (p.name, link)
