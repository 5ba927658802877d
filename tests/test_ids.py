"""Canonical paper ids (server/ids.py) against the vectors shared with extension/lib/ids.js."""

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.ids import (
    InvalidPaper,
    canonical_id,
    identify,
    normalize_id,
    normalize_url,
    paper_id_from_url,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "id_vectors.json").read_text("utf-8"))
FUNCTIONS = {
    "paper_id_from_url": paper_id_from_url,
    "normalize_url": normalize_url,
    "normalize_id": normalize_id,
    "canonical_id": canonical_id,
}
CASES = [
    pytest.param(name, case, id=f"{name}[{i}]")
    for name in FUNCTIONS
    for i, case in enumerate(VECTORS[name])
]


@pytest.mark.parametrize(("name", "case"), CASES)
def test_shared_vectors(name, case):
    function = FUNCTIONS[name]
    if case.get("error"):
        with pytest.raises(InvalidPaper):
            function(case["in"])
    else:
        assert function(case["in"]) == case["out"]


def test_vectors_cover_every_site_family():
    outputs = {case.get("out", "") for case in VECTORS["paper_id_from_url"]}
    for prefix in ("arxiv:", "doi:", "openreview:", "acl:", "s2:", "url:"):
        assert any(out.startswith(prefix) for out in outputs), prefix
    assert sum(1 for case in VECTORS["paper_id_from_url"] if case.get("error")) >= 10


def test_one_paper_however_opened():
    urls = [
        "https://arxiv.org/abs/2401.00001v3",
        "https://arxiv.org/pdf/2401.00001v2.pdf",
        "https://arxiv.org/html/2401.00001v1",
        "https://www.alphaxiv.org/abs/2401.00001",
        "https://huggingface.co/papers/2401.00001",
        "https://doi.org/10.48550/arXiv.2401.00001",
    ]
    assert {paper_id_from_url(url) for url in urls} == {"arxiv:2401.00001"}


def test_messages_say_what_is_wrong():
    with pytest.raises(InvalidPaper, match="http or https"):
        paper_id_from_url("javascript:alert(1)")
    with pytest.raises(InvalidPaper, match="no scheme"):
        normalize_id("2401.00001")
    with pytest.raises(InvalidPaper, match="needs an id"):
        canonical_id({"title": "x"})
    with pytest.raises(InvalidPaper, match="longer than 512"):
        normalize_id("seed:" + "x" * 600)


def test_invalid_paper_is_a_value_error():
    assert issubclass(InvalidPaper, ValueError)


# --- properties -------------------------------------------------------------------------------

URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}://{host}{path}{query}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "javascript"]),
        st.sampled_from(
            [
                "arxiv.org",
                "www.semanticscholar.org",
                "openreview.net",
                "aclanthology.org",
                "doi.org",
                "www.biorxiv.org",
                "Example.COM:443",
                "a:80",
                "[::1]:1",
                "u@h",
                "",
            ]
        ),
        st.text(alphabet="/abcdefv0123456789.-%:@?#ABCDEF \\", max_size=40),
        st.text(alphabet="?&=id#abc", max_size=12),
    ),
)
IDISH = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, rest: f"{scheme}:{rest}",
        st.sampled_from(["arxiv", "doi", "openreview", "acl", "s2", "url", "seed", "DOI", "ct"]),
        st.text(alphabet="0123456789./abcdefhpt-:vABCDEF", max_size=50),
    ),
)


@settings(max_examples=400, deadline=None)
@given(URLISH)
@example("https://doi.org/10.48550/arXiv.2401.00001")
@example("http://a:0080/")
def test_urls_never_crash_and_are_idempotent(url):
    try:
        paper_id = paper_id_from_url(url)
    except InvalidPaper:
        return
    assert normalize_id(paper_id) == paper_id
    normalized = normalize_url(url)
    assert normalize_url(normalized) == normalized
    assert paper_id_from_url(normalized) == paper_id


