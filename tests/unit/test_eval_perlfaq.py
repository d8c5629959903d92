"""The Perl FAQ evaluation set: read from Debian's perl-doc (installed by .ci/debian-packages.sh, never skipped),
its POD rendered to text, and kept out of every training source."""

from __future__ import annotations

import re
import shutil

import pytest

from lens_vdb import LensDependencyError, LensInputError
from lens_vdb.eval import perl_faq_corpus
from lens_vdb.eval._perlfaq import _entries, find_perlfaq, pod_to_text, read_perl_faq
from lens_vdb.train._manpages import EVAL_PAGES, MAN_DIR, _pages, manpage_pairs

_WORD = re.compile(r"\w+")


def test_the_real_faq_gives_question_to_answer_pairs_across_its_nine_parts():
    corpus = perl_faq_corpus()
    assert corpus.size >= 300 and len(corpus.documents) == corpus.size
    assert sorted(set(corpus.labels or [])) == [f"perlfaq{n}" for n in range(1, 10)]
    assert len(set(corpus.queries)) == corpus.size and len(set(corpus.documents)) == corpus.size
    assert sum(q.endswith("?") for q in corpus.queries) >= 0.95 * corpus.size
    what = corpus.queries.index("What is Perl?")
    assert corpus.documents[what].startswith("Perl is a high-level programming language")
    assert corpus.qrels[corpus.query_ids[what]] == {corpus.doc_ids[what]: 1}
    for question, answer in zip(corpus.queries, corpus.documents):
        assert question.lower().rstrip("?") not in answer.lower()  # the answer does not give the question away
        assert len(answer.split()) <= 256 and not answer.lower().startswith("(contributed by")


def test_limit_spreads_evenly_across_the_parts_and_is_stable():
    first, again = perl_faq_corpus(limit=30, doc_words=40), perl_faq_corpus(limit=30, doc_words=40)
    assert first == again and first.size == 30 and first.name == "perl-faq-30"
    assert len(set(first.labels or [])) >= 8
    assert max(len(d.split()) for d in first.documents) <= 40
    with pytest.raises(LensInputError, match="limit must be at least 1"):
        perl_faq_corpus(limit=0)


def test_missing_perl_doc_names_the_package_to_install(tmp_path):
    (tmp_path / "5.36" / "pod").mkdir(parents=True)
    (tmp_path / "5.36" / "pod" / "perldiag.pod").write_text("=head1 NAME\n")  # perl alone ships this much
    with pytest.raises(LensDependencyError, match=r"apt-get install perl-doc"):
        perl_faq_corpus(root=tmp_path)
    with pytest.raises(LensDependencyError, match="apt-get install perl-doc"):
        find_perlfaq(tmp_path / "nowhere")


def test_pod_codes_become_their_text():
    assert pod_to_text("Use C<open()> or B<I<really>> C<< $a <=> $b >> X<sort>here") == \
        "Use open() or really $a <=> $b here"
    assert pod_to_text("E<lt>fooE<gt> C<$x E<gt> 1> E<eacute> E<0x41> E<verbar>") == "<foo> $x > 1 é A |"
    assert pod_to_text('See L<perlfunc/"open">, L<the manual|perlop>, L<Some::Module>, L<http://x.org/y>') == \
        'See "open" in perlfunc, the manual, Some::Module, http://x.org/y'


def test_questions_take_their_paragraphs_items_and_code_but_not_credits_or_begin_blocks():
    pod = ("=head1 DESCRIPTION\n\nIntro, not an answer.\n\n=head2 How do I B<sort>?\n\n(contributed by someone)\n\n"
           "Use C<sort>:\n\n    my @x = sort { $a <=> $b } @y;   # C<not a code>\n\n=over 4\n\n=item *\n\n"
           "Numbers\n\n=item 2. Strings\n\n=item * Bytes\n\n=back\n\n=begin html\n\n<p>skipped</p>\n\n=end html\n\n"
           "=head2 Empty?\n\n=head1 AUTHOR\n\nNobody.\n")
    entries = list(_entries(pod, "perlfaq4"))
    assert [(e.id, e.question) for e in entries] == [("perlfaq4/0", "How do I sort?"), ("perlfaq4/1", "Empty?")]
    assert entries[0].answer == "Use sort: my @x = sort { $a <=> $b } @y; # C<not a code> Numbers Strings Bytes"
    assert entries[1].answer == ""  # read_perl_faq drops such a question


def test_no_training_builder_reads_the_faq_or_the_perl_pages_that_quote_it(tmp_path):
    faq = read_perl_faq()
    real = sorted(p for p in (MAN_DIR / "man1").iterdir() if EVAL_PAGES.match(p.name))
    assert any(p.name.startswith("perlfaq4.1") for p in real) and len(real) > 100  # perl-doc's pages are here
    assert not [p for p in _pages(MAN_DIR) if EVAL_PAGES.match(p.name)]  # and the builder skips every one of them
    # the same pages read without the rule would share text with the FAQ: the rule is what keeps the sets apart
    man1 = tmp_path / "man" / "man1"
    man1.mkdir(parents=True)
    for page in real:
        shutil.copy(page, man1 / page.name.replace("perl", "prl", 1))  # renamed past the rule, same text
    runs = {" ".join(w[i : i + 10]) for e in faq for w in [_WORD.findall(e.answer.lower())] for i in range(len(w) - 9)}
    shared = {p.group for p in manpage_pairs(man1.parent)
              if any(" ".join(w[i : i + 10]) in runs
                     for w in [_WORD.findall(f"{p.query} {p.passage}".lower())] for i in range(len(w) - 9))}
    assert any(g.startswith("prlfaq") for g in shared) and any(not g.startswith("prlfaq") for g in shared)
    (man1 / "ls.1").write_text(".TH LS 1\n.SH NAME\nls \\- list directory contents\n.SH DESCRIPTION\n"
                                               "List information about the FILEs.\n")
    for page in list(man1.iterdir()):
        if page.name != "ls.1":
            page.rename(man1 / page.name.replace("prl", "perl", 1))  # their real names: all skipped
    assert [p.group for p in manpage_pairs(man1.parent)] == ["ls.1"]


def test_two_fixed_halves_one_to_calibrate_on_one_to_report_on():
    """A fusion measured on the calibration half is reported on the other: disjoint, together the whole FAQ, and the
    same questions on every run (a hash of each question's place, not of the run)."""
    from lens_vdb.eval import named_corpus

    whole = perl_faq_corpus()
    calibration, evaluation = perl_faq_corpus(half="calibration"), perl_faq_corpus(half="evaluation")
    assert not set(calibration.queries) & set(evaluation.queries)
    assert sorted(calibration.queries + evaluation.queries) == sorted(whole.queries)
    assert 0.4 < len(calibration.queries) / len(whole.queries) < 0.6
    assert calibration.name == f"perl-faq-calibration-{len(calibration.queries)}"
    assert named_corpus("perl-faq-evaluation").queries == evaluation.queries
    assert named_corpus("perl-faq-calibration", limit=20).queries == perl_faq_corpus(half="calibration", limit=20).queries
    with pytest.raises(LensInputError, match="half must be one of"):
        perl_faq_corpus(half="test")
    with pytest.raises(LensInputError, match="dataset must be one of"):
        named_corpus("perl-faq-train")
