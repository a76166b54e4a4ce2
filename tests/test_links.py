"""No dead link, offline: every relative link and image in the notebooks' markdown, the course pages and the READMEs
points at a file that exists (and at a heading that exists, for `#anchor` links into the course's markdown pages);
the course's pipeline diagrams are what `adnb.docs.write_diagrams` draws; and (slow) every internal link and resource
of the built docs site resolves."""
import json, os, re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse
import pytest

ROOT = Path(__file__).parents[1]
NBS = ROOT/'nbs'
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|<(?:a|img)\s[^>]*?(?:href|src)="([^"]+)"')
SLIDES = re.compile(r'(?:\.\./)*slides/([\w]+)\.slides\.html$')     # decks `adnb docs` writes into _docs/slides/
# Links known dead while a lesson is being fixed (each entry must go when its link is fixed).
PENDING = set()                                    # (notebook, link) pairs known dead and being fixed: none
SITE_PENDING = set()                               # the same, on the built site: none

def _markdown_sources():
    "(file, markdown text) of every notebook markdown cell and markdown page the course and the library show."
    for p in [*sorted(NBS.glob('*.ipynb')), *sorted((NBS/'course').glob('*.ipynb')), *sorted((NBS/'course').glob('*.md')),
              ROOT/'README.md']:
        if p.suffix == '.md': yield p, p.read_text(encoding='utf-8'); continue
        for c in json.loads(p.read_text(encoding='utf-8'))['cells']:
            if c['cell_type'] == 'markdown': yield p, ''.join(c['source'])

def _code_spans_removed(md:str)->str:
    "Markdown without fenced code blocks and inline code (links there are examples, not links)."
    md = re.sub(r'```.*?```', '', md, flags=re.S)
    return re.sub(r'`[^`\n]*`', '', md)

def _anchors(md:str)->set:
    "GitHub/MyST-style slugs of the headings of a markdown text."
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-') for h in re.findall(r'^#{1,6}\s+(.+)$', md, re.M)}

def dead_links()->list:
    out = []
    for f, md in _markdown_sources():
        for m in LINK.finditer(_code_spans_removed(md)):
            target = m.group(1) or m.group(2)
            u = urlparse(target)
            if u.scheme or target.startswith(('#', 'mailto:')): continue
            path, _, anchor = unquote(target).partition('#')
            rel = f.relative_to(ROOT).as_posix()
            if (rel, target) in PENDING: continue
            if (s := SLIDES.search(path)):
                if not [p for p in (NBS/f'{s.group(1)}.ipynb', NBS/'course'/f'{s.group(1)}.ipynb') if p.exists()]: out.append((rel, target, 'no lesson for this deck'))
                continue
            t = (f.parent/path).resolve()
            if not t.exists(): out.append((rel, target, 'missing')); continue
            if anchor and t.suffix == '.md' and anchor not in _anchors(t.read_text(encoding='utf-8')): out.append((rel, target, 'no such heading'))
    return out

def test_no_dead_links_in_markdown():
    assert dead_links() == []

def test_pending_links_still_pending():
    "An entry of PENDING whose link was fixed must go (so the list cannot hide a new dead link)."
    found = {(f.relative_to(ROOT).as_posix(), m.group(1) or m.group(2)) for f, md in _markdown_sources() for m in LINK.finditer(_code_spans_removed(md))}
    assert PENDING <= found, PENDING - found

def test_link_checker_finds_dead_links(tmp_path, monkeypatch):
    "The checker itself: a dead file link and a dead heading anchor are reported, a live link and a URL are not."
    (tmp_path/'nbs'/'course').mkdir(parents=True); (tmp_path/'nbs'/'course'/'a.md').write_text('# A\n## Real heading\n')
    (tmp_path/'nbs'/'course'/'b.md').write_text('[ok](a.md#real-heading) [web](https://x.org/y.md) [gone](nope.md) [bad](a.md#no-heading) `[code](x.md)`')
    (tmp_path/'README.md').write_text('[ok](nbs/course/a.md)')
    monkeypatch.setattr(__import__(__name__), 'ROOT', tmp_path); monkeypatch.setattr(__import__(__name__), 'NBS', tmp_path/'nbs')
    assert dead_links() == [('nbs/course/b.md', 'nope.md', 'missing'), ('nbs/course/b.md', 'a.md#no-heading', 'no such heading')]

def test_diagrams_are_up_to_date(tmp_path):
    "The stored SVGs are what the code draws: after changing `adnb.docs.PIPELINES`, run `write_diagrams()`."
    from adnb.docs import write_diagrams
    for f in write_diagrams(tmp_path):
        stored = NBS/'course'/'diagrams'/f.name
        assert stored.exists() and stored.read_bytes() == f.read_bytes(), f"{stored} is stale: python -c 'from adnb.docs import write_diagrams; write_diagrams()'"

class _Refs(HTMLParser):
    def __init__(self): super().__init__(); self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'img', 'script', 'link', 'iframe', 'source'): self.refs.append(a[k])

@pytest.mark.slow
def test_built_site_has_no_dead_links(tmp_path_factory):
    "Every relative href/src of every page of the built site (slides included) resolves, anchors too; nothing points off-site but plain links."
    if pre := os.environ.get('ADNB_DOCS_SITE'): site = Path(pre)
    else:
        pytest.importorskip('myst_nb'); pytest.importorskip('sphinx_revealjs')
        from adnb.docs import build_docs
        site = build_docs(NBS, tmp_path_factory.mktemp('docs')/'_docs', quiet=True)
    pages, ids, bad = sorted(p for p in site.rglob('*.html') if '_static' not in p.relative_to(site).parts), {}, []   # _static: theme templates
    parsed = {}
    for p in pages:
        r = _Refs(); r.feed(p.read_text(encoding='utf-8', errors='replace')); parsed[p] = r; ids[p.resolve()] = r.ids
    assert len(pages) > 30
    for p, r in parsed.items():
        for ref in r.refs:
            u = urlparse(ref)
            if u.scheme in ('http', 'https', 'mailto', 'data', 'javascript') or ref.startswith('//'): continue
            if (p.relative_to(site).as_posix(), ref) in SITE_PENDING: continue
            path, anchor = unquote(u.path), u.fragment
            t = (p.parent/path).resolve() if path else p.resolve()
            if not t.exists(): bad.append((p.relative_to(site).as_posix(), ref)); continue
            if anchor and t.suffix == '.html' and t in ids and anchor not in ids[t] and not anchor.startswith('/'): bad.append((p.relative_to(site).as_posix(), ref))
    assert not bad, bad[:20]