@settings(max_examples=400, deadline=None)
@given(IDISH)
@example("doi:10.48550/arxiv.hep-th/9901001")
def test_ids_never_crash_and_are_idempotent(paper_id):
    try:
        canonical = normalize_id(paper_id)
    except InvalidPaper:
        return
    assert normalize_id(canonical) == canonical
    assert canonical_id({"id": canonical}) == canonical


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "doi", "arxiv_id", "url", "title"]),
        st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3)), IDISH, URLISH),
    )
)
def test_canonical_id_never_crashes(paper):
    try:
        canonical = canonical_id(paper)
    except InvalidPaper:
        return
    assert canonical_id({"id": canonical}) == canonical


def test_identify_answers_what_the_general_url_rules_do():
    """identify() reads common arXiv URLs by a shortcut; over every combination of the URL's
    parts around that shape it must answer what the full rules do (or refuse it as they do)."""
    parts = itertools.product(
        ["https", "http", "HTTPS"],
        [
            "arxiv.org",
            "www.arxiv.org",
            "export.arxiv.org",
            "ARXIV.org",
            "arxiv.org:443",
            "u@arxiv.org",
            "xarxiv.org",
            "www2.arxiv.org",
        ],
        ["abs", "pdf", "html", "ABS"],
        ["2401.00001", "2401.0001", "240.00001", "2401.000012", "hep-th/9901001"],
        ["", "v1", "v12", "v", "V2"],
        ["", ".pdf", ".PDF", "/", "?x=1", "#f", " ", "\n", "/v1"],
    )
    for scheme, host, kind, number, version, tail in parts:
        url = f"{scheme}://{host}/{kind}/{number}{version}{tail}"
        for others in ({}, {"id": "", "doi": None}, {"id": "doi:10.1/x"}):
            paper = {"url": url, **others}
            try:
                paper_id = normalize_id(others["id"]) if others.get("id") else None
                expected = (paper_id or paper_id_from_url(url), normalize_url(url))
            except InvalidPaper:
                with pytest.raises(InvalidPaper):
                    identify(paper)
                continue
            assert identify(paper) == expected, paper


@given(st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.binary()))
def test_wrong_types_are_invalid(value):
    for function in (normalize_id, paper_id_from_url, normalize_url):
        with pytest.raises(InvalidPaper):
            function(value)
    with pytest.raises(InvalidPaper):
        canonical_id(value)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_python_and_javascript_agree_on_random_input(tmp_path):
    """Differential check: server/ids.py and extension/lib/ids.js on the same random strings."""
    rng = random.Random(1)
    alphabet = "abcdefhpsvxz0123456789.:/-?#=&%@[]\\ ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00e9\u0130\u212a\t"
    prefixes = ["", "https://", "http://arxiv.org/abs/", "https://doi.org/10.", "doi:10.", "arxiv:"]
    prefixes += ["url:https://", "https://openreview.net/forum?id=", "https://aclanthology.org/"]
    prefixes += ["https://www.biorxiv.org/content/10.1101/", "s2:", "HTTP://EXAMPLE.com:"]
    cases = [
        rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        for _ in range(3000)
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases), "utf-8")
    ids_js = (Path(__file__).parents[1] / "extension" / "lib" / "ids.js").as_uri()
    script = f"""
import {{normalizeId, paperIdFromUrl, normalizeUrl, canonicalId}} from {json.dumps(ids_js)};
import {{readFileSync}} from "node:fs";
const cases = JSON.parse(readFileSync(process.argv[1], "utf8"));
const run = (f, x) => {{ try {{ return f(x); }} catch (e) {{
  if (e.name !== "InvalidPaper") throw e; return null; }} }};
console.log(JSON.stringify(cases.map((s) => [run(normalizeId, s), run(paperIdFromUrl, s),
  run(normalizeUrl, s), run(canonicalId, {{id: s}}), run(canonicalId, {{doi: s}})])));
"""
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script, str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    def run(function, value):
        try:
            return function(value)
        except InvalidPaper:
            return None

    expected = [
        [
            run(normalize_id, s),
            run(paper_id_from_url, s),
            run(normalize_url, s),
            run(canonical_id, {"id": s}),
            run(canonical_id, {"doi": s}),
        ]
        for s in cases
    ]
    mismatches = [
        (s, e, j) for s, e, j in zip(cases, expected, json.loads(out), strict=True) if e != j
    ]
    assert mismatches == []
